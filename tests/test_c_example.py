"""The C reference consumer (examples/c) built here against the ONNX Runtime C API: its header
matches the manifest, its scores equal the Scorer's on the bundle's reference frames (RGB and
NV12), it refuses wrong input with a clear message, and it leaks nothing under valgrind."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from edgeiqa.runtime import Scorer
from edgeiqa.runtime.bundle import attribute_names, load_bundle
from edgeiqa.runtime.input_spec import InputSpec
from edgeiqa.runtime.reference import load_reference

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "engines" / "edgeiqa-default"


def _defines(header: Path) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) (.+)$", header.read_text(), re.M))


def build(bundle: Path, out: Path) -> Path:
    """make -C examples/c for this bundle; skips the test where the build skips (no cc, no npm)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-s", "-C", str(ROOT / "examples" / "c"), f"BUNDLE={bundle}",
                           f"PYTHON={sys.executable}", f"OUT={out}"], capture_output=True, text=True, timeout=900)
    if done.stdout.startswith("skip:") or "skip:" in done.stderr:
        pytest.skip((done.stdout + done.stderr).strip())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def run_c(exe: Path, *args: str, valgrind: bool = False) -> subprocess.CompletedProcess:
    cmd = [str(exe), *args]
    if valgrind:
        cmd = ["valgrind", f"--suppressions={ROOT / 'examples' / 'c' / 'valgrind.supp'}", "--leak-check=full",
               "--errors-for-leak-kinds=definite", "--error-exitcode=9", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def c_scores(stdout: str) -> np.ndarray:
    return np.array([float(line.split("\t")[1]) for line in stdout.splitlines()])


@pytest.fixture(scope="module")
def nv12_bundle(trained, tmp_path_factory) -> Path:
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions, GraphOptions, InputOptions

    out = tmp_path_factory.mktemp("nv12") / "b"
    export_bundle(trained[1], out, ExportOptions(graphs=GraphOptions(("fp32", "int8-cpu-avx2")),
                                                 input=InputOptions("nv12", (48, 64))))
    return out


def test_the_header_is_the_manifest(bundle, nv12_bundle):
    for b in (bundle, nv12_bundle, DEFAULT):
        m = load_bundle(b).manifest
        d = _defines(b / "edgeiqa_bundle.h")
        assert "edgeiqa_bundle.h" in m["files"]
        shape = InputSpec.from_manifest(m["input"]).item_shape
        assert [int(d[f"EDGEIQA_ITEM_DIM{i}"]) for i in range(len(shape))] == list(shape)
        assert int(d["EDGEIQA_ITEM_BYTES"]) == int(np.prod(shape)) and d["EDGEIQA_INPUT_NAME"] == '"frames"'
        assert d["EDGEIQA_PIXEL_FORMAT"] == f'"{m["input"]["pixel_format"]}"'
        assert float(d["EDGEIQA_SCORE_LO"].rstrip("f")) == pytest.approx(m["score"]["scale"]["lo"], abs=1e-5)
        files = re.findall(r'"([^"]+)"', d["EDGEIQA_MODEL_FILES"])
        assert files == [e["file"] for e in m["models"] if e["format"] == "onnx"]
        assert int(d["EDGEIQA_REFERENCE_COUNT"]) == m["reference"]["count"]
        # the attribute columns the graph outputs, in order (the default has six)
        names = attribute_names(m)
        assert int(d["EDGEIQA_N_ATTRIBUTES"]) == len(names)
        if names:
            assert re.findall(r'"([^"]+)"', d["EDGEIQA_ATTRIBUTE_NAMES"]) == names
            assert m["output"]["attributes"]["shape"][-1] == len(names)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["rgb", "nv12", "default"])
def test_c_scores_equal_the_scorers_on_the_reference_frames(which, bundle, nv12_bundle, tmp_path):
    b = {"rgb": bundle, "nv12": nv12_bundle, "default": DEFAULT}[which]
    if not (b / "edgeiqa_bundle.h").is_file():
        pytest.skip(f"{b} has no edgeiqa_bundle.h")
    exe = build(b, tmp_path / "edgeiqa_score")
    ref = load_reference(load_bundle(b))
    for entry in load_bundle(b).find("onnx"):
        if entry.precision in ("int8-cpu", "int8-dynamic") and which != "default":
            continue
        done = run_c(exe, "-t", "1", "-p", entry.precision, str(b), str(b / "reference.frames.u8"))
        assert done.returncode == 0, done.stderr
        with Scorer.load(b, backend="onnxruntime", device="cpu", precision=entry.precision, threads=1) as scorer:
            want = scorer.score_array(ref.frames)
        np.testing.assert_allclose(c_scores(done.stdout), want, rtol=1e-5, atol=1e-5, err_msg=entry.file)
        names = attribute_names(load_bundle(b).manifest)
        if names:  # every frame's attributes, by name, as the Scorer reads them
            with Scorer.load(b, backend="onnxruntime", device="cpu", precision=entry.precision, threads=1) as s:
                _, attrs = s.score_array_with_attributes(ref.frames)
            got = [dict(kv.split("=") for kv in line.split("\t")[2:]) for line in done.stdout.splitlines()]
            assert [list(g) for g in got] == [names] * len(got)
            np.testing.assert_allclose([[float(g[n]) for n in names] for g in got], attrs, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_c_refuses_bad_input_and_leaks_nothing(bundle, nv12_bundle, tmp_path):
    exe = build(bundle, tmp_path / "edgeiqa_score")
    frames = bundle / "reference.frames.u8"
    (tmp_path / "short.u8").write_bytes(frames.read_bytes()[:-7])
    done = run_c(exe, str(bundle), str(tmp_path / "short.u8"))
    assert done.returncode == 2 and "is not a whole number of rgb frames" in done.stderr
    done = run_c(exe, str(bundle), str(tmp_path / "missing.u8"))
    assert done.returncode == 2 and "No such file" in done.stderr
    done = run_c(exe, "-p", "fp16-nope", str(bundle), str(frames))
    assert done.returncode == 2 and "no fp16-nope graph" in done.stderr
    # A program built for the RGB bundle, handed the NV12 bundle's graph (same file names): refused.
    done = run_c(exe, "-p", "fp32", str(nv12_bundle), str(frames))
    assert done.returncode == 2 and "belongs to another bundle" in done.stderr
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed: the leak check did not run")
    done = run_c(exe, "-t", "1", "-p", "fp32", str(bundle), str(frames), valgrind=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ERROR SUMMARY: 0 errors" in done.stderr  # definite leaks count as errors (--errors-for-leak-kinds)
    assert "definitely lost: 0 bytes" in done.stderr or "no leaks are possible" in done.stderr
    assert len(done.stdout.splitlines()) == 8


def test_the_firmware_guide_quotes_the_program():
    """The firmware guide's C calls are the program's own lines, not a paraphrase."""
    readme = (ROOT / "docs" / "camera.md").read_text()
    block = readme.split("The calls, as the program makes them")[1].split("```c\n")[1].split("```")[0]
    source = " ".join((ROOT / "examples" / "c" / "edgeiqa_score.c").read_text().split())
    for line in block.strip().splitlines():
        start = " ".join(line.split("/*")[0].split(",")[0].split()).rstrip(";")  # up to the first argument
        assert start in source, start
