"""Faulty copies of a set of photos, rendered once to disk and reused by every fold and run.

Each photo gets `kinds` fault kinds (drawn per photo from the seed) at two distinct levels, so
every (photo, kind) group holds three versions whose order is known: clean, milder, worse. Broken
frames are drawn as well, some from photos (torn or partial read-outs), some from nothing.

Copies are PNG files (lossless: a compressed copy keeps its JPEG artefacts exactly) under
`<cache>/camera-faults/`, named by (photo, kind, level, seed), so the embedding cache keys them
like any photo and cross-validation folds share renders. A fold renders copies of ITS training
photos only: copies of a test photo never enter training.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from edgeiqa.runtime.preprocess import decode
from edgeiqa.train.data.camera_faults import (
    BROKEN,
    DIRECTION_PER_PHOTO,
    FAULTS,
    LEVELS,
    FaultLabels,
    PhotoStats,
    applies,
    photo_stats,
    render,
)
from PIL import Image
from tqdm.auto import tqdm

MAX_SIDE = 768  # copies of larger photos are rendered at this size (the model sees 512 px)


@dataclass(frozen=True)
class FaultCopy:
    path: Path
    source: int  # index of the clean photo in the list given (-1: none)
    kind: str  # a fault name or "broken:<name>"
    level: int  # 1..4; 0 for broken frames
    labels: FaultLabels


def _rng(seed: int, *parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _copy_rng(seed: int, name: str, kind: str, level: int) -> np.random.Generator:
    """The random stream of one copy: per (photo, kind, level), or per (photo, kind) where the
    fault's direction must be the same at every level (camera_faults.DIRECTION_PER_PHOTO)."""
    return _rng(seed, name, kind) if kind in DIRECTION_PER_PHOTO else _rng(seed, name, kind, level)


def _load(path: Path) -> np.ndarray:
    img = decode(path)
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(img.convert("RGB"))


def photo_stats_of(photos: list[Path], folder: Path) -> list[PhotoStats]:
    """Each photo's luminance and chroma (what camera_faults.applies reads), kept in a small JSON
    beside the renders so that every fold and run decodes a photo for them once."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "photo_stats.json"
    known = json.loads(store.read_text()) if store.is_file() else {}
    keys = [f"{p.resolve()}|{p.stat().st_size}" for p in photos]
    missing = [i for i, k in enumerate(keys) if k not in known]
    for i in tqdm(missing, desc="photo statistics", unit="photo", leave=False, disable=len(missing) < 8):
        img = decode(photos[i]).convert("RGB")
        img.thumbnail((256, 256))
        stats = photo_stats(np.asarray(img))
        known[keys[i]] = [stats.luminance, stats.chroma]
    if missing:
        tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, store)
    return [PhotoStats(*map(float, known[k])) for k in keys]


def plan_copies(photos: list[Path], kinds: int, broken_per_photo: float, seed: int,
                fault_kinds: tuple[str, ...] | None = None, stats: list[PhotoStats] | None = None
                ) -> list[tuple[int, str, int]]:
    """(photo index, kind, level) for every copy; deterministic in (photo names, seed). With
    `stats`, a photo draws only among the kinds that are faults for it (camera_faults.applies)."""
    names = tuple(fault_kinds or FAULTS)
    if not 0 < kinds <= len(names):
        raise ValueError(f"kinds per photo must be 1..{len(names)}, got {kinds}")
    plan = []
    for i, p in enumerate(photos):
        rng = _rng(seed, "plan", p.name)
        mine = names if stats is None else tuple(n for n in names if applies(n, stats[i]))
        for kind in rng.choice(mine, min(kinds, len(mine)), replace=False):
            for level in sorted(rng.choice(LEVELS, 2, replace=False)):
                plan.append((i, str(kind), int(level)))
    n_broken = int(round(broken_per_photo * len(photos)))
    rng = _rng(seed, "broken", len(photos))
    broken_names = sorted(BROKEN)
    for b in range(n_broken):
        plan.append((int(rng.integers(len(photos))), f"broken:{broken_names[b % len(broken_names)]}", 0))
    return plan


def render_copies(photos: list[Path], plan: list[tuple[int, str, int]], folder: Path, seed: int,
                  workers: int | None = None) -> list[FaultCopy]:
    """Render what is not on disk yet; return every planned copy."""
    folder.mkdir(parents=True, exist_ok=True)

    def target(i: int, kind: str, level: int) -> Path:
        key = f"{photos[i].resolve()}|{photos[i].stat().st_size}|{kind}|{level}|{seed}"
        if kind in DIRECTION_PER_PHOTO:  # renders from before the direction was per photo, away from neutral, differ
            key += "|away-from-neutral"
        return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.png"

    by_photo: dict[int, list[tuple[str, int]]] = {}
    for i, kind, level in plan:
        by_photo.setdefault(i, []).append((kind, level))

    def work(i: int) -> list[FaultCopy]:
        todo = [(k, lv) for k, lv in by_photo[i] if not target(i, k, lv).is_file()]
        img = _load(photos[i]) if todo else None
        out = []
        for kind, level in by_photo[i]:
            path = target(i, kind, level)
            if img is not None and (kind, level) in todo:
                frame, labels = render(img, kind, level or 1, _copy_rng(seed, photos[i].name, kind, level))
                tmp = path.with_name(path.name + f".{os.getpid()}.tmp.png")
                Image.fromarray(frame).save(tmp)
                os.replace(tmp, path)
            else:
                labels = labels_of(kind, level)
            out.append(FaultCopy(path, i, kind, level, labels))
        return out

    copies: list[FaultCopy] = []
    with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool:
        for done in tqdm(pool.map(work, sorted(by_photo)), total=len(by_photo), desc="camera faults",
                         unit="photo", leave=False, disable=len(by_photo) < 8):
            copies += done
    return copies


def labels_of(kind: str, level: int) -> FaultLabels:
    """The labels a render would give, without rendering (a copy already on disk)."""
    if kind.startswith("broken:"):
        return FaultLabels(broken=1.0)
    tiny = np.full((8, 8, 3), 128, np.uint8)
    return render(tiny, kind, level, np.random.default_rng(0))[1]


def fault_kind_names(spec: str) -> tuple[str, ...]:
    """`--fault-kinds` as names: comma-separated, empty for every kind; unknown names are refused."""
    names = tuple(n.strip() for n in spec.split(",") if n.strip()) or tuple(FAULTS)
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown camera fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    return names


def copies_for(photos: list[Path], cache_root: Path, kinds: int, broken_per_photo: float, seed: int,
               fault_kinds: str = "") -> list[FaultCopy]:
    folder = cache_root / "camera-faults"
    plan = plan_copies(photos, kinds, broken_per_photo, seed, fault_kind_names(fault_kinds),
                       photo_stats_of(photos, folder))
    return render_copies(photos, plan, folder, seed)
