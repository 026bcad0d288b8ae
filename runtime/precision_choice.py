"""Which of a bundle's ONNX graphs ONNX Runtime runs when the caller names no precision.

On the CPU provider: the fastest graph whose kernels are exact on this CPU's class
(runtime/cpu_class.py) - int8-cpu where U8S8 cannot saturate (VNNI, AMX, ARM64), int8-cpu-avx2
or fp32 where it can, never int8-cpu or int8-dynamic there. On a GPU provider (onnxruntime-gpu:
TensorRT or CUDA execution provider): a float or the TensorRT-legal int8 graph, never a U8S8 one.
A graph the bundle marks `"auto_pick": false` (its release measurement found it outside the
accuracy bound, see benchmarks/cpu_classes.py --mark) runs only when asked for by name.
"""

from __future__ import annotations

import warnings

from edgeiqa.runtime import cpu_class
from edgeiqa.runtime.bundle import CPU_ONLY_PRECISIONS, ModelEntry

GPU_PREFERENCE = ("fp16", "fp32", "int8")


def runs_on_gpu(device: str) -> bool:
    """Whether ONNX Runtime would put this session on a GPU provider."""
    if device == "cpu":
        return False
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    from edgeiqa.runtime.backends.onnxruntime_backend import GPU_PROVIDERS

    return any(p in ort.get_available_providers() for p in GPU_PROVIDERS)


def preference(device: str) -> tuple[str, ...]:
    return GPU_PREFERENCE if runs_on_gpu(device) else cpu_class.preference(cpu_class.detect().cpu_class)


def auto_onnx_model(models: list[ModelEntry], device: str) -> list[ModelEntry]:
    """The one graph to run (a list of at most one), or every graph when none is suitable here,
    so the caller's error lists what the bundle has. A bundle whose only CPU graph saturates on
    this CPU still loads it, with a warning that says what to export instead."""
    order = preference(device)
    ranked = sorted((m for m in models if m.precision in order and m.info.get("auto_pick", True)),
                    key=lambda m: order.index(m.precision))
    if ranked:
        return ranked[:1]
    if models and not runs_on_gpu(device):
        warn_if_inexact(models[0].precision, device)
    return models[:1]


def warn_if_inexact(precision: str, device: str) -> None:
    """A graph asked for by name that this CPU computes wrongly runs, but not silently."""
    if runs_on_gpu(device):
        if precision in CPU_ONLY_PRECISIONS:
            warnings.warn(f"{precision} is a CPU graph (uint8 activations); a GPU provider may reject or "
                          "mis-run it: use fp16, fp32 or int8 there", RuntimeWarning, stacklevel=3)
        return
    cpu = cpu_class.detect()
    if not cpu_class.exact_on(precision, cpu.cpu_class):
        warnings.warn(f"{precision} saturates on this CPU ({cpu.model}: {cpu_class.DESCRIPTIONS[cpu.cpu_class]}); "
                      "scores drift by several MOS points. Use int8-cpu-avx2 or fp32 here (re-export with "
                      "--precision fp32,int8-cpu-avx2 if the bundle lacks them)", RuntimeWarning, stacklevel=3)
