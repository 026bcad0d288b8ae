"""The committed default bundle: it loads without torch and orders real photos by quality."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

BUNDLE = Path(__file__).resolve().parents[1] / "engines" / "edgeiqa-default"


@pytest.fixture(scope="module")
def scorer():
    from edgeiqa.runtime import Scorer

    if not (BUNDLE / "manifest.json").is_file():
        pytest.fail(f"the default bundle {BUNDLE} is missing")
    with Scorer.load(BUNDLE, backend="onnxruntime") as s:
        yield s


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "astronaut", "rocket"])
def test_default_bundle_orders_a_clean_photo_above_its_blurred_and_noisy_versions(scorer, photo):
    from skimage import data

    clean = Image.fromarray(getattr(data, photo)())
    blurred = clean.filter(ImageFilter.GaussianBlur(3))
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(np.clip(np.asarray(clean) + rng.normal(0, 25, np.asarray(clean).shape), 0, 255)
                            .astype(np.uint8))
    s_clean, s_blur, s_noise = (r.score for r in scorer.score([clean, blurred, noisy]))
    assert s_clean > s_blur and s_clean > s_noise, (s_clean, s_blur, s_noise)


def test_default_bundle_says_what_it_was_trained_on_and_how_it_was_measured(scorer):
    card = scorer.bundle.manifest["trained_on"]
    assert "CLIVE" in card["dataset"] and "University of Texas" in card["licence_notice"]
    cv = card["cross_validation"]
    assert cv["folds"] >= 5 and set(cv["shipped"]) <= set(cv["by_precision"])
    fp32 = cv["by_precision"]["fp32"]
    for precision in cv["shipped"]:
        shipped = cv["by_precision"][precision]
        assert fp32["srcc_median"] - shipped["srcc_median"] <= cv["tolerance_srcc"]
        assert len(shipped["srcc_folds"]) == cv["folds"]
    assert {m["precision"] for m in scorer.bundle.manifest["models"]} == set(cv["shipped"])
    # No SRCC computed on anything but a test split: the final model has none of its own.
    assert all(m.get("srcc_test_sample") is None for m in scorer.bundle.manifest["models"])
    assert scorer.bundle.manifest["input"]["resize"] == "crop"


def _burst(photo: np.ndarray) -> list[Image.Image]:
    """One sharp frame among blurred, noisy and under-exposed versions of the same shot."""
    clean = Image.fromarray(photo)
    rng = np.random.default_rng(1)
    noisy = np.clip(photo + rng.normal(0, 20, photo.shape), 0, 255).astype(np.uint8)
    dark = np.clip(photo.astype(np.float64) * 0.25, 0, 255).astype(np.uint8)
    return [clean.filter(ImageFilter.GaussianBlur(2.5)), Image.fromarray(noisy), clean,
            clean.filter(ImageFilter.GaussianBlur(1.2)), Image.fromarray(dark)]


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "astronaut"])
def test_best_of_a_burst_is_the_sharp_frame(scorer, photo):
    from skimage import data

    burst = _burst(getattr(data, photo)())
    best = scorer.best(burst, k=2)
    assert best[0][0] == 2 and best[0][1] > best[1][1]


def test_select_cli_ranks_a_burst_on_disk(tmp_path):
    import json
    import subprocess
    import sys

    from skimage import data

    for i, frame in enumerate(_burst(data.coffee())):
        frame.save(tmp_path / f"frame{i}.jpg", quality=95)
    (tmp_path / "frame9.jpg").write_bytes(b"truncated")
    res = subprocess.run([sys.executable, "-m", "edgeiqa", "select", "--bundle", str(BUNDLE), "--top", "3", "--json",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    ranked = [json.loads(x) for x in res.stdout.splitlines()]
    assert res.returncode == 2 and "frame9.jpg" in res.stderr  # the unreadable frame is reported, not ranked
    assert [r["rank"] for r in ranked] == [1, 2, 3] and ranked[0]["path"].endswith("frame2.jpg")


def test_default_bundle_reports_attributes_categories_and_percentiles(scorer):
    manifest = scorer.bundle.manifest
    names = manifest["output"]["attributes"]["names"]
    assert any("blur" in n or "sharp" in n for n in names) and "exposure" in names and "broken" in names
    assert manifest["score"]["categories"]["names"] == ["bad", "poor", "fair", "good", "excellent"]
    assert len(manifest["score"]["percentiles"]["values"]) == 101
    (r,) = scorer.score([np.asarray(Image.open(_skimage_photo("coffee")))])
    assert r.category in manifest["score"]["categories"]["names"] and 0 <= r.percentile <= 100
    assert set(r.attributes) == set(names)


def _skimage_photo(name: str) -> Path:
    import tempfile

    import skimage.data

    path = Path(tempfile.mkdtemp()) / f"{name}.png"
    Image.fromarray(np.asarray(getattr(skimage.data, name)())[..., :3]).save(path)
    return path


@pytest.mark.parametrize("kind", [
    "flat", "zero_yuv_green", "sensor_noise", "lens_cap", "torn_readout", "partial_readout",
    # The saturated frame (the astronaut pushed 7 stops) was at the 6.4th percentile before broken got
    # its own dead zone (2026-12-07); now 18.5, at the 3.5th ("bad", reason over-exposure).
    "saturated",
])
def test_broken_frames_score_below_the_5th_percentile_of_rated_photos(scorer, kind):
    """A camera's broken frames (rendered from a photo no training saw) land under the bottom 5%."""
    from edgeiqa.train.data.camera_faults import render

    photo = np.asarray(Image.open(_skimage_photo("astronaut")))
    frame, _ = render(photo, f"broken:{kind}", 0, np.random.default_rng(3))
    (r,) = scorer.score([frame])
    p5 = scorer.bundle.manifest["score"]["percentiles"]["values"][5]
    assert r.score < p5, (kind, r.score, p5)


CPU_GRAPHS = ("int8-cpu", "int8-cpu-avx2", "int8-dynamic", "int8")


def test_every_int8_graph_of_the_default_carries_its_release_measurement():
    """A re-export drops the marks that benchmarks/cpu_classes.py --mark writes; without them a
    VNNI CPU auto-picked int8-cpu and an AVX2 one int8-cpu-avx2, scoring one photo differently."""
    import json

    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    for entry in manifest["models"]:
        if entry["precision"] in CPU_GRAPHS:
            assert isinstance(entry.get("auto_pick"), bool), f"{entry['file']}: not measured (auto_pick missing)"
            assert "rated photos" in entry["auto_pick_note"], entry["auto_pick_note"]


@pytest.mark.parametrize("name", ["x86-amx", "x86-vnni", "x86-avx2", "arm64", "other"])
def test_the_default_runs_a_graph_within_the_bound_on_every_cpu_class(monkeypatch, name):
    from edgeiqa.runtime import cpu_class
    from edgeiqa.runtime.bundle import load_bundle
    from edgeiqa.runtime.precision_choice import auto_onnx_model

    monkeypatch.setenv("EDGEIQA_CPU_CLASS", name)
    cpu_class.detect.cache_clear()
    try:
        (picked,) = auto_onnx_model(load_bundle(BUNDLE).find("onnx"), "cpu")
    finally:
        monkeypatch.delenv("EDGEIQA_CPU_CLASS")
        cpu_class.detect.cache_clear()
    assert picked.precision == "fp32" or picked.info.get("auto_pick") is True, (name, picked.precision)
