"""JSON-lines result files that survive a killed run: what is in them is skipped on resume."""

from __future__ import annotations

import json
from pathlib import Path


def already_scored(path: Path) -> set[str]:
    """Paths an earlier (possibly killed) run wrote to this JSON-lines file; a torn last line is ignored."""
    done: set[str] = set()
    if not path.is_file():
        return done
    for line in path.read_text(errors="replace").splitlines():
        try:
            done.add(json.loads(line)["path"])
        except (ValueError, KeyError, TypeError):
            continue
    return done


def ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) == b"\n"
