import pytest
import timm
import torch
from edgeiqa.train.backbones import BACKBONES, create_backbone, resolve_spec
from edgeiqa.train.registry import UnknownNameError

PAPER_ALIASES = ["siglip2-so400m-512", "siglip2-b16-224", "clip-b16", "dinov2-s14", "dinov3-b16",
                 "pe-core-s16-384", "resnet50"]


@pytest.mark.parametrize("alias", PAPER_ALIASES)
def test_paper_aliases_name_real_timm_models(alias):
    spec = resolve_spec(alias)
    assert timm.is_model(spec.timm_name.split(".")[0])
    assert spec.timm_name in timm.list_pretrained(spec.timm_name)  # the tag (weights) exists too


@pytest.mark.parametrize("alias", ["tiny-vit", "tiny-resnet", "resnet18"])
def test_backbone_returns_pooled_embeddings_and_its_preprocessing(alias):
    bb = create_backbone(alias, image_size=32)
    x = torch.randn(2, 3, 32, 32)
    out = bb(x)
    assert out.shape == (2, bb.embed_dim)
    assert (bb.preprocess.height, bb.preprocess.width) == (32, 32)
    assert len(bb.preprocess.mean) == 3 and all(s > 0 for s in bb.preprocess.std)


def test_dinov2_small_config_at_a_small_size_runs():
    bb = create_backbone("dinov2-s14", image_size=28, depth=1)
    assert bb(torch.randn(1, 3, 28, 28)).shape == (1, 384)
    assert bb.preprocess.mean == pytest.approx((0.485, 0.456, 0.406))


def test_unknown_backbone_suggests_a_close_alias():
    with pytest.raises(UnknownNameError, match="did you mean 'resnet50'"):
        resolve_spec("resnet5O")
    assert "siglip2-b16-224" in BACKBONES.list("siglip2-*")


def test_local_pretrained_weights_load_offline(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = create_backbone("tiny-resnet")
    save_file(src.model.state_dict(), str(tmp_path / "w.safetensors"))
    loaded = create_backbone("tiny-resnet", pretrained=str(tmp_path / "w.safetensors"))
    for k, v in src.model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k])
    with pytest.raises(FileNotFoundError):
        create_backbone("tiny-resnet", pretrained=str(tmp_path / "missing.safetensors"))


@pytest.mark.parametrize("kind", ["clip", "siglip", "dinov2"])
def test_transformers_vision_towers_through_the_same_interface(tmp_path, kind):
    import transformers as tf

    cfg = {"clip": tf.CLIPVisionConfig, "siglip": tf.SiglipVisionConfig, "dinov2": tf.Dinov2Config}[kind](
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
        patch_size=8)
    model = {"clip": tf.CLIPVisionModel, "siglip": tf.SiglipVisionModel, "dinov2": tf.Dinov2Model}[kind](cfg)
    model.save_pretrained(tmp_path / kind)
    bb = create_backbone(f"hf:{tmp_path / kind}", pretrained=True)
    assert bb(torch.randn(2, 3, 32, 32)).shape == (2, 32)
    assert (bb.preprocess.height, bb.preprocess.width) == (32, 32)
    # The weights are the saved ones, not a fresh init.
    sd = model.state_dict()
    k = next(k for k in sd if k.endswith("weight"))
    assert torch.equal(sd[k], bb.model.state_dict()[k])
