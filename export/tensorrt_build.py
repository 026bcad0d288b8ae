"""Build a TensorRT engine from a prepared ONNX graph (TensorRT 10 / JetPack 6 and 11).

Written against the documented Python API (shared/TENSORRT.md): networks are strongly typed, so
the engine's precision is the ONNX graph's (an fp16 graph gives fp16 kernels, QDQ gives int8).
Engines are tied to the GPU and the TensorRT version, so both go into the file name and the
manifest, and the runtime refuses a mismatch. Needs a GPU; nothing here runs on a CPU box.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgeiqa.runtime.bundle import INPUT_NAME
from edgeiqa.runtime.cache_root import cache_root
from edgeiqa.runtime.errors import BackendUnavailableError


def tensorrt_available() -> tuple[bool, str]:
    """(usable, reason): the full builder and a CUDA device are both needed."""
    try:
        import tensorrt as trt
    except ImportError as err:
        return False, f"TensorRT is not installed ({err}); install it on the target device: pip install 'edgeiqa[trt]'"
    if not hasattr(trt, "Builder"):
        return False, "only the lean TensorRT runtime is installed: engines must be built with the full package"
    try:
        from edgeiqa.runtime.backends.cuda_utils import device_properties

        device_properties(0)
    except (ImportError, RuntimeError, BackendUnavailableError) as err:
        return False, f"no usable CUDA device ({err})"
    return True, ""


class _CapturingLogger:
    """A trt.ILogger that keeps errors, because parse/build failures are only reported there."""

    def __new__(cls, trt: Any):
        class Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.errors: list[str] = []

            def log(self, severity: Any, msg: str) -> None:
                if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                    self.errors.append(msg)

        return Logger()


def engine_file_name(precision: str, compute_capability: str, trt_version: str) -> str:
    return f"model.{precision}.sm{compute_capability.replace('.', '')}.trt{trt_version}.engine"


def default_timing_cache(trt_version: str, compute_capability: str) -> Path:
    """A timing cache per TensorRT version and GPU in the user's cache folder: it outlives bundles,
    so the second export on a device skips most kernel timing."""
    root = cache_root("tensorrt")
    return root / f"timing.trt{trt_version}.sm{compute_capability.replace('.', '')}.cache"


def build_engine(onnx_path: Path, out_dir: Path, precision: str, item_shape: tuple[int, ...],
                 batch: tuple[int, int, int] = (1, 8, 32), timing_cache: Path | None = None,
                 workspace_bytes: int = 4 << 30, tf32: bool = False,
                 version_compatible: bool = False) -> dict[str, Any]:
    """Returns the manifest entry of the engine written to out_dir.

    Strongly typed where the installed TensorRT has the flag (10.x opt-in, implicit in 11.x): the
    ONNX graph's types decide the kernels. Without it (older 10.x builds), the precision flags.
    fp32 engines do not use TF32 unless `tf32`. `version_compatible` builds a plan that the lean
    runtime (tensorrt_lean) and later TensorRT versions can deserialise, at some speed cost.
    """
    ok, reason = tensorrt_available()
    if not ok:
        raise BackendUnavailableError(reason)
    import tensorrt as trt
    from edgeiqa.runtime.backends.cuda_utils import device_properties

    logger = _CapturingLogger(trt)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] + logger.errors
        raise RuntimeError(f"TensorRT could not parse {onnx_path.name}: " + "; ".join(errors[:5]))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if not strongly_typed:  # weakly typed 10.x: the precision flags allow the lower precisions
        for flag in {"fp16": ("FP16",), "int8": ("INT8", "FP16")}.get(precision, ()):
            if hasattr(trt.BuilderFlag, flag):
                config.set_flag(getattr(trt.BuilderFlag, flag))
    if precision == "fp32" and not tf32 and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default: fp32 means fp32
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    profile = builder.create_optimization_profile()
    def shape(n: int) -> tuple[int, ...]:  # item_shape: the manifest input's, without the batch axis
        return (n, *item_shape)

    lo, opt, hi = batch
    profile.set_shape(INPUT_NAME, shape(lo), shape(opt), shape(hi))
    if config.add_optimization_profile(profile) < 0:
        raise RuntimeError(f"invalid optimisation profile min/opt/max batch {batch}")
    props = device_properties(0)
    cc = f"{props['major']}.{props['minor']}"
    timing_cache = timing_cache or default_timing_cache(trt.__version__, cc)
    cache_bytes = timing_cache.read_bytes() if timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, False)
    t0 = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT engine build failed: " + "; ".join(logger.errors[:5]))
    name = engine_file_name(precision, cc, trt.__version__)
    (out_dir / name).write_bytes(memoryview(plan))
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    timing_cache.write_bytes(memoryview(config.get_timing_cache().serialize()))
    return {"file": name, "format": "tensorrt", "precision": precision, "tensorrt_version": trt.__version__,
            "compute_capability": cc, "device_name": props["name"], "batch": {"min": lo, "opt": opt, "max": hi},
            "source_onnx": onnx_path.name, "build_seconds": round(time.perf_counter() - t0, 1),
            "strongly_typed": strongly_typed, "tf32": bool(tf32 and precision == "fp32"),
            "version_compatible": version_compatible}
