"""The PyTorch eager model behind the runtime's Backend interface: `predict` runs through it, and
`edgeiqa bench --baseline torch` finds it through the `edgeiqa.baselines` entry point, so the
runtime never imports the train stage by name."""

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
        if precision not in ("fp32", "fp32-cl", "bf16", "fp16"):
            raise ValueError(f"eager precision must be fp32, fp32-cl (channels_last), bf16 or fp16, got {precision}")
        if precision == "fp16" and not device.startswith("cuda"):
            raise ValueError("fp16 autocast needs a CUDA device")
        self.model, self.config = load_checkpoint(checkpoint, device)
        self.model.eval()
        if precision != "fp32":  # fp32 stays NCHW: the plain eager baseline every ratio is quoted against
            # channels_last: the uint8 NHWC input already has that layout, and CPU depthwise convs
            # run about 1.5x faster in it than in NCHW.
            self.model = self.model.to(memory_format=torch.channels_last)
        self.scale = LabelScale.from_dict(self.config["label_scale"])
        self.precision, self.device = precision, device
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.memory_format = "NCHW" if precision == "fp32" else "channels_last"

    def run(self, inputs: np.ndarray) -> np.ndarray:
        return self.run_with_attributes(inputs)[0]

    @torch.inference_mode()
    def run_with_attributes(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = self.model.normalize(torch.from_numpy(inputs).to(self.device))  # NHWC uint8 -> NCHW view
        # The permuted view is channels_last in memory: make the layout the one this row names.
        x = x.contiguous(memory_format=torch.contiguous_format if self.memory_format == "NCHW"
                         else torch.channels_last)
        device_type = self.device.split(":")[0]
        with torch.autocast(device_type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            emb = self.model.backbone(x).float()
            if self.model.head.attributes is not None:
                t, attrs = self.model.head.score_and_attributes(emb)
            else:
                t, attrs = self.model.head(emb), None
        t = t.float()
        mos = (t * (self.scale.hi - self.scale.lo) + self.scale.lo).cpu().numpy()
        return mos, (attrs.float().cpu().numpy() if attrs is not None else None)

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "precision": self.precision, "torch": torch.__version__,
                "memory_format": self.memory_format,
                "threads": torch.get_num_threads(), "device": self.device}
