"""--colour-stats: the frame's own colour and exposure statistics beside the backbone's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import train_config, write_quality_csv
from edgeiqa.train.colour_stats import NAMES, NUM_FEATURES, ColourStats
from edgeiqa.train.data import camera_faults as cf


def _stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = ColourStats()(torch.from_numpy(frames).float()).numpy()
    assert out.shape == (len(frames), NUM_FEATURES) == (len(frames), len(NAMES))
    return {name: out[:, k] for k, name in enumerate(NAMES)}


def _flat(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (1, 64, 64, 3)).copy()


def test_flat_frames_read_neutral_clipped_or_crushed():
    grey, white, black = (_stats(_flat(c)) for c in ((128, 128, 128), (255, 255, 255), (0, 0, 0)))
    for s in (grey, white):
        assert abs(s["grey_log_r_over_g"][0]) < 1e-4 and abs(s["grey_log_b_over_g"][0]) < 1e-4
        assert s["saturation"][0] < 1e-3 and s["spread_g"][0] < 1e-3
    assert white["clipped_share"][0] == 1.0 and grey["clipped_share"][0] == 0.0
    assert black["crushed_share"][0] == 1.0 and grey["crushed_share"][0] == 0.0
    assert black["mean_log_luminance"][0] < grey["mean_log_luminance"][0] < white["mean_log_luminance"][0]


def test_a_rendered_cast_moves_the_grey_world_balance_by_its_gains(photo_array):
    """camera_faults.white_balance multiplies linear red by 2^(s/2) and blue by 2^(-s/2): the
    grey-world log ratios move by about +-s/2 ln 2 (less where the cast clips a channel)."""
    rng = np.random.default_rng(0)
    cast, _ = cf.white_balance(photo_array, 2, rng)
    stops = cf.WB_CAST_STOPS[1] * (1 if np.log(cast[..., 0].mean() / photo_array[..., 0].mean()) > 0 else -1)
    before, after = _stats(photo_array[None]), _stats(cast[None])
    expected = stops / 2 * np.log(2)
    moved_r = after["grey_log_r_over_g"][0] - before["grey_log_r_over_g"][0]
    moved_b = after["grey_log_b_over_g"][0] - before["grey_log_b_over_g"][0]
    assert np.sign(moved_r) == np.sign(expected) == -np.sign(moved_b)
    assert 0.6 * abs(expected) < abs(moved_r) < 1.2 * abs(expected), (moved_r, expected)
    assert 0.6 * abs(expected) < abs(moved_b) < 1.2 * abs(expected), (moved_b, expected)


def test_exposure_moves_mean_log_luminance_by_the_stops(photo_array):
    dark = cf.expose(photo_array, -1.0)
    before, after = _stats(photo_array[None]), _stats(dark[None])
    moved = after["mean_log_luminance"][0] - before["mean_log_luminance"][0]
    assert -np.log(2) * 1.15 < moved < -np.log(2) * 0.85, moved
    bright = _stats(cf.expose(photo_array, 3.0)[None])
    assert bright["clipped_share"][0] > before["clipped_share"][0] + 0.2


@pytest.fixture(scope="module")
def photo_array() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.coffee()[:256, :256])


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("colour")
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGEIQA_CACHE", str(base / "cache"))
    root = write_quality_csv(base / "data", n=24, size=64)
    from edgeiqa.train.trainer import train

    train(train_config(root, base / "ckpt", backbone="efficientnet-lite0", pretrained="false", regime="frozen",
                       epochs=2, image_size=64, colour_stats=True))
    yield base, root
    mp.undo()


def test_the_cache_keeps_colour_apart_and_equals_the_models_embedding(colour_run):
    from edgeiqa.train.checkpoint import load_checkpoint
    from edgeiqa.train.embed_cache import EmbeddingCache

    base, root = colour_run
    model, _ = load_checkpoint(base / "ckpt")
    assert model.colour is not None and model.head.fc1.in_features == model.backbone.embed_dim + NUM_FEATURES
    paths = sorted((root / "images").glob("*.png"))[:5]
    cache = EmbeddingCache(model, base / "cache" / "embeddings")
    assert len(cache.folders) == 2 and cache.folders[1].name.startswith("colour-")
    assert all(any(f.glob("*.npy")) for f in cache.folders)  # training filled both parts
    cached = cache.get(paths)
    assert cache.misses == 0  # every part came from disk
    frames = torch.from_numpy(np.stack([model.preprocess.load(p) for p in paths]))
    with torch.no_grad():
        direct = model.eval().embed(frames).float()
    np.testing.assert_allclose(cached.numpy(), direct.numpy(), rtol=1e-4, atol=1e-4)
    # Without colour statistics the same backbone folder serves: nothing is embedded again.
    model.colour = None
    plain = EmbeddingCache(model, base / "cache" / "embeddings")
    assert plain.folders == cache.folders[:1]
    np.testing.assert_allclose(plain.get(paths).numpy(), cached.numpy()[:, :-NUM_FEATURES])
    assert plain.misses == 0


def test_the_exported_graph_computes_them_and_int8_cpu_still_folds_its_stem(colour_run):
    import onnx
    import onnxruntime as ort
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import CheckOptions, ExportOptions, GraphOptions
    from edgeiqa.train.checkpoint import load_checkpoint

    base, root = colour_run
    bundle = base / "bundle"
    export_bundle(base / "ckpt", bundle, ExportOptions(graphs=GraphOptions(("fp32", "int8-cpu")),
                                                       checks=CheckOptions(enforce=False)))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["colour_stats"]["features"] == list(NAMES)
    model, cfg = load_checkpoint(base / "ckpt")
    frames = np.stack([model.preprocess.load(p) for p in sorted((root / "images").glob("*.png"))[:6]])
    sess = ort.InferenceSession(str(bundle / "model.fp32.onnx"), providers=["CPUExecutionProvider"])
    (score,) = sess.run(None, {"frames": frames})
    with torch.no_grad():
        t = model.eval()(torch.from_numpy(frames))
    lo, hi = cfg["label_scale"]["lo"], cfg["label_scale"]["hi"]
    np.testing.assert_allclose(score, lo + t.numpy() * (hi - lo), atol=1e-3)
    for precision in ("fp32", "int8-cpu"):
        graph = onnx.load(str(bundle / f"model.{precision}.onnx")).graph
        assert [n.op_type for n in graph.node if "frames" in n.input] == ["Cast"]  # TensorRT's rule, still
    # int8-cpu folded the normalisation into the stem although the colour path multiplies by constants.
    q = onnx.load(str(bundle / "model.int8-cpu.onnx")).graph
    assert any(".folded_bias" in t.name for t in q.initializer)


def test_camera_fronts_feed_them_the_same_pixels(colour_run, tmp_path):
    """A derived ONNX front (it replaces the input's Cast) and the exporter's PyTorch front (the
    colour statistics read the normalised frame un-normalised) score the same planes alike."""
    from edgeiqa.export.derive import derive_bundle
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import CheckOptions, ExportOptions, GraphOptions, InputOptions
    from edgeiqa.runtime import Scorer

    base, _ = colour_run
    rgb = tmp_path / "rgb"
    export_bundle(base / "ckpt", rgb, ExportOptions(graphs=GraphOptions(("fp32",)), checks=CheckOptions(enforce=False)))
    derive_bundle(rgb, tmp_path / "derived", "i420", (48, 64), "bt709", "full")
    export_bundle(base / "ckpt", tmp_path / "exported", ExportOptions(
        graphs=GraphOptions(("fp32",)), input=InputOptions("i420", (48, 64), "bt709", "full"),
        checks=CheckOptions(enforce=False)))
    planes = np.random.default_rng(0).integers(0, 256, (6, 72, 64), dtype=np.uint8)
    with Scorer.load(tmp_path / "derived") as a, Scorer.load(tmp_path / "exported") as b:
        np.testing.assert_allclose(a.score_array(planes), b.score_array(planes), atol=1e-3)


def test_a_mos_head_that_does_not_read_them_ignores_them_and_folds_exactly():
    """--colour-stats-mos false: the colour statistics reach the attributes, never the MOS head,
    and the folded graph computes the same score."""
    from edgeiqa.export.fold import fold_head
    from edgeiqa.train.heads import IQAHead

    torch.manual_seed(0)
    backbone_dim = 12
    head = IQAHead(backbone_dim + NUM_FEATURES, hidden=16, attributes=True, mos_reads=backbone_dim).eval()
    head.set_input_stats(torch.randn(64, backbone_dim + NUM_FEATURES) * 3 + 1)
    x = torch.randn(8, backbone_dim + NUM_FEATURES)
    recoloured = x.clone()
    recoloured[:, backbone_dim:] += torch.randn(8, NUM_FEATURES) * 5
    with torch.no_grad():
        assert torch.equal(head.mos(x), head.mos(recoloured))  # the MOS head never sees the colour part
        _, attrs = head.score_and_attributes(x)
        _, attrs_recoloured = head.score_and_attributes(recoloured)
        assert not torch.allclose(attrs, attrs_recoloured)  # the attributes do
    folded, report = fold_head(head)
    assert report.max_abs_diff_random < 1e-4
    with torch.no_grad():
        np.testing.assert_allclose(folded(recoloured)[0].numpy(), head(recoloured).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="mos_reads"):
        IQAHead(8, hidden=4, mos_reads=9)


def test_a_config_without_the_field_reads_them_in_the_mos_head_as_before():
    from edgeiqa.train.config import TrainConfig

    assert TrainConfig.from_dict({"colour_stats": True}).colour_stats_mos is True
