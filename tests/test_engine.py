"""`edgeiqa engine`: what runs on a CPU (profiles, the fp16 graph, refusals), and the GPU path (-m gpu)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

DEFAULT = Path(__file__).resolve().parents[1] / "engines" / "edgeiqa-default"


def test_default_profile_fits_the_frame():
    from edgeiqa.export.engine import default_profile

    assert default_profile({"pixel_format": "rgb", "batch": "dynamic"}) == (1, 8, 32)
    nv12 = {"pixel_format": "nv12", "batch": "dynamic", "frame_height": 1080, "frame_width": 1920}
    assert default_profile(nv12) == (1, 1, 8)  # 8 x 1920 x 1080 x 3 floats = 199 MB <= 256 MB
    assert default_profile({**nv12, "frame_height": 2160, "frame_width": 3840}) == (1, 1, 2)
    assert default_profile({**nv12, "batch": 1}) == (1, 1, 1)


def test_fp16_graph_is_made_from_fp32_and_hashed_in(bundle, tmp_path):
    from edgeiqa.export.engine import add_fp16_graph
    from edgeiqa.runtime.bundle import load_bundle
    from edgeiqa.runtime.verify import verify_bundle

    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    (copy / "model.fp16.onnx").unlink()
    m = json.loads((copy / "manifest.json").read_text())
    m["models"] = [e for e in m["models"] if e["precision"] != "fp16"]
    m["files"].pop("model.fp16.onnx")
    (copy / "manifest.json").write_text(json.dumps(m))
    add_fp16_graph(load_bundle(copy))
    load_bundle(copy)  # every sha256 checks
    rows, _ = verify_bundle(copy, backend="onnxruntime", precisions=["fp16"])
    assert [r.status for r in rows] == ["pass"]


@pytest.mark.parametrize("argv, code, message", [
    (["--precision", "int8-cpu"], 1, "never for TensorRT"),
    (["--batch", "8,1,32"], 2, "MIN <= OPT <= MAX"),
])
def test_bad_requests_are_refused_before_anything_is_built(argv, code, message, capsys, tmp_path):
    from edgeiqa.cli import main

    copy = tmp_path / "b"
    shutil.copytree(DEFAULT, copy)
    if code == 2:
        with pytest.raises(SystemExit):
            main(["engine", str(copy), *argv])
    else:
        assert main(["engine", str(copy), *argv]) == code
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in DEFAULT.iterdir())


def test_without_tensorrt_engine_says_what_to_install(capsys, tmp_path):
    from edgeiqa.export.tensorrt_build import tensorrt_available

    from edgeiqa.cli import main

    if tensorrt_available()[0]:
        pytest.skip("TensorRT and a GPU are here: the gpu test builds for real")
    copy = tmp_path / "b"
    shutil.copytree(DEFAULT, copy)
    assert main(["engine", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "TensorRT" in err and ("edgeiqa[trt]" in err or "CUDA" in err or "lean" in err)


@pytest.mark.gpu
def test_engines_are_built_verified_and_hashed_into_a_copy_of_the_default(tmp_path):
    from edgeiqa.export.engine import build_engines
    from edgeiqa.export.tensorrt_build import tensorrt_available
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.bundle import load_bundle

    ok, reason = tensorrt_available()
    if not ok:
        pytest.skip(reason)
    copy = tmp_path / "b"
    shutil.copytree(DEFAULT, copy)
    outcomes = build_engines(copy, ("fp16", "int8"), (1, 4, 8))
    assert all(o.accepted for o in outcomes), [o.detail for o in outcomes]
    bundle = load_bundle(copy)
    assert {e.precision for e in bundle.find("tensorrt")} == {"fp16", "int8"}
    with Scorer.load(copy, backend="tensorrt", precision="fp16") as s:
        frames = np.random.default_rng(0).integers(0, 256, (3, *s.item_shape), dtype=np.uint8)
        assert s.score_array(frames).shape == (3,)


def test_a_cuda_python_newer_than_the_driver_gets_a_clear_message():
    from edgeiqa.runtime.backends.cuda_utils import driver_mismatch

    message = driver_mismatch(12060, 13)  # JetPack 6's CUDA 12.6 driver, cuda-python 13
    assert "CUDA 12.6" in message and "edgeiqa[trt]" in message
    assert driver_mismatch(12060, 12) is None and driver_mismatch(13000, 13) is None
    assert driver_mismatch(12060, None) is None


def test_trt_extras_pin_pairs_that_work():
    import tomllib

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any("cuda-python>=12.6,<13" in d for d in extras["trt"])
    assert any(d.startswith("tensorrt-cu12") and "<" in d for d in extras["trt"])
    assert any("cuda-python>=13,<14" in d for d in extras["trt-cu13"])
