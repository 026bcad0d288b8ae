"""`edgeiqa derive`: a camera variant of a bundle, no checkpoint, no torch.

The integrator's path end to end on this CPU: default bundle -> derive an NV12 1080p bundle (torch
never imported) -> verify with ONNX Runtime -> real photos converted to NV12 score within 2% of
the MOS range of their RGB scores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clive-train" / "images"


def _photos() -> list[np.ndarray]:
    """Real photos: CLIVE's when ../shared has them, else scikit-image's."""
    if CLIVE.is_dir():
        return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(CLIVE.iterdir())[:12]]
    import skimage.data

    return [np.asarray(getattr(skimage.data, n)())[..., :3] for n in ("astronaut", "coffee", "chelsea", "rocket")]


@pytest.fixture(scope="module")
def nv12_1080p(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("derived") / "nv12-1080p"
    code = ("import sys\nfrom edgeiqa.cli import main\n"
            f"rc = main(['derive', 'default', '--out', {str(out)!r}, '--input', 'nv12', '--frame', '1920x1080'])\n"
            "assert 'torch' not in sys.modules, 'derive imported torch'\nraise SystemExit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "within" in done.stdout
    return out


def test_integrator_path_default_to_nv12_1080p_verified(nv12_1080p):
    from edgeiqa.cli import main

    manifest = json.loads((nv12_1080p / "manifest.json").read_text())
    inp = manifest["input"]
    assert (inp["pixel_format"], inp["frame_width"], inp["frame_height"]) == ("nv12", 1920, 1080)
    # the gate: the front end against the runtime's own conversion of the same planes - float noise only
    # (a graph that skipped the RGB path's rounding was 2.8% away on a dark reference picture)
    assert manifest["derived_from"]["check"]["max_abs_fraction_of_range"] <= 0.005
    loss = manifest["derived_from"]["yuv420"]  # what 4:2:0 itself costs: measured and recorded
    assert loss["n"] == 8 and 0.0 < loss["mean_abs_fraction_of_range"] <= loss["max_abs_fraction_of_range"]
    assert manifest["reference"]["shape"] == [8, 1620, 1920]
    assert main(["verify", str(nv12_1080p), "--backend", "onnxruntime"]) == 0


def test_real_photos_in_nv12_score_within_two_percent_of_their_rgb_scores(nv12_1080p):
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.preprocess import load_frame
    from edgeiqa.runtime.yuv import rgb_to_yuv420

    frames = [load_frame(p, 1080, 1920, "crop", "bicubic") for p in _photos()]  # what the camera delivers
    with Scorer.load("default", backend="onnxruntime", precision="fp32") as rgb:
        rgb_scores = np.array([r.score for r in rgb.score(frames)])
        scale = rgb.bundle.manifest["score"]["scale"]
    with Scorer.load(nv12_1080p, backend="onnxruntime", precision="fp32") as cam:
        planes = np.stack([rgb_to_yuv420(f, "nv12", "bt601", "limited") for f in frames])
        nv12_scores = cam.score_array(planes)
    span = scale["hi"] - scale["lo"]
    assert np.abs(nv12_scores - rgb_scores).max() <= 0.02 * span


def test_derived_front_end_matches_the_exporters_own_yuv_graph(trained, bundle, tmp_path):
    """The ONNX-authored front end and the PyTorch one (export --input i420) score the same planes alike."""
    from edgeiqa.export.derive import derive_bundle
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions, InputOptions
    from edgeiqa.runtime import Scorer

    derived = tmp_path / "derived"
    derive_bundle(bundle, derived, "i420", (48, 64), "bt709", "full")
    exported = tmp_path / "exported"
    export_bundle(trained[1], exported, ExportOptions(input=InputOptions("i420", (48, 64), "bt709", "full")))
    planes = np.random.default_rng(0).integers(0, 256, (6, 72, 64), dtype=np.uint8)
    with Scorer.load(derived, precision="fp32") as a, Scorer.load(exported, precision="fp32") as b:
        np.testing.assert_allclose(a.score_array(planes), b.score_array(planes), atol=1e-3)


def test_static_batch_rgb_variant(bundle, tmp_path):
    from edgeiqa.export.derive import derive_bundle
    from edgeiqa.runtime import Scorer

    out = tmp_path / "b1"
    manifest = derive_bundle(bundle, out, "rgb", static_batch=1)
    assert manifest["input"]["batch"] == 1
    with Scorer.load(out, precision="fp32") as fixed, Scorer.load(bundle, precision="fp32") as dynamic:
        frames = np.random.default_rng(1).integers(0, 256, (3, *fixed.item_shape), dtype=np.uint8)
        np.testing.assert_allclose(fixed.score_array(frames), dynamic.score_array(frames), atol=1e-4)


@pytest.mark.parametrize("argv, message", [
    (["--input", "nv12"], "needs --frame"),
    (["--input", "nv12", "--frame", "1919x1080"], "even"),
    (["--input", "rgb"], "--static-batch"),
    (["--input", "rgb", "--frame", "64x48", "--static-batch", "1"], "needs --input nv12"),
])
def test_bad_requests_are_refused_with_the_reason(bundle, tmp_path, capsys, argv, message):
    from edgeiqa.cli import main

    assert main(["derive", str(bundle), "--out", str(tmp_path / "x"), *argv]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_derive_refuses_a_yuv_bundle_and_an_existing_folder(bundle, tmp_path, capsys):
    from edgeiqa.cli import main

    first = tmp_path / "cam"
    assert main(["derive", str(bundle), "--out", str(first), "--input", "nv12", "--frame", "64x48"]) == 0
    assert main(["derive", str(bundle), "--out", str(first), "--input", "nv12", "--frame", "64x48"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["derive", str(first), "--out", str(tmp_path / "again"), "--input", "i420", "--frame", "64x48"]) == 1
    assert "RGB bundle" in capsys.readouterr().err


def test_bench_times_a_camera_bundle(bundle, tmp_path):
    """bench feeds a camera bundle its own YUV planes (it built RGB frames before)."""
    from edgeiqa.export.derive import derive_bundle
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.bench import BenchConfig, bench_scorer

    out = tmp_path / "cam"
    derive_bundle(bundle, out, "nv12", (48, 64))
    with Scorer.load(out, precision="fp32") as scorer:
        rows = bench_scorer(scorer, BenchConfig(batches=(1, 2), warmup=1, iters=2, min_seconds=0.0,
                                                end_to_end=False), [])
    assert [r.batch for r in rows] == [1, 2] and all(r.error is None and r.throughput > 0 for r in rows)
