"""int8 on every CPU class: the class a CPU falls in, the graph the runtime picks there, the export
check that does not blame a graph for the CPU it was measured on, and - where qemu-user is
installed - the same bundle scored on an emulated AMD EPYC Zen 3 (AVX2, no VNNI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from edgeiqa.runtime import cpu_class

ZEN3 = "EPYC-Milan"  # qemu's AMD EPYC Zen 3 model: AVX2, no AVX-512, no VNNI


@pytest.fixture
def as_cpu(monkeypatch):
    """Run a block as if on a CPU of the given class (EDGEIQA_CPU_CLASS), detection re-read."""
    def use(name: str) -> None:
        monkeypatch.setenv("EDGEIQA_CPU_CLASS", name)
        cpu_class.detect.cache_clear()

    yield use
    cpu_class.detect.cache_clear()


@pytest.mark.parametrize("arch, flags, expected", [
    ("x86_64", {"avx2", "fma"}, "x86-avx2"),  # Haswell .. Zen 3
    ("x86_64", {"avx2", "avx512f", "avx512bw"}, "x86-avx2"),  # Skylake-SP: AVX-512 without VNNI saturates too
    ("x86_64", {"avx2", "avx512f", "avx512_vnni"}, "x86-vnni"),  # Cascade Lake, Ice Lake, Zen 4
    ("x86_64", {"avx2", "avx_vnni"}, "x86-vnni"),  # Alder Lake: VEX-encoded VNNI, no AVX-512
    ("x86_64", {"avx2", "avx512_vnni", "amx_int8", "amx_tile"}, "x86-amx"),  # Sapphire Rapids
    ("aarch64", {"asimd", "asimddp"}, "arm64"),  # Jetson Orin
    ("aarch64", {"asimd"}, "arm64"),
    ("riscv64", set(), "other"),
])
def test_classify(arch, flags, expected):
    assert cpu_class.classify(arch, frozenset(flags)) == expected


def test_no_saturating_graph_is_ever_preferred_without_vnni():
    for name in cpu_class.CLASSES:
        order = cpu_class.preference(name)
        assert all(cpu_class.exact_on(p, name) for p in order), name
    assert cpu_class.preference("x86-avx2")[0] == "int8-cpu-avx2"
    assert cpu_class.preference("x86-vnni")[0] == cpu_class.preference("arm64")[0] == "int8-cpu"
    assert not cpu_class.exact_on("int8-cpu", "x86-avx2") and cpu_class.exact_on("int8-cpu", "x86-amx")


def test_detect_reads_this_machine_and_honours_the_override(as_cpu):
    real = cpu_class.detect()
    assert real.cpu_class in cpu_class.CLASSES and real.model
    assert set(real.to_dict()) >= {"class", "model", "arch", "int8_flags", "source"}
    as_cpu("x86-avx2")
    forced = cpu_class.detect()
    assert forced.cpu_class == "x86-avx2" and "EDGEIQA_CPU_CLASS" in forced.source
    as_cpu("pentium")
    with pytest.raises(ValueError, match="EDGEIQA_CPU_CLASS"):
        cpu_class.detect()


@pytest.mark.parametrize("name, picked", [("x86-avx2", "int8-cpu-avx2"), ("x86-vnni", "int8-cpu"),
                                          ("x86-amx", "int8-cpu"), ("arm64", "int8-cpu")])
def test_scorer_picks_the_graph_exact_on_the_cpu_class(bundle, as_cpu, name, picked):
    from edgeiqa.runtime import Scorer

    as_cpu(name)
    with Scorer.load(bundle) as scorer:
        assert scorer.backend.precision == picked


def test_a_saturating_graph_asked_for_by_name_warns(bundle, as_cpu):
    from edgeiqa.runtime import Scorer

    as_cpu("x86-avx2")
    with pytest.warns(RuntimeWarning, match="saturates on this CPU"):
        Scorer.load(bundle, precision="int8-cpu").close()
    as_cpu("x86-vnni")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Scorer.load(bundle, precision="int8-cpu").close()


def test_without_a_cpu_int8_graph_a_saturating_cpu_gets_fp32_not_int8_cpu(bundle, tmp_path, as_cpu):
    from edgeiqa.runtime import Scorer

    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    m["models"] = [e for e in m["models"] if e["precision"] in ("fp32", "int8-cpu", "int8")]
    (b / "manifest.json").write_text(json.dumps(m))
    as_cpu("x86-avx2")
    with Scorer.load(b) as scorer:
        assert scorer.backend.precision == "fp32"


def test_export_check_does_not_blame_a_graph_for_a_saturating_cpu():
    from edgeiqa.export.checks import violations

    big = {"max_abs": 21.5, "mean_abs": 9.0}
    saturated = {"file": "model.int8-cpu.onnx", "precision": "int8-cpu", "error_vs_fp32": big,
                 "checked_on": [{"class": "x86-avx2", "exact_kernels": False}]}
    exact = {**saturated, "checked_on": [{"class": "x86-amx", "exact_kernels": True}]}
    assert violations([saturated], {}, 100.0) == []
    assert len(violations([exact], {}, 100.0)) == 1


def test_every_exported_graph_records_the_cpu_it_was_checked_on(bundle):
    m = json.loads((bundle / "manifest.json").read_text())
    here = cpu_class.detect()
    for entry in m["models"]:
        if entry["precision"] == "fp32":
            continue
        (check,) = entry["checked_on"]
        assert check["class"] == here.cpu_class and check["model"] == here.model
        assert check["exact_kernels"] == cpu_class.exact_on(entry["precision"], here.cpu_class)
        assert check["error_vs_fp32"] == entry["error_vs_fp32"]


# -- the AVX2 class for real, emulated --------------------------------------------------------------
_EMULATED = """
import json, sys
import numpy as np, onnxruntime as ort
from edgeiqa.runtime import cpu_class
frames = np.load(sys.argv[1])
out = {"class": cpu_class.detect().cpu_class}
for name in sys.argv[2:]:
    s = ort.InferenceSession(name, providers=["CPUExecutionProvider"])
    out[name] = s.run(["score"], {"frames": frames})[0].tolist()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_on_an_emulated_zen3_int8_cpu_avx2_scores_as_on_this_cpu(bundle, tmp_path):
    """qemu-user's EPYC-Milan model runs ONNX Runtime's AVX2 kernels (CPUID says no VNNI) whatever
    this host has: detection must say x86-avx2 there, and int8-cpu-avx2 must give there the scores
    it gives here (integer arithmetic without saturation is the same on every class)."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None or cpu_class.detect().arch != "x86_64":
        pytest.skip("qemu-user (qemu-x86_64) is not installed: apt-get install qemu-user")
    rng = np.random.default_rng(0)
    frames = np.concatenate([np.full((1, 32, 32, 3), 255, np.uint8),
                             rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)])
    np.save(tmp_path / "frames.npy", frames)
    graphs = [str(bundle / f"model.{p}.onnx") for p in ("fp32", "int8-cpu-avx2")]
    cmd = [sys.executable, "-c", _EMULATED, str(tmp_path / "frames.npy"), *graphs]
    native = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    done = subprocess.run([qemu, "-cpu", ZEN3, *cmd], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    emulated = json.loads(done.stdout.strip().splitlines()[-1])
    assert emulated["class"] == "x86-avx2"
    for g in graphs:
        assert np.allclose(emulated[g], native[g], atol=1e-3), (g, emulated[g], native[g])
