"""Reference frames travel with every bundle; `edgeiqa verify` scores them on this machine."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from edgeiqa.runtime import cpu_class
from edgeiqa.runtime.bundle import load_bundle
from edgeiqa.runtime.reference import load_reference


def test_reference_frames_are_raw_graph_inputs_with_every_graphs_scores(bundle):
    b = load_bundle(bundle)
    ref = load_reference(b)
    assert ref.frames.dtype == np.uint8 and ref.frames.shape == (8, b.height, b.width, 3)
    assert (bundle / "reference.frames.u8").stat().st_size == ref.frames.size
    assert {"reference.frames.u8", "reference.json"} <= set(b.manifest["files"])  # hashed like the models
    assert set(ref.scores) == {m.precision for m in b.find("onnx")}
    from edgeiqa.runtime import Scorer

    with Scorer.load(bundle, precision="fp32") as scorer:  # the recorded fp32 scores are the graph's own
        assert scorer.score_array(ref.frames) == pytest.approx(ref.scores["fp32"], abs=1e-3)
    assert len(set(ref.names)) == 8 and "coffee-blur" in ref.names


def test_verify_passes_on_this_machine(bundle, capsys):
    from edgeiqa.cli import main

    assert main(["verify", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "model.fp32.onnx" in out and "8 reference frames" in out and cpu_class.detect().cpu_class in out


def test_verify_fails_past_tolerance_and_names_the_graph(bundle, monkeypatch):
    from edgeiqa.runtime import tolerances, verify

    monkeypatch.setitem(tolerances.TOLERANCES, "int8", (0.0, 0.0))  # no int8 graph is that exact
    rows, _ = verify.verify_bundle(bundle)
    bad = [r for r in rows if r.status == "FAIL"]
    assert [r.precision for r in bad] == ["int8"] and verify.exit_code(rows) == 1


def test_a_saturating_graph_fails_only_when_asked_for(bundle, monkeypatch):
    from edgeiqa.runtime import tolerances, verify

    monkeypatch.setenv("EDGEIQA_CPU_CLASS", "x86-avx2")
    cpu_class.detect.cache_clear()
    try:
        monkeypatch.setitem(tolerances.TOLERANCES, "int8-cpu", (0.0, 0.0))  # as if it saturated here
        rows, cpu = verify.verify_bundle(bundle)
        row = next(r for r in rows if r.precision == "int8-cpu")
        assert cpu["class"] == "x86-avx2" and not row.exact_kernels and row.status == "saturates here"
        assert verify.exit_code(rows) == 0  # never auto-picked here: reported, not fatal
        rows, _ = verify.verify_bundle(bundle, precisions=["int8-cpu"])
        assert verify.exit_code(rows) == 1
    finally:
        cpu_class.detect.cache_clear()


def test_verify_records_the_cpu_in_the_manifest(bundle, tmp_path):
    from edgeiqa.cli import main

    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    assert main(["verify", str(b), "--precision", "fp32,int8", "--record", "--emulated", "none"]) == 0
    m = json.loads((b / "manifest.json").read_text())
    int8 = next(e for e in m["models"] if e["precision"] == "int8")
    last = int8["checked_on"][-1]
    assert last["frames"] == "reference" and last["status"] == "pass" and last["emulated"] == "none"
    assert load_bundle(b).manifest["models"]  # the hashes still hold: the manifest is not a hashed file


def test_a_bundle_without_reference_frames_gets_them_added(bundle, tmp_path, capsys):
    from edgeiqa.export.reference_frames import add_reference

    from edgeiqa.cli import main

    b = tmp_path / "old"
    shutil.copytree(bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    del m["reference"]
    for name in ("reference.frames.u8", "reference.json"):
        del m["files"][name]
        (b / name).unlink()
    (b / "manifest.json").write_text(json.dumps(m))
    assert main(["verify", str(b)]) == 2
    assert "no reference frames" in capsys.readouterr().err
    block = add_reference(str(b))
    assert block["count"] == 8
    assert main(["verify", str(b)]) == 0


def test_a_truncated_reference_file_is_refused(bundle, tmp_path):
    from edgeiqa.runtime.errors import BundleError

    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    data = (b / "reference.frames.u8").read_bytes()
    (b / "reference.frames.u8").write_bytes(data[:-10])
    with pytest.raises(BundleError, match="holds .* bytes"):
        load_reference(load_bundle(b, verify=False))
