"""`edgeiqa quantize`: int8 / fp16 graphs made from a bundle's fp32 graph, measured, never auto-picked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from edgeiqa.export.bundle_quantize import QuantizeError, quantize_bundle
from edgeiqa.runtime.bundle import load_bundle
from PIL import Image

from edgeiqa.cli import main

CLIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clive-train" / "images"
DEFAULT = Path(__file__).resolve().parents[1] / "engines" / "edgeiqa-default"


@pytest.fixture(scope="module")
def camera_photos(tmp_path_factory) -> Path:
    """Real photos: 20 CLIVE ones when ../shared has them, else scikit-image's colour photos and
    their mirror images."""
    folder = tmp_path_factory.mktemp("calib")
    if CLIVE.is_dir():
        for src in sorted(CLIVE.glob("*.[jJ][pP][gG]"))[:20]:
            shutil.copy(src, folder / src.name)
        return folder
    import skimage.data

    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
                 "retina", "colorwheel", "cat", "coffee"):
        img = np.asarray(getattr(skimage.data, name)())[..., :3]
        Image.fromarray(img).save(folder / f"{name}.png")
        Image.fromarray(img[:, ::-1]).save(folder / f"{name}-mirror.png")
    return folder


def _int8_for_this_cpu() -> str:
    """The CPU int8 flavour a user of this machine would make: int8-cpu's u8 x s8 products saturate
    on x86 without VNNI (runtime/cpu_class.py), where int8-cpu-avx2 is the exact one. Measured on
    an AVX2-only EPYC with scikit-image's photos as calibration, mean |score - fp32| in MOS points:
    int8-cpu 4.6 for the default (5.2 for a re-trained candidate, past this test's bound, which is
    meant for a graph whose kernels are exact), int8-cpu-avx2 2.3."""
    from edgeiqa.runtime.cpu_class import detect, exact_on

    return "int8-cpu" if exact_on("int8-cpu", detect().cpu_class) else "int8-cpu-avx2"


def test_quantize_adds_a_measured_graph_that_runs_only_when_named(camera_photos, tmp_path):
    from edgeiqa.runtime.scorer import Scorer

    precision = _int8_for_this_cpu()
    out = tmp_path / f"default-{precision}"
    rc = main(["quantize", "default", "--out", str(out), "--precision", precision,
               "--calib", str(camera_photos), "--calib-count", "12", "--check-count", "8"])
    assert rc == 0
    bundle = load_bundle(out)  # every file's sha256 checks
    (entry,) = bundle.find("onnx", precision)
    info = entry.info
    assert info["auto_pick"] is False and f"--precision {precision}" in info["auto_pick_note"]
    assert info["made_by"]["calibration_images"] == 12
    assert info["error_vs_fp32"]["mean_abs"] < 5.0  # MOS points; the release measured 1.3 on 872 photos
    # the source's graphs and reference frames came along unchanged
    for name in ("model.fp32.onnx", "reference.frames.u8"):
        assert (out / name).read_bytes() == (DEFAULT / name).read_bytes()
    reference = json.loads((out / "reference.json").read_text())
    assert len(reference["scores"][precision]) == reference["count"]
    with Scorer.load(out) as scorer:
        assert scorer.describe()["precision"] == "fp32"  # though this CPU class would prefer the int8 graph
    photo = np.asarray(Image.open(next(iter(sorted(camera_photos.iterdir())))).convert("RGB"))
    with Scorer.load(out, precision=precision) as q, Scorer.load(out, precision="fp32") as f:
        (a,), (b,) = q.score([photo]), f.score([photo])
    assert abs(a.score - b.score) < 10.0
    assert main(["verify", str(out)]) == 0


def test_quantize_refuses_what_it_cannot_make(bundle, tmp_path, camera_photos):
    calib = str(camera_photos)
    with pytest.raises(QuantizeError, match="unknown precision"):
        quantize_bundle(bundle, tmp_path / "a", ("int4",), calib)
    with pytest.raises(QuantizeError, match="new folder"):
        quantize_bundle(bundle, bundle, ("int8-cpu",), calib)
    (tmp_path / "exists").mkdir()
    with pytest.raises(QuantizeError, match="--force"):
        quantize_bundle(bundle, tmp_path / "exists", ("int8-cpu",), calib)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(QuantizeError, match="no images"):
        quantize_bundle(bundle, tmp_path / "b", ("int8-cpu",), empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(QuantizeError, match="could be read"):
        quantize_bundle(bundle, tmp_path / "c", ("int8-cpu",), broken)
    few = tmp_path / "few"
    few.mkdir()
    for src in sorted(camera_photos.iterdir())[:3]:
        shutil.copy(src, few / src.name)
    with pytest.raises(QuantizeError, match="at least 8"):
        quantize_bundle(bundle, tmp_path / "d", ("int8-cpu",), few)
    assert not any((tmp_path / x).exists() for x in "abcd")  # nothing half-written


def test_quantize_refuses_a_camera_bundle(tmp_path, camera_photos):
    from edgeiqa.export.derive import derive_bundle

    nv12 = tmp_path / "nv12"
    derive_bundle(DEFAULT, nv12, "nv12", (360, 640))
    assert main(["quantize", str(nv12), "--out", str(tmp_path / "q"), "--precision", "int8",
                 "--calib", str(camera_photos)]) == 1
    with pytest.raises(QuantizeError, match="derive"):
        quantize_bundle(nv12, tmp_path / "q", ("int8",), camera_photos)
