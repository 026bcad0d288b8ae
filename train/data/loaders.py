"""The public IQA datasets, each read from its metadata exactly as the dataset distributes it.

Quirks of the real files (see ../shared/datasets-meta/README.md) and how each is handled:
- KonIQ-10k ships two CSV forms: `koniq10k_distributions_sets.csv` (MOS on 0-100, plus the
  official `set` column) and `koniq10k_scores(_and_distributions).csv`, where `MOS` is on 1-5 and
  `MOS_zscore` on 0-100. We always train on the 0-100 column so scores mean the same everywhere.
- CLIVE's .mat files list 1169 images whose first 7 (t1..t7.bmp) are the challenge's training
  images; the standard protocol drops them, leaving 1162.
- KADID-10k's `dmos` is, despite its name, a 1-5 scale with higher = better; splits group by
  `ref_img` so no reference content is on both sides.
- AGIQA-3K's `data.csv` has empty adj1/adj2/style cells and CRLF endings; quality is `mos_quality`
  (0-5); `mos_align` is a different question (prompt alignment) and is only used on request.
- AGIQA-1K's xlsx lists `dreamStudio_8_9_1_1.jpg` twice with MOS 0.44 and 2.08 (its CSV twin has
  two other names instead). One file cannot carry two labels and we cannot tell which row is
  right, so every duplicated name is dropped and the report says so.
- SPAQ's annotation file circulates as `MOS and Image attribute scores.xlsx` and with
  underscores for spaces; both are found.
- FLIVE names carry a sub-folder and mixed-case extensions (.jpg / .JPG): names are matched
  exactly first, then case-insensitively by file name.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from edgeiqa.train.data.locate import ImageLocator
from edgeiqa.train.data.records import DatasetError, IQADataset, LabelScale, Sample
from edgeiqa.train.data.registry import DATASETS, load_csv, read_csv_rows

# Official split names in KonIQ's `set` column -> ours.
_KONIQ_SETS = {"training": "train", "validation": "val", "test": "test"}


def find_metadata(root: Path, names: Iterable[str]) -> Path:
    """The first of `names` directly under root, else anywhere below it (a shallow-first walk)."""
    names = list(names)
    for n in names:
        if (root / n).is_file():
            return root / n
    wanted = {n.lower(): n for n in names}
    hits: dict[str, Path] = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.lower() in wanted and f.lower() not in hits:
                hits[f.lower()] = Path(dirpath) / f
    for n in names:
        if n.lower() in hits:
            return hits[n.lower()]
    raise DatasetError(f"none of {', '.join(names)} found under {root}: is this the dataset's folder?")


def read_xlsx_rows(path: Path) -> list[dict[str, Any]]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()
    if not rows:
        raise DatasetError(f"{path}: empty workbook")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    return [dict(zip(header, r)) for r in rows[1:] if any(v is not None for v in r)]


def _column(rows: list[dict[str, Any]], path: Path, *candidates: str) -> str:
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    for c in candidates:
        if c in rows[0]:
            return c
    raise DatasetError(f"{path}: none of the columns {candidates} (has {list(rows[0])})")


def _build(name: str, root: Path, meta: Path, entries: list[tuple[str, float, str | None, str | None]],
           scale: LabelScale, subdirs: tuple[str, ...], split_by_ref: bool = False,
           notes: list[str] | None = None) -> IQADataset:
    """Drop names listed more than once, resolve images, and assemble the dataset."""
    notes = list(notes or [])
    counts = Counter(e[0] for e in entries)
    dups = sorted(n for n, c in counts.items() if c > 1)
    if dups:
        notes.append(f"dropped {sum(counts[d] for d in dups)} rows of {len(dups)} names listed more than once "
                     f"with conflicting labels: {', '.join(dups[:3])}")
        entries = [e for e in entries if counts[e[0]] == 1]
    locator = ImageLocator(root, subdirs)
    samples = [Sample(locator.find(n), float(m), ref, split, name=n) for n, m, ref, split in entries]
    notes.insert(0, f"metadata: {meta}")
    return IQADataset(name, root, samples, scale, split_by_ref, notes)


def _float(v: Any, where: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: MOS {v!r} is not a number") from None


@DATASETS.register("koniq10k")
def load_koniq10k(root: Path, **_: Any) -> IQADataset:
    meta = find_metadata(root, ["koniq10k_distributions_sets.csv", "koniq10k_scores_and_distributions.csv",
                                "koniq10k_scores.csv"])
    rows = read_csv_rows(meta)
    name_col = _column(rows, meta, "image_name")
    # distributions_sets: MOS is 0-100; the scores files: MOS is 1-5 and MOS_zscore is 0-100.
    mos_col = _column(rows, meta, "MOS_zscore", "MOS") if "set" not in rows[0] else "MOS"
    entries = [(r[name_col], _float(r[mos_col], str(meta)), None, _KONIQ_SETS.get(r.get("set", ""), None))
               for r in rows]
    return _build("koniq10k", root, meta, entries, LabelScale(0.0, 100.0),
                  ("1024x768", "koniq10k_1024x768/1024x768", "512x384", "images", ""))


@DATASETS.register("clive")
def load_clive(root: Path, **_: Any) -> IQADataset:
    from scipy.io import loadmat

    names_mat = find_metadata(root, ["AllImages_release.mat"])
    mos_mat = find_metadata(root, ["AllMOS_release.mat"])
    try:
        names = [str(x[0][0]) if hasattr(x[0], "__len__") else str(x[0])
                 for x in loadmat(names_mat)["AllImages_release"]]
        mos = loadmat(mos_mat)["AllMOS_release"].ravel().tolist()
    except (KeyError, ValueError, OSError) as err:
        raise DatasetError(f"CLIVE .mat files under {root} are unreadable: {err}") from err
    if len(names) != len(mos):
        raise DatasetError(f"CLIVE: {len(names)} names but {len(mos)} MOS values")
    # The first 7 entries are the challenge's training images t1..t7.bmp: the standard protocol drops them.
    entries = [(n, m, None, None) for n, m in zip(names[7:], mos[7:])]
    return _build("clive", root, names_mat, entries, LabelScale(0.0, 100.0),
                  ("Images", "ChallengeDB_release/Images", ""), notes=["dropped the 7 training images t1..t7"])


@DATASETS.register("kadid10k")
def load_kadid10k(root: Path, **_: Any) -> IQADataset:
    meta = find_metadata(root, ["dmos.csv"])
    rows = read_csv_rows(meta)
    _column(rows, meta, "dist_img")
    entries = [(r["dist_img"], _float(r["dmos"], str(meta)), r["ref_img"], None) for r in rows]
    return _build("kadid10k", root, meta, entries, LabelScale(1.0, 5.0), ("images", "kadid10k/images", ""),
                  split_by_ref=True)


@DATASETS.register("agiqa3k")
def load_agiqa3k(root: Path, mos_column: str = "mos_quality", **_: Any) -> IQADataset:
    meta = find_metadata(root, ["data.csv"])
    rows = read_csv_rows(meta)
    col = _column(rows, meta, mos_column)
    entries = [(r["name"], _float(r[col], str(meta)), None, None) for r in rows]
    return _build("agiqa3k", root, meta, entries, LabelScale(0.0, 5.0), ("image", "images", "AGIQA-3K", ""))


@DATASETS.register("agiqa1k")
def load_agiqa1k(root: Path, **_: Any) -> IQADataset:
    meta = find_metadata(root, ["AIGC_MOS_Zscore.xlsx"])
    rows = read_xlsx_rows(meta)
    name_col, mos_col = _column(rows, meta, "Image"), _column(rows, meta, "MOS")
    entries = [(str(r[name_col]).strip(), _float(r[mos_col], str(meta)), None, None) for r in rows]
    return _build("agiqa1k", root, meta, entries, LabelScale(0.0, 5.0), ("file", "images", "AGIQA-1K", ""))


@DATASETS.register("spaq")
def load_spaq(root: Path, **_: Any) -> IQADataset:
    meta = find_metadata(root, ["MOS and Image attribute scores.xlsx", "MOS_and_Image_attribute_scores.xlsx"])
    rows = read_xlsx_rows(meta)
    name_col, mos_col = _column(rows, meta, "Image name", "Image_name"), _column(rows, meta, "MOS")
    entries = [(str(r[name_col]).strip(), _float(r[mos_col], str(meta)), None, None) for r in rows]
    return _build("spaq", root, meta, entries, LabelScale(0.0, 100.0), ("TestImage", "SPAQ/TestImage", ""))


@DATASETS.register("flive")
def load_flive(root: Path, **_: Any) -> IQADataset:
    meta = find_metadata(root, ["labels_image.csv"])
    rows = read_csv_rows(meta)
    _column(rows, meta, "name")
    entries = [(r["name"], _float(r["mos"], str(meta)), None, None) for r in rows]
    return _build("flive", root, meta, entries, LabelScale(0.0, 100.0), ("database", "images", ""))


@DATASETS.register("synthetic")
def load_synthetic(root: Path, **_: Any) -> IQADataset:
    """The set `edgeiqa data synth` writes: synthetic.csv with path, mos (0-100), ref."""
    ds = load_csv(root, csv=root / "synthetic.csv", mos_range=(0.0, 100.0), name="synthetic")
    ds.split_by_ref = True
    return ds
