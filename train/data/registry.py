"""Datasets by name. Each loader reads the metadata as the dataset ships it and resolves images."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

from edgeiqa.train.data.locate import ImageLocator
from edgeiqa.train.data.records import DatasetError, IQADataset, LabelScale, Sample
from edgeiqa.train.registry import Registry

Loader = Callable[..., IQADataset]
DATASETS: Registry[Loader] = Registry("dataset")


def load_dataset(name: str, root: str | Path, **options: Any) -> IQADataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist or is not a folder")
    # Import for the side effect of registering the dataset-specific loaders.
    import edgeiqa.train.data.loaders  # noqa: F401

    return DATASETS.get(name)(root, **options)


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """csv.DictReader with BOM and CRLF handled; header names stripped."""
    if not path.is_file():
        raise DatasetError(f"metadata file {path} not found")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise DatasetError(f"{path}: empty file, expected a header row")
        reader.fieldnames = [f.strip() for f in reader.fieldnames]
        return list(reader)


@DATASETS.register("csv")
def load_csv(root: Path, csv: str | Path = "", path_col: str = "path", mos_col: str = "mos",
             ref_col: str = "ref", mos_range: tuple[float, float] | None = None,
             name: str = "csv", **_: Any) -> IQADataset:
    """Any CSV with a path column (relative to root) and a MOS column, higher = better.

    A `ref` column, when present, names each image's reference content for split-by-reference.
    Without `mos_range` the training scale spans the file's own MOS range.
    """
    csv_path = Path(csv) if csv else root / "data.csv"
    if not csv_path.is_absolute() and not csv_path.is_file():
        csv_path = root / csv_path
    rows = read_csv_rows(csv_path)
    if rows and (path_col not in rows[0] or mos_col not in rows[0]):
        raise DatasetError(f"{csv_path}: needs columns {path_col!r} and {mos_col!r}, has {list(rows[0])}")
    locator = ImageLocator(root)
    samples = []
    for i, row in enumerate(rows, start=2):
        try:
            mos = float(row[mos_col])
        except (TypeError, ValueError):
            raise DatasetError(f"{csv_path}:{i}: MOS {row[mos_col]!r} is not a number") from None
        samples.append(Sample(locator.find(row[path_col]), mos, row.get(ref_col) or None, name=row[path_col]))
    if not samples:
        raise DatasetError(f"{csv_path}: no rows")
    lo, hi = mos_range or (min(s.mos for s in samples), max(s.mos for s in samples))
    if hi <= lo:
        hi = lo + 1.0
    split_by_ref = any(s.ref for s in samples)
    return IQADataset(name, root, samples, LabelScale(float(lo), float(hi)), split_by_ref)
