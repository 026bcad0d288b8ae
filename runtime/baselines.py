"""Backends that live outside the runtime (the PyTorch eager baseline), found by entry point.

The runtime stays free of torch: a stage that can run a model another way registers a Backend
class under the `edgeiqa.baselines` entry-point group (the train stage does, as "torch"), and
`edgeiqa bench --baseline NAME` finds it here without importing that stage by name.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from edgeiqa.runtime.errors import BackendUnavailableError

GROUP = "edgeiqa.baselines"


def available_baselines() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_baseline(name: str) -> Any:
    """The registered Backend class called `name`; its constructor takes (checkpoint, precision, device)."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        have = ", ".join(available_baselines()) or "none (install edgeiqa[train] for the PyTorch baseline)"
        raise BackendUnavailableError(f"no baseline backend {name!r} is installed; registered: {have}")
    try:
        return found[0].load()
    except ImportError as err:
        raise BackendUnavailableError(f"baseline {name!r} is registered but cannot be imported: {err}") from err
