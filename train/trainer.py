"""The training loop: seeded, resumable, DDP-aware, checkpoint chosen on the validation split.

Every epoch draws its shuffle and its dropout from (seed, epoch) alone, so a run resumed from
`OUT/last` after a kill reaches the same weights as one that was never interrupted.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from edgeiqa.runtime.pipeline import prefetch_chunks, stack_or_raise
from edgeiqa.train import distributed as D
from edgeiqa.train.augment import augment
from edgeiqa.train.build import build_model
from edgeiqa.train.checkpoint import (
    CheckpointError,
    atomic_write_json,
    read_checkpoint_config,
    replace_folder,
    save_checkpoint,
    save_weights,
)
from edgeiqa.train.config import TrainConfig
from edgeiqa.train.data.records import IQADataset
from edgeiqa.train.data.registry import load_dataset
from edgeiqa.train.data.splits import load_split, make_split, save_split
from edgeiqa.train.embed_cache import EmbeddingCache
from edgeiqa.train.fault_training import FaultTraining
from edgeiqa.train.losses import iqa_loss
from edgeiqa.train.metrics import iqa_metrics
from edgeiqa.train.model import IQAModel
from edgeiqa.train.partial import freeze_norm_statistics
from torch import nn
from tqdm.auto import tqdm

log = logging.getLogger("edgeiqa.train")
Callback = Callable[["Trainer", int, dict[str, Any]], None]
# Options that may differ between an interrupted run and its resumption.
_RESUME_FREE = {"epochs", "out", "resume", "num_workers", "device", "cache_dir", "time_budget_s"}


@dataclass
class TrainResult:
    out: Path
    best_epoch: int
    val: dict[str, float]
    test: dict[str, float]
    epochs_run: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def resolve_device(device: str, info: D.DistInfo) -> str:
    if device == "auto":
        return f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu"
    return device


def dataset_options(cfg: TrainConfig) -> dict[str, Any]:
    return {"csv": cfg.csv} if cfg.csv else {}


class Trainer:
    def __init__(self, cfg: TrainConfig, callbacks: list[Callback] | None = None,
                 dataset: IQADataset | None = None) -> None:
        if cfg.head_ensemble > 1:
            raise ValueError("a Trainer trains one head: --head-ensemble runs go through train() "
                             "(train/head_ensemble.py trains the members one by one)")
        self.cfg = cfg
        self.callbacks = list(callbacks or [])
        self.info = D.setup_distributed(cfg.device if cfg.device != "auto" else
                                        ("cuda" if torch.cuda.is_available() else "cpu"))
        self.device = resolve_device(cfg.device, self.info)
        self.out = Path(cfg.out)
        self.ds = dataset or load_dataset(cfg.dataset, cfg.data_root, **dataset_options(cfg))
        self.ds.require_complete()  # fail before the first step, with the report
        self.split = (load_split(Path(cfg.split_file), self.ds) if cfg.split_file
                      else make_split(self.ds, cfg.seed, tuple(cfg.split_ratios), cfg.official_split))
        if not self.split["train"]:
            raise ValueError("the training split is empty")
        self.workers = max(1, cfg.num_workers or min(4, os.cpu_count() or 1))
        self.model: IQAModel = build_model(cfg).to(self.device)
        self.frozen = cfg.regime == "frozen"
        if self.frozen:
            self.model.backbone.requires_grad_(False)
            self.model.backbone.eval()
            self.cache = EmbeddingCache(self.model, cfg.cache_dir or None, device=self.device)
        self._fit_input_stats()
        trainable: nn.Module = self.model.head if self.frozen else self.model
        self.trainable = (torch.nn.parallel.DistributedDataParallel(trainable) if self.info.enabled else trainable)
        self.optimizer = self._make_optimizer()
        self.targets = np.array([self.ds.scale.to_train(s.mos) for s in self.ds.samples], dtype=np.float32)
        self.faults = FaultTraining.build(self) if cfg.camera_faults > 0 else None
        self.use_amp = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.startswith("cuda")
                                             and torch.cuda.is_bf16_supported())

    # -- setup ------------------------------------------------------------------------------
    @torch.no_grad()
    def _fit_input_stats(self, limit: int = 256) -> None:
        """Standardise the head's inputs on training embeddings (a seeded sample when not frozen)."""
        idx = self.split["train"]
        if not self.frozen and len(idx) > limit:
            idx = sorted(np.random.default_rng(self.cfg.seed).choice(idx, limit, replace=False).tolist())
        paths = [self.ds.samples[i].path for i in idx]
        if self.frozen:
            emb = self.cache.get(paths)
        else:
            self.model.eval()
            emb = torch.cat([self.model.embed(self._tensor(f)).float().cpu()
                             for _, f in self._loaded([idx[i:i + 16] for i in range(0, len(idx), 16)])])
        self.model.head.set_input_stats(emb)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.cfg
        named = [(n, p) for n, p in self.model.head.named_parameters() if p.requires_grad]
        # Selection logits get their own (larger) rate: at the head's rate they barely leave zero
        # in a short run, and hardening would then pick activations at random.
        groups = [{"params": [p for n, p in named if not n.endswith("logits")], "lr": cfg.lr}]
        logits = [p for n, p in named if n.endswith("logits")]
        if logits:
            groups.append({"params": logits, "lr": cfg.select_lr})
        bb = [p for p in self.model.backbone.parameters() if p.requires_grad]
        if bb and not self.frozen:
            groups.append({"params": bb, "lr": cfg.lr if cfg.regime == "lora" else cfg.backbone_lr})
        cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        return cls(groups, weight_decay=cfg.weight_decay)

    @property
    def harden_epoch(self) -> int | None:
        """First epoch trained with one activation per channel (select head), or None."""
        if not (self.model.head.select_layers() and self.cfg.select_hard) or self.cfg.epochs < 2:
            return None
        return self.cfg.epochs - max(1, self.cfg.epochs // 4)

    def _set_temperature(self, epoch: int) -> float | None:
        layers = self.model.head.select_layers()
        if not layers:
            return None
        cfg = self.cfg
        frac = epoch / max(cfg.epochs - 1, 1)
        t = cfg.temperature_start * (cfg.temperature_end / cfg.temperature_start) ** frac
        for layer in layers:
            layer.set_temperature(t)
            if self.harden_epoch is not None and epoch >= self.harden_epoch:
                layer.harden()
        return t

    # -- data -------------------------------------------------------------------------------
    def _loaded(self, batches: list[list[int]]) -> Iterator[tuple[list[int], np.ndarray | None]]:
        """(indices, uint8 frames) per batch, the next batch decoding while this one trains.

        A frozen run reads embeddings from its cache instead, so it gets no frames (None).
        """
        if self.frozen:
            yield from ((b, None) for b in batches)
            return
        paths = [[self.ds.samples[i].path for i in b] for b in batches]
        for b, loaded in zip(batches, prefetch_chunks(paths, self.model.preprocess.load, self.workers)):
            yield b, stack_or_raise(loaded)

    def _tensor(self, frames: np.ndarray, augment_seed: int | None = None) -> torch.Tensor:
        if augment_seed is not None and self.cfg.augment:
            frames = augment(frames, np.random.default_rng(augment_seed), self.cfg.train_crop)
        return torch.from_numpy(frames).to(self.device)

    def _predict(self, idx: list[int], frames: np.ndarray | None, train: bool, augment_seed: int | None = None
                 ) -> torch.Tensor:
        with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.use_amp):
            if frames is None:  # frozen: cached embeddings
                emb = self.cache.get([self.ds.samples[i].path for i in idx]).to(self.device)
                if train and self.faults is not None and not self.cfg.fault_penalty_on_rated:
                    return self.model.head.mos(emb).float()
                net = self.trainable if train else self.model.head
                return net(emb).float()
            net = self.trainable if train else self.model
            return net(self._tensor(frames, augment_seed)).float()

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's share of each global batch of a (seed, epoch)-determined shuffle."""
        order = np.random.default_rng([self.cfg.seed, epoch]).permutation(self.split["train"])
        bs, world = self.cfg.batch_size, self.info.world
        batches = [order[i:i + bs].tolist() for i in range(0, len(order), bs)]
        batches = [b for b in batches if len(b) >= max(world, 2 if len(order) > 1 else 1)]
        return [b[self.info.rank::world] for b in batches]

    # -- loop -------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> float:
        torch.manual_seed(self.cfg.seed * 100003 + epoch)  # dropout (LoRA) from (seed, epoch) alone
        self.trainable.train()
        if self.frozen:
            self.model.backbone.eval()
        else:
            freeze_norm_statistics(self.model.backbone)
        batches = self._epoch_batches(epoch)
        losses = []
        self.optimizer.zero_grad(set_to_none=True)
        bar = tqdm(self._loaded(batches), total=len(batches), desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
                   leave=False, disable=not self.info.is_main)
        for step, (idx, frames) in enumerate(bar):
            target = torch.from_numpy(self.targets[idx]).to(self.device)
            pred = self._predict(idx, frames, train=True, augment_seed=(self.cfg.seed * 1009 + epoch) * 100003 + step)
            loss = iqa_loss(pred, target, self.cfg.rank_weight, self.cfg.rank_margin)
            if self.faults is not None:
                loss = loss + self.faults.loss(np.random.default_rng([self.cfg.seed, epoch, step, 7]))
                if self.faults.rated_guard_weight > 0:
                    loss = loss + self.faults.rated_guard(idx, target.float())
            (loss / self.cfg.accum_steps).backward()
            if (step + 1) % self.cfg.accum_steps == 0 or step + 1 == len(batches):
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        return float(np.mean(losses)) if losses else float("nan")

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        idx = self.split[split]
        if len(idx) < 3:
            return {}
        self.model.eval()
        bs = max(self.cfg.batch_size, 16)
        batches = [idx[i:i + bs] for i in range(0, len(idx), bs)]
        pred = torch.cat([self._predict(b, f, train=False) for b, f in self._loaded(batches)]).cpu().numpy()
        mos = np.array([self.ds.samples[i].mos for i in idx])
        return iqa_metrics(np.array([self.ds.scale.to_mos(float(p)) for p in pred]), mos)

    def run(self) -> TrainResult:
        cfg, info = self.cfg, self.info
        t0 = time.perf_counter()
        if info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_split(self.out / "split.json", self.ds, self.split, cfg.seed)
        start, best = self._maybe_resume()
        history: list[dict[str, Any]] = []
        for epoch in range(start, cfg.epochs):
            te = time.perf_counter()
            temperature = self._set_temperature(epoch)
            loss = self.train_epoch(epoch)
            record: dict[str, Any] = {"epoch": epoch, "train_loss": loss, "temperature": temperature}
            if info.is_main:
                val = self.evaluate("val")
                record["val"] = val
                eligible = self.harden_epoch is None or epoch >= self.harden_epoch
                score = val.get("srcc", -math.inf) if val else float(epoch)  # no val split: keep the last
                if eligible and (best["epoch"] < 0 or score > best["score"]):
                    best = {"epoch": epoch, "score": score}
                    save_checkpoint(self.out, self.model, cfg, self.model.preprocess, self.ds.scale,
                                    self.model.head.describe(), {"val": val, "best_epoch": epoch})
                if self.frozen:
                    record.update(cache_hits=self.cache.hits, cache_misses=self.cache.misses)
                record["seconds"] = round(time.perf_counter() - te, 3)
                self._save_last(epoch, best)
                with open(self.out / "metrics.jsonl", "a") as fh:
                    fh.write(json.dumps(record) + "\n")
                log.info("epoch %d loss %.4f val %s", epoch + 1, loss,
                         {k: round(v, 4) for k, v in record.get("val", {}).items() if k in ("srcc", "plcc")})
            D.barrier(info)
            history.append(record)
            for cb in self.callbacks:
                cb(self, epoch, record)
            elapsed, last = time.perf_counter() - t0, time.perf_counter() - te
            if cfg.time_budget_s and elapsed + last > cfg.time_budget_s and epoch + 1 < cfg.epochs:
                log.info("time budget %.0fs reached after epoch %d", cfg.time_budget_s, epoch + 1)
                break
        result = self._finish(best, history, time.perf_counter() - t0)
        D.teardown(info)
        return result

    # -- persistence ------------------------------------------------------------------------
    def _save_last(self, epoch: int, best: dict[str, Any]) -> None:
        tmp = self.out / "last.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        save_weights(tmp / "model.safetensors", self.model.state_dict())
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        atomic_write_json(tmp / "state.json", {"epoch": epoch, "best": best, "train": self.cfg.to_dict()})
        replace_folder(tmp, self.out / "last")

    def _maybe_resume(self) -> tuple[int, dict[str, Any]]:
        best: dict[str, Any] = {"epoch": -1, "score": -math.inf}
        last = self.out / "last"
        if not (self.cfg.resume and (last / "state.json").is_file()):
            if self.info.is_main and (self.out / "metrics.jsonl").exists():
                (self.out / "metrics.jsonl").unlink()
            return 0, best
        from safetensors.torch import load_file

        state = json.loads((last / "state.json").read_text())
        before = {k: v for k, v in state["train"].items() if k not in _RESUME_FREE}
        now = {k: v for k, v in json.loads(json.dumps(self.cfg.to_dict())).items() if k not in _RESUME_FREE}
        if before != now:
            diff = sorted(k for k in now if before.get(k) != now[k])
            raise CheckpointError(f"{last} was written with different options ({', '.join(diff)}); "
                                  "use another --out or --no-resume")
        self.model.load_state_dict(load_file(str(last / "model.safetensors")))
        self.optimizer.load_state_dict(torch.load(last / "optimizer.pt", weights_only=True))
        log.info("resuming from %s after epoch %d", last, state["epoch"] + 1)
        return state["epoch"] + 1, state["best"]

    def _finish(self, best: dict[str, Any], history: list[dict[str, Any]], seconds: float) -> TrainResult:
        val: dict[str, float] = {}
        test: dict[str, float] = {}
        if self.info.is_main:
            from edgeiqa.train.checkpoint import load_state

            cfg_json = read_checkpoint_config(self.out)
            self.model.load_state_dict(load_state(self.out, cfg_json["weights_sha256"]))
            val = self.evaluate("val")
            test = self.evaluate("test")
            cfg_json["metrics"] = {"val": val, "test": test, "best_epoch": best["epoch"],
                                   "n_train": len(self.split["train"]), "n_val": len(self.split["val"]),
                                   "n_test": len(self.split["test"]), "seconds": round(seconds, 2)}
            atomic_write_json(self.out / "config.json", cfg_json)
        return TrainResult(self.out, best["epoch"], val, test, len(history), seconds, history)


def train(cfg: TrainConfig, callbacks: list[Callback] | None = None) -> TrainResult:
    """One run; with --head-ensemble K, K member runs and the checkpoint of their mean."""
    if cfg.head_ensemble > 1:
        if callbacks:
            raise ValueError("--head-ensemble trains its members as ordinary runs: callbacks are not supported")
        from edgeiqa.train.head_ensemble import train_ensemble

        return train_ensemble(cfg)
    return Trainer(cfg, callbacks).run()
