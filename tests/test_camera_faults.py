"""The camera faults obey the physics they claim, on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgeiqa.train.data import camera_faults as cf
from PIL import Image

CLIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clive-train" / "images"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo: a CLIVE one when ../shared has it, else scikit-image's astronaut."""
    if (CLIVE / "1001.JPG").is_file():
        return np.asarray(Image.open(CLIVE / "1001.JPG").convert("RGB").resize((256, 256)))
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((256, 256)))


def test_srgb_round_trip_is_exact_on_every_code():
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(cf.linear_to_srgb(cf.srgb_to_linear(codes)), codes)


@pytest.mark.parametrize("stops", [-2.0, -1.0, 1.0])
def test_exposure_scales_linear_luminance_by_two_to_the_stops_until_it_clips(photo, stops):
    lin = cf.srgb_to_linear(photo)
    out = cf.srgb_to_linear(cf.expose(photo, stops))
    unclipped = (lin * 2.0 ** stops).max(axis=-1) < 0.98  # no channel clips
    unclipped &= lin.min(axis=-1) > 0.02  # away from the 8-bit floor, where quantisation dominates
    ratio = cf.luminance(out)[unclipped] / cf.luminance(lin)[unclipped]
    assert unclipped.sum() > 1000
    assert np.median(ratio) == pytest.approx(2.0 ** stops, rel=0.02)
    if stops > 0:  # and what would exceed full scale clips
        over = (lin * 2.0 ** stops).min(axis=-1) > 1.0
        assert np.all(out[over] == 1.0)


def test_over_exposure_blows_out_more_with_each_level(photo):
    rng = np.random.default_rng(0)
    clipped = [(cf.render(photo, "over_exposure", lv, rng)[0] == 255).mean() for lv in cf.LEVELS]
    assert clipped == sorted(clipped) and clipped[-1] > clipped[0] + 0.1


def test_sensor_noise_variance_follows_shot_plus_read_noise():
    rng = np.random.default_rng(1)
    stops = 5.0
    gain = 2.0 ** stops
    for level in (0.02, 0.1, 0.5):
        lin = np.full((400, 400), level)
        out = cf.sensor_capture(lin, stops, rng)
        expected = level * gain / cf.FULL_WELL_E + (cf.READ_NOISE_E * gain / cf.FULL_WELL_E) ** 2
        assert out.mean() == pytest.approx(level, rel=0.02)
        assert out.var() == pytest.approx(expected, rel=0.05)


def test_low_light_gets_noisier_with_each_level(photo):
    rng = np.random.default_rng(2)
    lin = cf.srgb_to_linear(photo)
    err = [np.abs(cf.srgb_to_linear(cf.render(photo, "low_light", lv, rng)[0]) - lin).mean() for lv in cf.LEVELS]
    assert err == sorted(err)


@pytest.mark.parametrize("radius", [0.5, 2.0, 6.3])
def test_disk_kernel_sums_to_one_and_is_round(radius):
    k = cf.disk_kernel(radius)
    assert k.sum() == pytest.approx(1.0)
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1])


def test_motion_kernel_sums_to_one_and_spans_its_length():
    rng = np.random.default_rng(3)
    for length in (3.0, 12.0, 30.0):
        k = cf.motion_kernel(length, rng)
        assert k.sum() == pytest.approx(1.0) and (k >= 0).all()
        ys, xs = np.nonzero(k > 1e-6)
        extent = np.hypot(ys.max() - ys.min(), xs.max() - xs.min())
        assert 0.5 * length <= extent <= length + 3


def test_blur_keeps_mean_linear_light_and_loses_detail(photo):
    rng = np.random.default_rng(4)
    lin = cf.srgb_to_linear(photo)
    prev = np.inf
    for lv in cf.LEVELS:
        out, labels = cf.render(photo, "defocus", lv, rng)
        out_lin = cf.srgb_to_linear(out)
        assert out_lin.mean() == pytest.approx(lin.mean(), rel=0.02)
        detail = np.abs(np.diff(out_lin, axis=1)).mean()
        assert detail < prev
        prev = detail
        assert labels.blur == lv / 4


