"""Find a dataset's images under a root however the user extracted the archive."""

from __future__ import annotations

import os
from pathlib import Path


class ImageLocator:
    """Resolve listed names to files: the dataset's usual subfolders first, then a name search.

    The fallback walks the root once and indexes files by base name, so a copy extracted into an
    unexpected folder layout is still found (and the report says where).
    """

    def __init__(self, root: Path, subdirs: tuple[str, ...] = ("",)) -> None:
        self.root = Path(root)
        self.subdirs = subdirs
        self._index: dict[str, list[Path]] | None = None

    def _build_index(self) -> dict[str, list[Path]]:
        index: dict[str, list[Path]] = {}
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                index.setdefault(f.lower(), []).append(Path(dirpath) / f)
        return index

    def find(self, name: str) -> Path:
        """The file for `name` (may include sub-folders); a non-existent path if not found."""
        for sub in self.subdirs:
            candidate = self.root / sub / name
            if candidate.is_file():
                return candidate
        if self._index is None:
            self._index = self._build_index()
        hits = self._index.get(Path(name).name.lower(), [])
        if len(hits) > 1 and "/" in name:  # prefer the hit whose tail matches the listed sub-path
            tail = [h for h in hits if h.as_posix().lower().endswith(name.lower())]
            hits = tail or hits
        return hits[0] if hits else self.root / (self.subdirs[0] if self.subdirs else "") / name
