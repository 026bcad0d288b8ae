"""A bundle's reference frames: a few frames in the graph input's own layout, with their scores.

The exporter writes them (export/reference_frames.py); `edgeiqa verify` scores them on the
user's machine and backend and compares with the fp32 scores recorded at export, against the same
tolerances the export checks use; firmware reads the same raw file to check its own integration.

Files beside the manifest (hashed with the rest):
- `reference.frames.u8`: raw uint8, C order, [count, *item_shape] - RGB [N, H, W, 3] or the
  camera's YUV 4:2:0 planes [N, frame_height*3/2, frame_width];
- `reference.json`: names, shape, and per precision the scores measured at export (fp32 is the
  reference every other graph is compared with), with the CPU that measured them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edgeiqa.runtime.bundle import Bundle
from edgeiqa.runtime.errors import BundleError

FRAMES_FILE = "reference.frames.u8"
SCORES_FILE = "reference.json"


@dataclass
class Reference:
    frames: np.ndarray  # uint8 [count, *item_shape]
    names: list[str]
    scores: dict[str, list[float]]  # precision -> scores measured at export
    meta: dict[str, Any]


def write_reference(folder: Path, frames: np.ndarray, names: list[str], scores: dict[str, np.ndarray],
                    scored_on: dict[str, Any]) -> dict[str, Any]:
    """Write both files; returns the manifest's "reference" block."""
    frames = np.ascontiguousarray(frames, np.uint8)
    (folder / FRAMES_FILE).write_bytes(frames.tobytes())
    meta = {"frames": FRAMES_FILE, "count": int(len(frames)), "shape": list(frames.shape), "dtype": "uint8",
            "names": names, "scores": {k: [float(x) for x in v] for k, v in scores.items()},
            "scored_on": scored_on}
    (folder / SCORES_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return {"frames": FRAMES_FILE, "scores": SCORES_FILE, "count": meta["count"], "shape": meta["shape"]}


def load_reference(bundle: Bundle) -> Reference:
    block = bundle.manifest.get("reference")
    if not block:
        raise BundleError(f"{bundle.path} has no reference frames (exported before they existed); re-export it "
                          "with this edgeiqa, or verify on your own photos with --images")
    meta_path, frames_path = bundle.path / block["scores"], bundle.path / block["frames"]
    for f in (meta_path, frames_path):
        if not f.is_file():
            raise BundleError(f"{bundle.path}: {f.name} is missing; copy the whole bundle folder")
    meta = json.loads(meta_path.read_text())
    shape = tuple(int(x) for x in meta["shape"])
    raw = np.fromfile(frames_path, np.uint8)
    if raw.size != int(np.prod(shape)):
        raise BundleError(f"{frames_path} holds {raw.size} bytes, expected {int(np.prod(shape))} for uint8 "
                          f"{list(shape)}; re-copy the bundle")
    return Reference(raw.reshape(shape), list(meta["names"]), dict(meta["scores"]), meta)