def test_every_fault_is_deterministic_per_seed_and_labelled(photo):
    for kind in cf.FAULTS:
        a, la = cf.render(photo, kind, 3, np.random.default_rng(7))
        b, lb = cf.render(photo, kind, 3, np.random.default_rng(7))
        assert np.array_equal(a, b) and la == lb and a.shape == photo.shape and a.dtype == np.uint8
    for name in cf.BROKEN:
        frame, labels = cf.render(photo, f"broken:{name}", 1, np.random.default_rng(7))
        assert labels.broken == 1.0 and frame.shape == photo.shape


def test_zero_yuv_decodes_to_green():
    r, g, b = (int(v) for v in cf.zero_yuv_rgb())
    assert g > 100 and r == 0 and b == 0


def test_bad_requests_say_what_is_known(photo):
    with pytest.raises(ValueError, match="known"):
        cf.render(photo, "fog", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="level"):
        cf.render(photo, "defocus", 9, np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8"):
        cf.render(photo.astype(np.float32), "defocus", 1, np.random.default_rng(0))


def test_white_balance_casts_push_each_photo_further_from_neutral(photo, tmp_path):
    """Rendered to disk as training and evaluation do: the four levels of one photo move its
    red/blue balance one way, further with each level, and away from neutral - a warm photo
    warmer, a cool one cooler - so no copy corrects the photo it came from."""
    from edgeiqa.train.data.fault_copies import render_copies

    balanced = photo * (np.array([1.0, 1.0, 2.0 ** cf.colour_lean(photo) ]) ** (1 / 2.2))
    photos = []
    for k, tint in enumerate([(1.25, 1.0, 0.8), (0.8, 1.0, 1.25)] + [(1.0, 1.0, 1.0)] * 4):
        path = tmp_path / f"photo{k}.png"
        Image.fromarray(np.clip(np.roll(balanced, 40 * k, axis=1) * tint, 0, 255).astype(np.uint8)).save(path)
        photos.append(path)
    plan = [(i, "white_balance", lv) for i in range(len(photos)) for lv in cf.LEVELS]
    copies = render_copies(photos, plan, tmp_path / "renders", seed=3, workers=1)

    def lean(path: Path) -> float:
        return cf.colour_lean(np.asarray(Image.open(path).convert("RGB")))

    directions = []
    for i, path in enumerate(photos):
        shifts = [lean(c.path) - lean(path) for c in copies if c.source == i]
        assert len(shifts) == len(cf.LEVELS)
        assert np.all(np.diff(np.abs(shifts)) > 0), shifts  # further with each level
        assert len({np.sign(s) for s in shifts}) == 1, shifts  # and always the same way
        if abs(lean(path)) >= cf.NEUTRAL_LEAN_STOPS:
            assert np.sign(shifts[0]) == np.sign(lean(path)), (lean(path), shifts)  # away from neutral
        directions.append(np.sign(shifts[0]))
    assert directions[:2] == [1.0, -1.0]


def test_defective_pixels_stick_their_share_of_photosites_dark_or_hot(photo):
    for lv in cf.LEVELS:
        out, labels = cf.render(photo, "defective_pixels", lv, np.random.default_rng(lv))
        changed = out != photo
        share = cf.DEFECTIVE_SHARE[lv - 1]
        # a stuck site equal to what the photo already had there does not show: at most the share
        assert changed.mean() == pytest.approx(share, rel=0.25)
        assert set(np.unique(out[changed])) <= {0, 255}
        assert labels.noise == lv / 4


def test_bit_depth_keeps_two_to_the_bits_levels_per_channel(photo):
    for lv in cf.LEVELS:
        out, labels = cf.render(photo, "bit_depth", lv, np.random.default_rng(0))
        bits = cf.BIT_DEPTH[lv - 1]
        assert all(len(np.unique(out[..., c])) <= 2 ** bits for c in range(3))
        assert np.abs(out.astype(int) - photo).max() <= 255 / (2 ** bits - 1) / 2 + 0.5
        assert out.min() == 0 or photo.min() > 255 / (2 ** bits - 1) / 2  # black stays black
        assert labels.compression == lv / 4


def test_binning_conserves_light_per_block_and_repeats_it(photo):
    lin = cf.srgb_to_linear(photo)
    for lv in cf.LEVELS:
        out, labels = cf.render(photo, "binning", lv, np.random.default_rng(0))
        f = cf.BINNING[lv - 1]
        block_in = lin[:f, :f].mean(axis=(0, 1))
        block = cf.srgb_to_linear(out[:f, :f])
        assert (block == block[0, 0]).all()  # one value per block
        # charge binning keeps the block's light (to the 8-bit rounding of sRGB)
        assert block[0, 0] == pytest.approx(block_in, abs=0.01)
        assert labels.blur == lv / 4


def test_fault_kinds_choose_what_training_renders(tmp_path):
    from edgeiqa.train.data.fault_copies import fault_kind_names, plan_copies

    assert fault_kind_names("") == tuple(cf.FAULTS)
    assert fault_kind_names("defocus, binning") == ("defocus", "binning")
    with pytest.raises(ValueError, match="known"):
        fault_kind_names("defocus,fog")
    photos = [tmp_path / f"{i}.jpg" for i in range(20)]
    plan = plan_copies(photos, 1, 0.0, 8, fault_kind_names("defocus,binning"))
    assert {kind for _, kind, _ in plan} <= {"defocus", "binning"} and len(plan) == 40


def test_exposure_faults_never_move_a_photo_back_towards_a_normal_exposure(photo, tmp_path):
    """A night shot brightened is corrected, not faulted: it gets no over-exposure copies (and a
    blown-out photo no under-exposure ones), in training plans and in evaluation alike."""
    from edgeiqa.train.data.fault_copies import photo_stats_of, plan_copies
    from edgeiqa.train.fault_eval import eval_copies

    lin = cf.srgb_to_linear(photo)
    lin = lin * 0.18 / cf.luminance(lin).mean()  # the photo exposed for mid-grey
    normal, dark, bright = (cf.linear_to_srgb(lin * gain) for gain in (1.0, 0.1, 30.0))  # 3.3 stops down, 4.9 up
    paths = []
    for name, img in (("normal", normal), ("dark", dark), ("bright", bright)):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(img).save(paths[-1])
    stats = photo_stats_of(paths, tmp_path / "renders")
    lum = [s.luminance for s in stats]
    assert lum[1] < cf.OVER_EXPOSURE_MIN_LUMINANCE <= lum[0] <= cf.UNDER_EXPOSURE_MAX_LUMINANCE < lum[2]
    assert photo_stats_of(paths, tmp_path / "renders") == stats  # kept, not recomputed differently
    plan = plan_copies(paths * 1, len(cf.FAULTS), 0.0, 8, stats=stats)
    kinds = {i: {k for j, k, _ in plan if j == i} for i in range(3)}
    assert kinds[0] == set(cf.FAULTS)
    assert kinds[1] == set(cf.FAULTS) - {"over_exposure"} and kinds[2] == set(cf.FAULTS) - {"under_exposure"}
    copies = eval_copies(paths[1:2], tmp_path, seed=8, broken_each=0)
    assert {c.kind for c in copies} == set(cf.FAULTS) - {"over_exposure"}


@pytest.mark.parametrize("kind", ["oversaturation", "desaturation"])
def test_saturation_faults_scale_chroma_and_keep_luminance(photo, kind):
    """Each pixel moves along the line through its own grey: luminance stays (where nothing clips),
    the distance from grey is multiplied by the level's factor."""
    lin = cf.srgb_to_linear(photo)
    grey = cf.luminance(lin)[..., None]
    factors = cf.SATURATION_GAIN if kind == "oversaturation" else cf.SATURATION_KEPT
    for lv in cf.LEVELS:
        out, labels = cf.render(photo, kind, lv, np.random.default_rng(0))
        target = grey + factors[lv - 1] * (lin - grey)
        inside = (target.min(axis=-1) > 0.02) & (target.max(axis=-1) < 0.98)  # in gamut, off the 8-bit floor
        inside &= np.abs(lin - grey).max(axis=-1) > 0.02  # a colour to scale
        assert inside.sum() > 500
        got = cf.srgb_to_linear(out)[inside]
        assert cf.luminance(got) == pytest.approx(cf.luminance(lin[inside]), abs=0.01)
        assert np.median(np.abs(got - grey[inside]).sum(-1) / np.abs(lin - grey)[inside].sum(-1)) == pytest.approx(
            factors[lv - 1], rel=0.05)
        assert labels.colour_cast == lv / 4 and labels.exposure == 0


def test_saturation_faults_skip_a_grey_photo(photo, tmp_path):
    """A black-and-white photo has no colour to push or wash out: its copies would equal it, and no
    label may call an identical copy worse."""
    from edgeiqa.train.data.fault_copies import photo_stats_of, plan_copies

    grey = np.repeat(photo.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    paths = [tmp_path / "colour.png", tmp_path / "grey.png"]
    Image.fromarray(photo).save(paths[0])
    Image.fromarray(grey).save(paths[1])
    stats = photo_stats_of(paths, tmp_path / "renders")
    assert stats[1].chroma == 0 < cf.MIN_CHROMA <= stats[0].chroma
    assert np.array_equal(cf.render(grey, "desaturation", 4, np.random.default_rng(0))[0], grey)
    plan = plan_copies(paths, len(cf.FAULTS), 0.0, 8, stats=stats)
    assert {k for i, k, _ in plan if i == 1} == set(cf.FAULTS) - {"oversaturation", "desaturation"}


def test_the_release_recipe_names_kinds_that_exist():
    """The recipe lists its kinds, so a kind added here changes no release by itself; a renamed kind
    must fail here, not halfway through a release run."""
    import importlib.util

    from edgeiqa.train.data.fault_copies import fault_kind_names

    path = Path(__file__).resolve().parents[1] / "release" / "default_model_recipe.py"
    spec = importlib.util.spec_from_file_location("default_model_recipe", path)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    names = fault_kind_names(recipe.RECIPE["fault_kinds"])
    assert len(names) == len(set(names)) >= recipe.RECIPE["camera_faults"]


def test_fault_report_names_the_broken_frames_a_camera_would_pass():
    from pathlib import Path

    from edgeiqa.train.data.camera_faults import FaultLabels
    from edgeiqa.train.data.fault_copies import FaultCopy
    from edgeiqa.train.fault_eval import fault_report

    def copy(kind, level=0):
        return FaultCopy(Path(f"/x/{kind}-{level}.png"), 0, kind, level, FaultLabels())

    from edgeiqa.train.data.camera_faults import FAULTS

    copies = [copy(k, lv) for k in FAULTS for lv in (1, 2, 3, 4)]
    scores = [60.0, 50.0, 40.0, 30.0] * len(FAULTS)
    copies += [copy("broken:flat"), copy("broken:lens_cap"), copy("broken:saturated")]
    scores = np.array(scores + [-50.0, 35.0, 10.0])
    rated = np.linspace(20, 80, 101)  # p5 = 23
    report = fault_report(np.array([70.0]), None, copies, scores, None, np.array([70.0]), rated)
    assert report["broken"]["above_p5"] == ["lens_cap"]
    assert report["broken"]["below_p5"] == 2 / 3
    assert report["kinds"]["defocus"]["mean_spearman"] == 1.0
