"""The PyTorch eager model behind the runtime's Backend interface: the baseline of every bench."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from edgeiqa.train.checkpoint import load_checkpoint
from edgeiqa.train.data.records import LabelScale


class TorchEagerBackend:
    name = "torch-eager"

    def __init__(self, checkpoint: str | Path, precision: str = "fp32", device: str = "cpu") -> None:
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"eager precision must be fp32, bf16 or fp16, got {precision}")
        if precision == "fp16" and not device.startswith("cuda"):
            raise ValueError("fp16 autocast needs a CUDA device")
        self.model, cfg = load_checkpoint(checkpoint, device)
        self.scale = LabelScale.from_dict(cfg["label_scale"])
        self.precision, self.device = precision, device
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    @torch.inference_mode()
    def run(self, inputs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(inputs).to(self.device)
        device_type = self.device.split(":")[0]
        with torch.autocast(device_type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            t = self.model(x).float()
        return (t * (self.scale.hi - self.scale.lo) + self.scale.lo).cpu().numpy()

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "precision": self.precision, "torch": torch.__version__,
                "threads": torch.get_num_threads(), "device": self.device}
