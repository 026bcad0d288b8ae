"""Which int8 CPU graph is exact on this CPU, and which one the runtime picks here.

ONNX Runtime's x86 int8 kernels multiply uint8 activations by int8 weights (U8S8). Without VNNI
(AVX2, or AVX-512 without VNNI) they use VPMADDUBSW, which adds two u8 x s8 products into a
*saturating* int16: 2 x 255 x 127 = 64770 does not fit in 32767, so a bright, consistent input
clips inside the dot product and the score drifts (21 MOS points measured on an AMD EPYC Zen 3;
see ONNX Runtime's quantization docs, "reduce_range" and "U8S8 saturation"). With VNNI
(AVX512-VNNI, AVX-VNNI) or AMX the products accumulate straight into int32, and ARM64 widens
before it adds: no saturation there. So:

- `int8-cpu` (U8S8, 8-bit weights) is exact on `x86-vnni`, `x86-amx` and `arm64`;
- `int8-cpu-avx2` (U8S8 with 7-bit weights, |w| <= 64, so 2 x 255 x 64 = 32640 fits, and the
  pixel-reading stem in float) is exact everywhere, at some weight precision;
- `int8` (S8S8, for TensorRT) is exact everywhere, slow on x86 without VNNI;
- `int8-dynamic` quantises on the fly with the same U8S8 kernels: exact only where int8-cpu is.

The CPU's features come from the CPUID view NumPy reads at import (what this process really
runs on: an emulator or a container sees its own CPU) plus /proc/cpuinfo for the flags NumPy does
not name (avx_vnni, amx_int8); /proc/cpuinfo is trusted only where it agrees with CPUID on every
flag both see. EDGEIQA_CPU_CLASS overrides the class (to reproduce another machine's choice).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CLASSES = ("x86-amx", "x86-vnni", "x86-avx2", "arm64", "other")
SATURATING_CLASSES = frozenset({"x86-avx2"})
# Precisions whose ONNX Runtime CPU kernels saturate on a SATURATING_CLASSES CPU.
SATURATES_WITHOUT_VNNI = frozenset({"int8-cpu", "int8-dynamic"})
# Auto-pick on ONNX Runtime's CPU provider: the fastest graph that is exact on the class first.
# Without VNNI the S8S8 int8 graph runs at about a third of fp32's speed (issue 18: 160 vs 62
# ms/img on a Zen 3), so fp32 comes before it there.
_PREFERENCE = {
    "exact-u8s8": ("int8-cpu", "int8-cpu-avx2", "int8-dynamic", "fp32", "fp16", "int8"),
    "saturating": ("int8-cpu-avx2", "fp32", "fp16", "int8"),
}
# What each class name means, for messages and the manifest.
DESCRIPTIONS = {
    "x86-amx": "x86 with AMX-INT8 (U8S8 exact)",
    "x86-vnni": "x86 with AVX512-VNNI or AVX-VNNI (U8S8 exact)",
    "x86-avx2": "x86 without VNNI (AVX2, or AVX-512 without VNNI): U8S8 saturates in VPMADDUBSW",
    "arm64": "ARM64 (widening int8 dot products, U8S8 exact)",
    "other": "another architecture (U8S8 assumed exact)",
}
# NumPy CPUID name -> /proc/cpuinfo name, for the flags both see (the agreement check).
_SHARED_FLAGS = {"AVX2": "avx2", "AVX512F": "avx512f", "AVX512BW": "avx512bw", "AVX512VNNI": "avx512_vnni"}


@dataclass(frozen=True)
class CpuInfo:
    arch: str
    model: str
    flags: frozenset[str] = field(repr=False)  # /proc/cpuinfo spelling: avx2, avx512_vnni, avx_vnni, amx_int8
    cpu_class: str
    source: str  # how the class was found

    @property
    def saturates_u8s8(self) -> bool:
        return self.cpu_class in SATURATING_CLASSES

    def to_dict(self) -> dict[str, object]:
        keep = sorted(f for f in self.flags if f.startswith(("avx2", "avx512f", "avx512bw", "avx512_vnni",
                                                             "avx_vnni", "amx", "asimddp")))
        return {"class": self.cpu_class, "model": self.model, "arch": self.arch, "int8_flags": keep,
                "source": self.source}


def classify(arch: str, flags: frozenset[str] | set[str]) -> str:
    """The int8 class of a CPU from its architecture and /proc/cpuinfo-style flags."""
    arch = arch.lower()
    if arch in ("aarch64", "arm64"):
        return "arm64"
    if arch not in ("x86_64", "amd64", "i686", "x86"):
        return "other"
    if "amx_int8" in flags:
        return "x86-amx"
    if flags & {"avx512_vnni", "avx_vnni"}:
        return "x86-vnni"
    return "x86-avx2"


def preference(cpu_class: str) -> tuple[str, ...]:
    """Precisions in the order `Scorer.load` tries them on ONNX Runtime's CPU provider."""
    return _PREFERENCE["saturating" if cpu_class in SATURATING_CLASSES else "exact-u8s8"]


def exact_on(precision: str, cpu_class: str) -> bool:
    """Whether ONNX Runtime's CPU kernels compute this precision's graph without saturating."""
    return not (precision in SATURATES_WITHOUT_VNNI and cpu_class in SATURATING_CLASSES)


def _numpy_cpuid() -> dict[str, bool]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features  # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return {}
    return dict(features)


def _proc_cpuinfo() -> tuple[str, frozenset[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown", frozenset()
    model, flags = "unknown", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and model == "unknown":
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
    return model, flags


@lru_cache(maxsize=1)
def detect() -> CpuInfo:
    """This process's CPU, read once."""
    arch = platform.machine() or "unknown"
    model, proc_flags = _proc_cpuinfo()
    cpuid = _numpy_cpuid()
    flags, source = set(proc_flags), "/proc/cpuinfo"
    if cpuid and arch.lower() in ("x86_64", "amd64"):
        disagree = [p for n, p in _SHARED_FLAGS.items() if n in cpuid and bool(cpuid[n]) != (p in proc_flags)]
        if disagree or not proc_flags:
            # /proc/cpuinfo describes another CPU than the one this process runs on (an emulator,
            # some containers): keep CPUID's view; it cannot see avx_vnni / amx, so they are dropped.
            flags = {p for n, p in _SHARED_FLAGS.items() if cpuid.get(n)}
            source = f"CPUID (NumPy); /proc/cpuinfo disagrees on {', '.join(disagree) or 'everything'}"
            model = f"{model} (as seen through CPUID: {', '.join(sorted(flags)) or 'no AVX2'})"
        else:
            source = "/proc/cpuinfo, agreeing with CPUID"
    cpu_class = classify(arch, frozenset(flags))
    forced = os.environ.get("EDGEIQA_CPU_CLASS")
    if forced:
        if forced not in CLASSES:
            raise ValueError(f"EDGEIQA_CPU_CLASS={forced!r} is not one of {', '.join(CLASSES)}")
        cpu_class, source = forced, f"EDGEIQA_CPU_CLASS (detected {cpu_class})"
    return CpuInfo(arch, model, frozenset(flags), cpu_class, source)
