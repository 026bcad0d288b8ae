"""Checkpoints: a folder with model.safetensors + config.json, written atomically.

config.json carries everything needed to rebuild the model (backbone, head, regime,
preprocessing, label scale) and the sha256 of the weights, so a truncated or swapped weights
file is caught on load instead of producing wrong scores.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from edgeiqa.runtime.bundle import sha256_file
from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.train.backbones import PreprocessConfig
from edgeiqa.train.config import TrainConfig
from edgeiqa.train.data.records import LabelScale

FORMAT = "edgeiqa-checkpoint"
VERSION = 1


class CheckpointError(EdgeIQAError):
    pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> str:
    """safetensors file written atomically; returns its sha256."""
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp))
    digest = sha256_file(tmp)
    os.replace(tmp, path)
    return digest


def save_checkpoint(folder: Path, model: torch.nn.Module, cfg: TrainConfig, preprocess: PreprocessConfig,
                    scale: LabelScale, head: dict[str, Any], metrics: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    digest = save_weights(folder / "model.safetensors", model.state_dict())
    atomic_write_json(folder / "config.json", {
        "format": FORMAT, "version": VERSION, "train": cfg.to_dict(), "backbone": cfg.backbone,
        "head": head, "regime": cfg.regime, "preprocess": preprocess.to_dict(), "label_scale": scale.to_dict(),
        "metrics": metrics or {}, "weights_sha256": digest, **(extra or {})})


def read_checkpoint_config(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    cfg_path, weights = folder / "config.json", folder / "model.safetensors"
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint {folder} not found (expected a folder with model.safetensors + config.json)")
    if not cfg_path.is_file() or not weights.is_file():
        raise CheckpointError(f"checkpoint {folder} is incomplete: needs model.safetensors and config.json")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"checkpoint {folder}: config.json is corrupt ({err})") from err
    if cfg.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path} is not an edgeiqa checkpoint config")
    if cfg.get("version", 0) > VERSION:
        raise CheckpointError(f"checkpoint {folder} has format version {cfg['version']}; upgrade edgeiqa")
    return cfg


def load_state(folder: Path, expected_sha: str | None) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = folder / "model.safetensors"
    if expected_sha and sha256_file(weights) != expected_sha:
        raise CheckpointError(f"checkpoint {folder}: model.safetensors does not match the sha256 in config.json "
                              "(truncated or replaced file); re-copy it or retrain")
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"checkpoint {folder}: model.safetensors is corrupt ({err})") from err


_OPTIONAL_KEYS = {"head.in_shift", "head.in_scale"}


def load_checkpoint(folder: str | Path, device: str = "cpu"):
    """Rebuild the model from config.json and load its weights. Returns (model, config dict)."""
    from edgeiqa.train.build import build_model

    folder = Path(folder)
    cfg = read_checkpoint_config(folder)
    train_cfg = TrainConfig.from_dict(cfg["train"])
    model = build_model(train_cfg, pretrained=False, head_info=cfg["head"])
    if "preprocess" in cfg:
        # The pixels the model was trained on are the recorded ones, not what today's timm config
        # would rebuild: a timm upgrade must not silently change a bundle's mean, std or kernel.
        model.use_preprocess(PreprocessConfig.from_dict(cfg["preprocess"]))
    state = load_state(folder, cfg.get("weights_sha256"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in _OPTIONAL_KEYS]  # checkpoints older than the standardisation
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {folder} does not fit its own config: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    return model.to(device).eval(), cfg


def replace_folder(tmp: Path, final: Path) -> None:
    """Swap a fully written folder into place; the old one is removed only after the swap."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)
