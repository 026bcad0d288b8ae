"""One way every benchmark script hands back its numbers: the table printed, the JSON and the
markdown table written where asked (benchmarks/results/ for the committed ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(table: str, result: dict[str, Any], json_path: str | None, md_path: str | None) -> None:
    print(table)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=1) + "\n")
    if md_path:
        Path(md_path).parent.mkdir(parents=True, exist_ok=True)
        Path(md_path).write_text(table + "\n")
