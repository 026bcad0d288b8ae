"""InputSpec: the manifest's `input` block as one value that checks itself."""

from __future__ import annotations

import numpy as np
import pytest
from edgeiqa.runtime.input_spec import InputSpec, InputSpecError
from PIL import Image


def test_manifest_block_round_trips_for_rgb_float_and_yuv():
    for spec in (InputSpec(224, 256),
                 InputSpec(224, 256, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), "squash", "bilinear", float_input=True),
                 InputSpec(512, 512, pixel_format="nv12", frame=(1080, 1920), yuv_matrix="bt709", yuv_range="full",
                           batch=4)):
        assert InputSpec.from_manifest(spec.validate().manifest_block()) == spec


def test_item_shape_is_what_the_graph_takes():
    assert InputSpec(32, 48).item_shape == (32, 48, 3)
    assert InputSpec(32, 48, float_input=True).item_shape == (3, 32, 48)
    assert InputSpec(32, 48, float_input=True).loaded_shape == (32, 48, 3)  # uint8 until normalised
    assert InputSpec(32, 48, pixel_format="i420", frame=(1080, 1920)).item_shape == (1620, 1920)
    assert InputSpec(32, 48, pixel_format="nv12").item_shape == (48, 48)  # no frame: the model's size


@pytest.mark.parametrize("changes,match", [
    (dict(frame=(96, 128)), "needs --input nv12"),
    (dict(pixel_format="nv12", frame=(95, 128)), "even"),
    (dict(pixel_format="nv12", float_input=True), "exclude each other"),
    (dict(pixel_format="yuyv"), "--input must be one of"),
    (dict(pixel_format="nv12", yuv_matrix="bt2020"), "--yuv-matrix"),
])
def test_impossible_inputs_are_refused_with_the_flag_to_change(changes, match):
    with pytest.raises(InputSpecError, match=match):
        InputSpec(32, 32).replace(**changes).validate()


def test_load_gives_one_item_of_the_graph_input(tmp_path):
    photo = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    rgb = InputSpec(32, 32).load(tmp_path / "p.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 32, 3)
    planes = InputSpec(32, 32, pixel_format="nv12", frame=(48, 64)).load(tmp_path / "p.png")
    assert planes.dtype == np.uint8 and planes.shape == (72, 64)


def test_the_default_bundle_reads_as_a_spec():
    from edgeiqa.runtime.bundle import load_bundle

    bundle = load_bundle("default")
    spec = bundle.input_spec
    assert (spec.height, spec.width, spec.pixel_format) == (bundle.height, bundle.width, "rgb")
    assert spec.manifest_block() == bundle.input
