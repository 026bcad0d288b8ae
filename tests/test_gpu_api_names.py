"""The GPU code cannot run here; check that every TensorRT / CUDA name it uses really exists.

The lean TensorRT runtime (tensorrt-lean-cu13) and cuda-python install without a GPU, so the
attribute names our backend touches are read from its source and looked up on the real modules.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _attrs(path: Path, owners: set[str]) -> set[tuple[str, str]]:
    """(owner, attribute) for every `owner.attr` / `self.owner.attr` in a source file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            base = node.value
            if isinstance(base, ast.Name) and base.id in owners:
                found.add((base.id, node.attr))
            elif isinstance(base, ast.Attribute) and base.attr in owners:
                found.add((base.attr, node.attr))
    return found


def test_tensorrt_backend_names_real_tensorrt_api():
    trt = pytest.importorskip("tensorrt_lean")
    owners = {"trt": trt, "engine": trt.ICudaEngine, "context": trt.IExecutionContext, "runtime": trt.Runtime}
    used = _attrs(ROOT / "runtime/backends/tensorrt_backend.py", set(owners))
    assert ("context", "execute_async_v3") in used and ("engine", "get_tensor_profile_shape") in used
    missing = sorted(f"{o}.{a}" for o, a in used if not hasattr(owners[o], a) and a != "__version__")
    assert not missing, missing
    assert hasattr(trt.Logger, "WARNING") and hasattr(trt.ILogger.Severity, "ERROR")
    # Version-compatible plans (export --trt-version-compatible) embed a lean runtime: host code.
    assert hasattr(trt.Runtime, "engine_host_code_allowed") and hasattr(trt.Runtime, "deserialize_cuda_engine")


def test_cuda_calls_name_real_cuda_runtime_functions():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        cudart = pytest.importorskip("cuda.cudart")
    used = set()
    for f in ("runtime/backends/cuda_utils.py", "runtime/backends/tensorrt_backend.py"):
        used |= {a for _, a in _attrs(ROOT / f, {"cudart"})}
    assert {"cudaMallocHost", "cudaMemcpyAsync", "cudaStreamSynchronize", "cudaGraphLaunch"} <= used
    missing = sorted(a for a in used if not hasattr(cudart, a))
    assert not missing, missing
    assert hasattr(cudart.cudaDeviceAttr, "cudaDevAttrIntegrated")
    assert hasattr(cudart.cudaStreamCaptureMode, "cudaStreamCaptureModeGlobal")


def test_no_cuda_device_is_a_clear_unavailable_error():
    from edgeiqa.runtime.backends.cuda_utils import device_properties
    from edgeiqa.runtime.errors import BackendUnavailableError

    try:
        device_properties(0)
    except (BackendUnavailableError, RuntimeError) as err:
        assert "CUDA" in str(err) or "cuda" in str(err)
    else:
        pytest.skip("a CUDA device is present")
