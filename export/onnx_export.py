"""PyTorch -> ONNX through the dynamo exporter, with a dynamic batch axis and self-checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from edgeiqa.runtime.bundle import ATTRIBUTES_NAME, INPUT_NAME, OUTPUT_NAME

EXTERNAL_DATA_BYTES = 1 << 30  # graphs above 1 GiB keep weights in a .onnx.data file beside them


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 18,
                static_batch: int = 0) -> Path | None:
    """Write `path` (and `path.data` for large models). Returns the external data file, if any.

    The dynamo exporter handles every backbone family with a dynamic batch (the TorchScript one
    fails on RoPE attention, DINOv3 and Perception Encoder). static_batch > 0 fixes the batch
    too, for firmware and accelerators without dynamic shapes (Jetson DLA, some camera SoCs).
    """
    import onnx

    module = module.eval()
    if static_batch:
        reps = (static_batch + len(example) - 1) // len(example)
        example = example.repeat(reps, *([1] * (example.dim() - 1)))[:static_batch]
        dynamic = None
    else:
        # torch.export specialises a dimension whose example size is 1 (a one-image check set would
        # fix the batch to 1): the example always carries at least two items.
        if len(example) < 2:
            example = example.repeat(2, *([1] * (example.dim() - 1)))
        dynamic = {"frames": {0: torch.export.Dim("batch", min=1, max=4096)}}
    with torch.no_grad():
        two_outputs = isinstance(module(example[:2]), tuple)
    outputs = [OUTPUT_NAME, ATTRIBUTES_NAME] if two_outputs else [OUTPUT_NAME]
    program = torch.onnx.export(module, (example,), dynamo=True, input_names=[INPUT_NAME],
                                output_names=outputs, dynamic_shapes=dynamic,
                                opset_version=opset, verbose=False)
    n_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    external = n_bytes > EXTERNAL_DATA_BYTES
    program.save(str(path), external_data=external)
    cast_only_input(path)
    data = Path(str(path) + ".data")
    onnx.checker.check_model(str(path) if external else onnx.load(str(path)), full_check=False)
    return data if external and data.exists() else None


def cast_only_input(path: Path) -> int:
    """Make a Cast the only consumer of the graph input; returns how many consumers were moved.

    TensorRT lets a UINT8 network input feed a Cast and nothing else (NVIDIA/TensorRT#3985), but
    the dynamo exporter reads the dynamic batch with a Shape of the raw input. The Cast keeps the
    shape, so every other consumer can read the Cast's output instead. External weights stay put.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    name = graph.input[0].name
    casts = [n for n in graph.node if n.op_type == "Cast" and list(n.input) == [name]]
    if not casts:
        return 0
    from edgeiqa.export.onnx_graph import consumers

    moved = 0
    for node in consumers(graph).get(name, []):
        if node is casts[0]:
            continue
        for i, inp in enumerate(node.input):
            if inp == name:
                node.input[i] = casts[0].output[0]
                moved += 1
    if moved:
        # The Cast reads only the graph input, so it can go first: the graph stays topologically sorted.
        cast = casts[0]
        nodes = [cast] + [n for n in graph.node if n is not cast]
        copies = [onnx.NodeProto() for _ in nodes]
        for dst, src in zip(copies, nodes):
            dst.CopyFrom(src)
        del graph.node[:]
        graph.node.extend(copies)
        onnx.save(model, str(path))
    return moved


def ort_session(path: Path, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, frames: np.ndarray, batch: int = 16, static_batch: int = 0) -> np.ndarray:
    from edgeiqa.runtime.batching import run_fixed_batch

    sess = ort_session(path)
    return run_fixed_batch(lambda f: sess.run([OUTPUT_NAME], {INPUT_NAME: f})[0], frames, static_batch or batch)


def graph_ops(path: Path) -> list[str]:
    import onnx

    return sorted({n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node})
