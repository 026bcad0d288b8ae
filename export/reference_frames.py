"""The frames every bundle carries for `edgeiqa verify` and for firmware (runtime/reference.py).

Eight frames: four of scikit-image's sample photographs (public domain or freely licensed, see
skimage.data), each clean and with one camera fault (blur, noise, under-exposure, JPEG). They are
no dataset's images, so a bundle trained on licensed photos can ship them, and they span the
score range so an error shows wherever it is. They pass through the bundle's own input loader,
so a YUV bundle gets planes at its frame size.
"""

from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageFilter

PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")
FAULTS = ("blur", "noise", "dark", "jpeg")


def _fault(img: np.ndarray, fault: str, rng: np.random.Generator) -> np.ndarray:
    if fault == "blur":
        return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(4)))
    if fault == "noise":
        return np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
    if fault == "dark":
        return (img.astype(np.float64) * 0.2).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=8)
    return np.asarray(Image.open(buf).convert("RGB"))


def reference_frames(load_input: Callable[[Any], np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """(uint8 [8, *item_shape] in the graph input's layout, names)."""
    import skimage.data

    rng = np.random.default_rng(0)
    frames, names = [], []
    for photo, fault in zip(PHOTOS, FAULTS):
        img = np.asarray(getattr(skimage.data, photo)())[..., :3]
        for name, variant in ((photo, img), (f"{photo}-{fault}", _fault(img, fault, rng))):
            frames.append(load_input(variant))
            names.append(name)
    return np.stack(frames), names


def add_reference(bundle_path: str) -> dict[str, Any]:
    """Reference frames for a bundle written before they existed (or without its checkpoint):
    each ONNX graph scores them here through the runtime, fp32 first. Updates the manifest's
    `reference` block and the sha256 of the two files."""
    import json

    from edgeiqa.runtime import cpu_class
    from edgeiqa.runtime.bundle import MANIFEST, load_bundle, sha256_file
    from edgeiqa.runtime.reference import FRAMES_FILE, SCORES_FILE, write_reference
    from edgeiqa.runtime.scorer import Scorer

    bundle = load_bundle(bundle_path)
    scores: dict[str, np.ndarray] = {}
    frames, names = None, []
    for entry in sorted(bundle.find("onnx"), key=lambda e: e.precision != "fp32"):
        with Scorer.load(bundle.path, backend="onnxruntime", device="cpu", precision=entry.precision) as scorer:
            if frames is None:
                frames, names = reference_frames(scorer.load_frame)
            scores[entry.precision] = scorer.score_array(frames)
    if frames is None or "fp32" not in scores:
        raise ValueError(f"{bundle_path}: reference frames need the bundle's fp32 graph")
    m = json.loads((bundle.path / MANIFEST).read_text())
    m["reference"] = write_reference(bundle.path, frames, names, scores, cpu_class.detect().to_dict())
    for name in (FRAMES_FILE, SCORES_FILE):
        m["files"][name] = sha256_file(bundle.path / name)
    (bundle.path / MANIFEST).write_text(json.dumps(m, indent=2) + "\n")
    return m["reference"]
