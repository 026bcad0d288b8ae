"""What every dataset loader returns: samples with MOS, a label scale, and a completeness report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeiqa.runtime.errors import EdgeIQAError


class DatasetError(EdgeIQAError):
    """A dataset copy is unusable: metadata missing or malformed, or images missing."""


@dataclass(frozen=True)
class LabelScale:
    """Linear map between a dataset's MOS scale and the ~[0, 1] training scale (higher = better)."""

    lo: float
    hi: float
    name: str = "mos"

    def to_train(self, mos: float) -> float:
        return (mos - self.lo) / (self.hi - self.lo)

    def to_mos(self, t: float) -> float:
        return self.lo + t * (self.hi - self.lo)

    def to_dict(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "name": self.name, "higher_is_better": True}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelScale:
        return cls(float(d["lo"]), float(d["hi"]), d.get("name", "mos"))


@dataclass
class Sample:
    path: Path  # absolute once resolved against the root
    mos: float  # on the dataset's own scale, higher = better
    ref: str | None = None  # reference (pristine) image, for content-disjoint splits
    split: str | None = None  # the dataset's official split, when it ships one
    name: str = ""  # the name as the metadata lists it


@dataclass
class DataReport:
    dataset: str
    root: str
    rows: int
    images_found: int
    images_missing: int
    missing_examples: list[str]
    mos_min: float
    mos_max: float
    found_in: list[str] = field(default_factory=list)  # folders the images were found in
    notes: list[str] = field(default_factory=list)  # quirks handled while reading

    @property
    def usable(self) -> bool:
        return self.rows > 0 and self.images_missing == 0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "usable": self.usable}

    def text(self) -> str:
        lines = [f"dataset      {self.dataset}", f"root         {self.root}", f"rows         {self.rows}",
                 f"images found {self.images_found}", f"missing      {self.images_missing}",
                 f"MOS range    {self.mos_min:.4g} .. {self.mos_max:.4g}"]
        lines += [f"found in     {d}" for d in self.found_in[:5]]
        lines += [f"  missing: {m}" for m in self.missing_examples]
        lines += [f"note         {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class IQADataset:
    name: str
    root: Path
    samples: list[Sample]
    scale: LabelScale
    split_by_ref: bool = False
    notes: list[str] = field(default_factory=list)

    def report(self) -> DataReport:
        missing = [s for s in self.samples if not s.path.is_file()]
        mos = [s.mos for s in self.samples] or [float("nan")]
        found_dirs = sorted({str(s.path.parent) for s in self.samples if s.path.is_file()})
        return DataReport(self.name, str(self.root), len(self.samples), len(self.samples) - len(missing),
                          len(missing), [m.name or str(m.path) for m in missing[:5]], float(min(mos)),
                          float(max(mos)), found_dirs, list(self.notes))

    def require_complete(self) -> None:
        """Fail before the first training step, with the report, if anything is missing."""
        rep = self.report()
        if not rep.usable:
            raise DatasetError(f"dataset {self.name} at {self.root} is not usable:\n{rep.text()}")
