"""PyTorch -> ONNX through the dynamo exporter, with a dynamic batch axis and self-checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from edgeiqa.runtime.bundle import INPUT_NAME, OUTPUT_NAME

EXTERNAL_DATA_BYTES = 1 << 30  # graphs above 1 GiB keep weights in a .onnx.data file beside them


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 18) -> Path | None:
    """Write `path` (and `path.data` for large models). Returns the external data file, if any.

    The dynamo exporter handles every backbone family with a dynamic batch (the TorchScript one
    fails on RoPE attention, DINOv3 and Perception Encoder).
    """
    import onnx

    module = module.eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(module, (example,), dynamo=True, input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME], dynamic_shapes={"frames": {0: batch}},
                                opset_version=opset, verbose=False)
    n_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    external = n_bytes > EXTERNAL_DATA_BYTES
    program.save(str(path), external_data=external)
    data = Path(str(path) + ".data")
    onnx.checker.check_model(str(path) if external else onnx.load(str(path)), full_check=False)
    return data if external and data.exists() else None


def ort_session(path: Path, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, frames: np.ndarray, batch: int = 16) -> np.ndarray:
    sess = ort_session(path)
    return np.concatenate([sess.run([OUTPUT_NAME], {INPUT_NAME: frames[i:i + batch]})[0]
                           for i in range(0, len(frames), batch)])


def graph_ops(path: Path) -> list[str]:
    import onnx

    return sorted({n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node})
