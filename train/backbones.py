"""Backbones: timm models (and Hugging Face vision towers) behind one interface.

A backbone maps a normalised float NCHW batch to pooled embeddings [N, D] and carries its own
preprocessing (mean, std, resolution, interpolation): that config feeds training, export and the
bundle manifest, so there is one source of truth for how pixels enter the model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from edgeiqa.train.registry import Registry, UnknownNameError
from edgeiqa.train.stage_pooling import POOLS, StageStatsPool
from edgeiqa.train.weight_packages import WEIGHT_PACKAGES, load_package_weights
from torch import nn

CNN_FAMILIES = ("resnet", "efficientnet-lite")  # any input size; img_size is not an argument


@dataclass(frozen=True)
class BackboneSpec:
    """What an alias stands for: a timm model name and the kwargs of its architecture."""

    timm_name: str
    family: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    image_size: int | None = None  # the IQA input size when it differs from the weights' own
    resize: str = "squash"  # how a photo becomes that input (edgeiqa.runtime.preprocess)
    pool: str = "last"  # what `--pool auto` means for this backbone (edgeiqa.train.stage_pooling)


BACKBONES: Registry[BackboneSpec] = Registry("backbone")
# The paper's six families (DESIGN.md), by short alias.
for _alias, _spec in {
    "siglip2-so400m-512": BackboneSpec("vit_so400m_patch16_siglip_512.v2_webli", "siglip2"),
    "siglip2-b16-224": BackboneSpec("vit_base_patch16_siglip_224.v2_webli", "siglip2"),
    "clip-b16": BackboneSpec("vit_base_patch16_clip_224.openai", "clip"),
    "dinov2-s14": BackboneSpec("vit_small_patch14_dinov2.lvd142m", "dinov2"),
    "dinov3-b16": BackboneSpec("vit_base_patch16_dinov3.lvd1689m", "dinov3"),
    "pe-core-s16-384": BackboneSpec("vit_pe_core_small_patch16_384.fb", "pe"),
    "resnet50": BackboneSpec("resnet50.a1_in1k", "resnet"),
    # Tiny configs of the real code paths, for tests and the offline demo.
    "tiny-vit": BackboneSpec("vit_tiny_patch16_224", "vit",
                             dict(depth=2, embed_dim=64, num_heads=2, patch_size=8, img_size=32)),
    "tiny-resnet": BackboneSpec("resnet18", "resnet", dict(layers=[1, 1, 1, 1])),
    # Edge backbones with ImageNet weights from pip packages (edgeiqa.train.weight_packages). At
    # 512 px, aspect kept by a centre crop, with multi-stage statistics: CLIVE's photos are 500 px
    # and shrinking them to 224 erases what the raters saw (README, "The default model").
    **{f"efficientnet-lite{i}": BackboneSpec(f"tf_efficientnet_lite{i}", "efficientnet-lite",
                                             image_size=512, resize="crop", pool="stats") for i in range(3)},
}.items():
    BACKBONES.add(_alias, _spec)


@dataclass
class PreprocessConfig:
    """How a frame becomes the model input; written verbatim into checkpoints and manifests."""

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    resize: str = "squash"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load(self, item: Any) -> Any:
        """Image -> uint8 HxWx3 model input, through the runtime's one preprocessing function."""
        from edgeiqa.runtime.preprocess import load_frame

        return load_frame(item, self.height, self.width, self.resize, self.interpolation)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        return cls(**{**d, "mean": tuple(d["mean"]), "std": tuple(d["std"])})


