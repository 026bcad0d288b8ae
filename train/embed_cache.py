"""On-disk cache of frozen-backbone embeddings, so head sweeps skip the backbone entirely.

Keyed by (backbone name, a fingerprint of its weights, preprocessing) for the folder and by
(absolute path, size, mtime) for each image: change any of them and the entry is recomputed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from edgeiqa.runtime.cache_root import cache_root
from edgeiqa.runtime.pipeline import prefetch_chunks, stack_or_raise
from edgeiqa.train.model import IQAModel
from tqdm.auto import tqdm


def weights_fingerprint(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).numpy().tobytes())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    return cache_root("embeddings")


class EmbeddingCache:
    def __init__(self, model: IQAModel, cache_dir: str | Path | None = None, batch_size: int = 16,
                 device: str = "cpu") -> None:
        self.model = model
        pre = model.preprocess
        key = json.dumps({"backbone": model.backbone.name, "weights": weights_fingerprint(model.backbone),
                          "pool": getattr(model.backbone, "pool", "last"), "embed_dim": model.backbone.embed_dim,
                          "stages": getattr(model.backbone.model, "stages", None), "preprocess": pre.to_dict()},
                         sort_keys=True)
        self.folder = Path(cache_dir or default_cache_dir()) / hashlib.sha256(key.encode()).hexdigest()[:20]
        self.folder.mkdir(parents=True, exist_ok=True)
        self.batch_size, self.device = batch_size, device
        self._memory: dict[Path, np.ndarray] = {}
        self.hits = self.misses = 0

    def _entry(self, path: Path) -> Path:
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".npy")

    @torch.no_grad()
    def _compute(self, paths: list[Path]) -> list[np.ndarray]:
        """Embed in batches, decoding the next batch while the backbone runs on this one."""
        pre = self.model.preprocess
        # The frozen weights never change, so a channels_last copy is safe and about 2x faster on
        # CPU for CNNs (the uint8 NHWC input already arrives in that layout).
        fast = copy.deepcopy(self.model).eval().to(memory_format=torch.channels_last)
        chunks = [paths[i:i + self.batch_size] for i in range(0, len(paths), self.batch_size)]
        out: list[np.ndarray] = []
        loaded = prefetch_chunks(chunks, pre.load, workers=min(4, os.cpu_count() or 1))
        for batch in tqdm(loaded, total=len(chunks), desc="embedding", unit="batch", leave=False,
                          disable=len(chunks) < 4):
            frames = torch.from_numpy(stack_or_raise(batch)).to(self.device)
            out += list(fast.embed(frames).float().cpu().numpy())
        return out

    def get(self, paths: list[Path]) -> torch.Tensor:
        """Embeddings [N, D] for the images, computing and storing only what is not cached."""
        result: dict[Path, np.ndarray] = {}
        todo = []
        for p in paths:
            if p in self._memory:
                result[p] = self._memory[p]
                self.hits += 1
                continue
            entry = self._entry(p)
            if entry.is_file():
                try:
                    result[p] = self._memory[p] = np.load(entry)
                    self.hits += 1
                    continue
                except (OSError, ValueError):
                    entry.unlink(missing_ok=True)  # a torn entry: recompute it
            todo.append(p)
        if todo:
            self.misses += len(todo)
            for p, emb in zip(todo, self._compute(todo)):
                entry = self._entry(p)
                tmp = entry.with_name(entry.name + f".{os.getpid()}.tmp.npy")
                np.save(tmp, emb)
                os.replace(tmp, entry)
                result[p] = self._memory[p] = emb
        return torch.from_numpy(np.stack([result[p] for p in paths]))
