"""A Triton Inference Server model repository for a bundle's ONNX model (the path past one box)."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgeiqa.runtime.bundle import ATTRIBUTES_NAME, INPUT_NAME, OUTPUT_NAME


def triton_config(name: str, item_shape: tuple[int, ...], max_batch: int = 32, float_input: bool = False,
                  platform: str = "onnxruntime_onnx", n_attributes: int = 0) -> str:
    """config.pbtxt; item_shape is one input item without the batch axis (edgeiqa.runtime.bundle.item_shape).

    n_attributes > 0: the graph's second output, `attributes` [N, K], is served as well."""
    dims = "[ " + ", ".join(map(str, item_shape)) + " ]"
    dtype = "TYPE_FP32" if float_input else "TYPE_UINT8"
    preferred = sorted({b for b in (4, 8, 16, max_batch) if b <= max_batch})
    # The score is one number per image: Triton wants dims [1] with the batch axis implicit and a
    # reshape to the scalar the graph really emits.
    return (f'name: "{name}"\nplatform: "{platform}"\nmax_batch_size: {max_batch}\n'
            f'input [\n  {{\n    name: "{INPUT_NAME}"\n    data_type: {dtype}\n    dims: {dims}\n  }}\n]\n'
            f'output [\n  {{\n    name: "{OUTPUT_NAME}"\n    data_type: TYPE_FP32\n    dims: [ 1 ]\n'
            f'    reshape: {{ shape: [ ] }}\n  }}'
            + (f',\n  {{\n    name: "{ATTRIBUTES_NAME}"\n    data_type: TYPE_FP32\n    dims: [ {n_attributes} ]\n  }}'
               if n_attributes else '') + '\n]\n'
            f'dynamic_batching {{\n  preferred_batch_size: [ {", ".join(map(str, preferred))} ]\n'
            f'  max_queue_delay_microseconds: 500\n}}\n'
            f'instance_group [\n  {{\n    count: 1\n    kind: KIND_AUTO\n  }}\n]\n')


def write_triton_repository(repo: Path, name: str, onnx_file: Path, item_shape: tuple[int, ...],
                            max_batch: int = 32, float_input: bool = False, n_attributes: int = 0) -> Path:
    model_dir = repo / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    shutil.copy2(onnx_file, model_dir / "1" / "model.onnx")
    data = Path(str(onnx_file) + ".data")
    if data.exists():
        shutil.copy2(data, model_dir / "1" / data.name)
    (model_dir / "config.pbtxt").write_text(triton_config(name, item_shape, max_batch, float_input,
                                                                  n_attributes=n_attributes))
    return model_dir
