"""The training configuration: one typed dataclass; YAML/JSON files and CLI flags are thin layers.

Precedence: dataclass defaults < --config FILE < explicit command-line flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

Regime = Literal["frozen", "partial", "lora", "full"]


@dataclass
class TrainConfig:
    # data
    dataset: str = "csv"  # registry name: koniq10k, clive, kadid10k, ..., csv, synthetic
    data_root: str = ""  # folder holding the dataset's images (and metadata)
    csv: str = ""  # --dataset csv: CSV with columns path,mos (path relative to --data-root)
    split_file: str = ""  # reuse a split written by an earlier run (split.json)
    split_ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)  # train/val/test
    official_split: bool = False  # KonIQ: use the dataset's own training/validation/test sets
    # model
    backbone: str = "tiny-vit"  # alias (edgeiqa.train.backbones), timm name, or hf:PATH
    pretrained: str = "false"  # true (hub), false (random init), or a local weights path
    image_size: int = 0  # 0 = the backbone's native resolution (512 for the efficientnet-lite aliases)
    resize: str = ""  # squash | crop (aspect kept, centre crop); "" = the backbone's choice
    pool: str = "auto"  # last | stats (multi-stage mean+std, CNNs) | auto = the backbone's choice
    backbone_seed: int = 0  # random-init backbones (--no-pretrained): the same weights for every --seed
    head: str = "gated"
    hidden: int = 512
    # K > 1 (frozen regime): K heads, each trained without a different 1/K of the training photos,
    # scored by their mean on one shared backbone (train/head_ensemble.py)
    head_ensemble: int = 1
    # 16 statistics of the frame's own colours and exposure beside the backbone's (train/colour_stats.py)
    colour_stats: bool = False
    # Whether the MOS head reads them too (False: only the camera-fault attributes do, so the MOS
    # head cannot learn a shortcut from them; train/heads.py)
    colour_stats_mos: bool = True
    candidates: tuple[str, ...] = ("sigmoid", "relu", "gelu", "tanh", "prelu")  # select head
    temperature_start: float = 1.0  # select head: softmax temperature, annealed geometrically
    temperature_end: float = 0.05
    select_lr: float = 1e-2  # select head: learning rate of the per-channel selection logits
    select_hard: bool = True  # select head: one activation per channel for the last epochs
    # regime
    regime: Regime = "frozen"
    lora_r: int = 4
    lora_alpha: float = 8.0
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ()  # empty = q/k projections of the backbone family
    cache_dir: str = ""  # frozen regime embedding cache; default: ~/.cache/edgeiqa/embeddings
    partial_stages: int = 2  # partial regime: how many of the backbone's last stages train (+ all norm layers)
    augment: bool = True  # non-frozen regimes: horizontal flips + crops at full resolution (label-preserving)
    train_crop: int = 384  # augment: side of the random crop taken from the model-size frame (0 = no crop)
    # optimisation
    epochs: int = 15
    batch_size: int = 12  # global batch (summed over DDP processes)
    accum_steps: int = 1
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-4
    backbone_lr: float = 5e-6  # full fine-tuning and LoRA
    weight_decay: float = 0.0
    rank_weight: float = 1.0
    rank_margin: float = 0.25  # margin = rank_margin * std(batch targets)
    # Camera faults (frozen regime): copies of the training photos only, rendered in linear light
    # (train/data/camera_faults.py), teach attributes and ranking the rated photos never show.
    camera_faults: int = 0  # fault kinds rendered per training photo, each at two levels (0 = off)
    broken_per_photo: float = 0.125  # broken frames rendered per training photo
    fault_kinds: str = ""  # comma-separated camera faults to draw from (empty: every kind there is)
    fault_rank_weight: float = 1.0  # cleaner above worse within (photo, kind); broken below every rated photo
    fault_margin: float = 0.05  # training-scale units (the rated scale spans about 1)
    attribute_weight: float = 1.0
    # Chosen on fold 0's inner validation split (benchmarks/results/camera_faults_design*): a dead zone
    # of 0.25 and rated photos trained on the MOS head alone kept validation SRCC at 0.819 (no faults:
    # 0.821); 0.1 with the penalty in the rated loss gave 0.795.
    fault_dead_zone: float = 0.25  # attribute severities below this cost the score nothing
    # The broken probability's own dead zone: at 0.5 a frame costs nothing until the classifier
    # calls it broken (the default 0.25 keeps models made before it unchanged).
    fault_broken_dead_zone: float = 0.25
    # The colour cast's own dead zone: a colourful scene reads as a mild cast to an ImageNet
    # backbone, so with the shared zone the cast's penalty charged a quarter of a test fold's rated
    # photos (the default 0.25 keeps models made before it unchanged).
    fault_colour_dead_zone: float = 0.25
    fault_penalty_on_rated: bool = False  # the rated photos' loss sees the penalised score (False: the MOS head alone)
    # Hinge weight keeping the penalty from pushing a rated training photo's score below its MOS by
    # more than fault_margin (the MOS head detached: only the attributes and penalty learn from it).
    # The penalty learned from copies also fires on authentic photos whose MOS the head already
    # reads, so it counted their faults twice (0 = off).
    fault_rated_guard: float = 0.0
    fault_mos_grad: bool = False  # let the fault ranking train the MOS head too (measured: it costs rated SRCC)
    amp: Literal["auto", "bf16", "off"] = "auto"  # auto: bf16 on CUDA that supports it
    time_budget_s: float = 0.0  # stop after the epoch that would overrun this budget (0: run every epoch)
    seed: int = 8
    num_workers: int = 0
    device: str = "auto"
    out: str = "runs/default"
    resume: bool = True  # continue from OUT/last when it exists

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)} (see `edgeiqa train --help`)")
        hints = typing.get_type_hints(cls)
        return cls(**{k: _coerce(hints[k], v) for k, v in d.items()})


def _coerce(tp: Any, value: Any) -> Any:
    if get_origin(tp) is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found")
    text = path.read_text()
    if path.suffix in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option -> value")
    return {k.replace("-", "_"): v for k, v in data.items()}


def _parse_bool(s: str) -> bool:
    low = s.lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig,
                         exclude: frozenset[str] = frozenset()) -> None:
    """One flag per dataclass field, default SUPPRESS so we can tell what the user set."""
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        tp, flag = hints[f.name], "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        kw: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": f.name}
        help_default = f"default: {default!r}"
        if tp is bool:
            parser.add_argument(flag, type=_parse_bool, nargs="?", const=True, metavar="BOOL",
                                help=help_default, **kw)
            if f.name == "resume":
                parser.add_argument("--no-resume", action="store_false", **kw)
            continue
        if get_origin(tp) is tuple:
            elem = get_args(tp)[0]
            parser.add_argument(flag, type=lambda s, e=elem: tuple(e(x) for x in s.split(",") if x),
                                metavar="A,B,...", help=help_default, **kw)
            continue
        if get_origin(tp) is Literal:
            parser.add_argument(flag, choices=get_args(tp), help=help_default, **kw)
            continue
        base = tp if tp in (int, float, str) else str
        if isinstance(tp, types.UnionType):
            base = str
        parser.add_argument(flag, type=base, help=help_default, **kw)


def config_from_args(args: argparse.Namespace, cls: type = TrainConfig) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    data: dict[str, Any] = {}
    if getattr(args, "config", None):
        data.update(load_config_file(args.config))
    data.update({k: v for k, v in vars(args).items() if k in names})
    return cls.from_dict(data)


__all__ = ["TrainConfig", "add_config_arguments", "config_from_args", "load_config_file"]