class Backbone(nn.Module):
    """A feature extractor returning pooled embeddings, plus what it needs to know about pixels."""

    def __init__(self, model: nn.Module, embed_dim: int, preprocess: PreprocessConfig, name: str,
                 kind: str, pool: str = "last", weights_sha256: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.embed_dim = embed_dim
        self.preprocess = preprocess
        self.name = name
        self.kind = kind  # "timm" or "hf"
        self.pool = pool  # "last" or "stats"
        self.weights_sha256 = weights_sha256  # of a packaged weights file, when one was loaded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "hf":
            out = self.model(pixel_values=x)
            pooled = getattr(out, "pooler_output", None)
            return pooled if pooled is not None else out.last_hidden_state[:, 0]
        return self.model(x)

    def last_block(self) -> nn.Module:
        """The module whose output Grad-CAM looks at."""
        pooled = isinstance(self.model, StageStatsPool)
        m = self.model.model if pooled else self.model
        if hasattr(m, "conv_head") and not pooled:  # EfficientNet: the head conv sees every block
            return m.conv_head  # (stats pooling never runs it: then its last block group)
        if hasattr(m, "blocks"):
            return m.blocks[-1]
        if hasattr(m, "layer4"):
            return m.layer4
        if hasattr(m, "encoder") and hasattr(m.encoder, "layers"):
            return m.encoder.layers[-1]
        if hasattr(m, "encoder") and hasattr(m.encoder, "layer"):
            return m.encoder.layer[-1]
        raise ValueError(f"cannot find the last block of {self.name}")


def resolve_spec(name: str) -> BackboneSpec:
    """An alias, or any timm model name (e.g. 'resnet18'), or 'hf:PATH' for transformers."""
    if name in BACKBONES:
        return BACKBONES.get(name)
    import timm

    if timm.is_model(name) or timm.is_model(name.split(".")[0]):
        return BackboneSpec(name, "timm")
    raise UnknownNameError(BACKBONES.unknown_message(name) + "; any timm model name or hf:PATH works too")


def create_backbone(name: str, pretrained: bool | str = False, image_size: int | None = None,
                    pool: str = "auto", resize: str = "", **overrides: Any) -> Backbone:
    """Build a backbone by alias / timm name / 'hf:PATH'.

    pretrained: False (random init, same architecture and FLOPs), True (the alias's pip weight
    package where it has one, else download from the hub), or a local weights file / folder.
    pool: "last" (the model's own pooled vector), "stats" (multi-stage statistics, CNNs), "auto"
    (the alias's choice). resize: "squash" or "crop" ("" = the alias's choice).
    """
    if name.startswith("hf:"):
        if pool not in ("auto", "last"):
            raise ValueError(f"--pool {pool} needs a timm CNN; hf: backbones pool their own tokens")
        return _create_hf(name[3:], pretrained, image_size)
    import timm
    import timm.data

    spec = resolve_spec(name)
    pool = spec.pool if pool == "auto" else pool
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; known: auto, {', '.join(POOLS)}")
    kwargs: dict[str, Any] = {**spec.kwargs, **overrides}
    image_size = image_size or spec.image_size
    if image_size is not None and spec.family not in CNN_FAMILIES:
        kwargs["img_size"] = image_size
    package = name in WEIGHT_PACKAGES and pretrained in (True, "true")
    if package:
        pretrained = False  # built empty, then filled from the package below
    if isinstance(pretrained, str) and pretrained not in {"true", "false"}:
        path = Path(pretrained)
        if not path.exists():
            raise FileNotFoundError(f"pretrained weights {path} not found")
        if path.is_dir():
            candidates = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")) + sorted(path.glob("*.pth"))
            if not candidates:
                raise FileNotFoundError(f"no *.safetensors/*.bin/*.pth weights in {path}")
            path = candidates[0]
        kwargs["pretrained_cfg_overlay"] = dict(file=str(path))
        use_pretrained = True
    else:
        use_pretrained = pretrained in (True, "true")
    try:
        model = timm.create_model(spec.timm_name, pretrained=use_pretrained, num_classes=0, **kwargs)
    except TypeError as err:
        if "img_size" not in str(err) or "img_size" in spec.kwargs:
            raise ValueError(f"backbone {name!r} does not accept {sorted(kwargs)}: {err}") from err
        # CNNs take any resolution: the size only changes the preprocessing.
        kwargs.pop("img_size")
        model = timm.create_model(spec.timm_name, pretrained=use_pretrained, num_classes=0, **kwargs)
    weights_sha256 = load_package_weights(name, model) if package else None
    cfg = timm.data.resolve_model_data_config(model)
    _, h, w = cfg["input_size"]
    if image_size is not None:
        h = w = image_size
    elif "img_size" in kwargs:  # the architecture's own resolution wins over the weights' default
        size = kwargs["img_size"]
        h, w = (size, size) if isinstance(size, int) else size
    pre = PreprocessConfig(height=int(h), width=int(w), mean=tuple(map(float, cfg["mean"])),
                           std=tuple(map(float, cfg["std"])),
                           interpolation=cfg.get("interpolation", "bilinear") or "bilinear",
                           resize=resize or spec.resize)
    if pre.interpolation not in {"bilinear", "bicubic", "nearest", "lanczos"}:
        pre.interpolation = "bilinear"
    if pool == "stats":
        pooled = StageStatsPool(model)
        return Backbone(pooled, pooled.num_features, pre, name, "timm", pool, weights_sha256)
    return Backbone(model, int(model.num_features), pre, name, "timm", pool, weights_sha256)


_HF_DEFAULT_STATS = {
    "clip_vision_model": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "siglip_vision_model": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "siglip2_vision_model": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "dinov2": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def _create_hf(path_str: str, pretrained: bool | str, image_size: int | None) -> Backbone:
    """A transformers vision tower from a local folder (config.json, weights optional)."""
    from transformers import AutoConfig, AutoModel

    path = Path(path_str)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"hf backbone: {path}/config.json not found (save_pretrained output expected)")
    config = AutoConfig.from_pretrained(path)
    if hasattr(config, "vision_config"):  # a full CLIP/SigLIP checkpoint: take the vision tower
        config = config.vision_config
    has_weights = any(path.glob("*.safetensors")) or any(path.glob("*.bin"))
    if image_size is not None and not has_weights:
        config.image_size = image_size
    if pretrained is not False and has_weights:
        from transformers import CLIPVisionModel, Dinov2Model, SiglipVisionModel

        cls = {"clip_vision_model": CLIPVisionModel, "siglip_vision_model": SiglipVisionModel,
               "dinov2": Dinov2Model}.get(config.model_type, AutoModel)
        model = cls.from_pretrained(path)
    else:
        model = AutoModel.from_config(config)
    mean, std = _HF_DEFAULT_STATS.get(config.model_type, ((0.5,) * 3, (0.5,) * 3))
    proc = path / "preprocessor_config.json"
    if proc.is_file():
        p = json.loads(proc.read_text())
        mean, std = tuple(p.get("image_mean", mean)), tuple(p.get("image_std", std))
    size = image_size or int(getattr(config, "image_size", 224))
    pre = PreprocessConfig(height=size, width=size, mean=mean, std=std, interpolation="bilinear")
    return Backbone(model, int(config.hidden_size), pre, f"hf:{path}", "hf")
