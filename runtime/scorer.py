"""The runtime's public face: load a bundle, score images. No torch anywhere below this."""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np
from edgeiqa.runtime.backends.base import Backend
from edgeiqa.runtime.batching import run_fixed_batch
from edgeiqa.runtime.bundle import Bundle, attribute_names, load_bundle, verify_files
from edgeiqa.runtime.errors import BackendUnavailableError, BundleError, ImageDecodeError
from edgeiqa.runtime.pipeline import prefetch_batches
from edgeiqa.runtime.precision_choice import auto_onnx_model, warn_if_inexact
from edgeiqa.runtime.preprocess import ImageInput, load_frame
from edgeiqa.runtime.thresholds import category, percentile
from edgeiqa.runtime.yuv import rgb_to_yuv420

BackendName = Literal["auto", "onnxruntime", "tensorrt"]


@dataclass(frozen=True)
class ScoreResult:
    """One input's outcome: a score on the bundle's MOS scale, or why there is none."""

    source: str
    score: float | None = None
    error: str | None = None
    attributes: dict[str, float] | None = None  # the camera-fault attributes, when the bundle has them
    category: str | None = None  # bad .. excellent, when the bundle records its rating scale's categories
    percentile: float | None = None  # share of rated reference photos scoring below this one

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def reason(self) -> str | None:
        """The dominant camera fault (reasons.py), or None when none stands out or there are no attributes."""
        from edgeiqa.runtime.reasons import dominant_reason

        return dominant_reason(self.attributes) if self.attributes else None

    def to_dict(self) -> dict[str, Any]:
        if not self.ok:
            return {"path": self.source, "error": self.error}
        out: dict[str, Any] = {"path": self.source, "score": self.score}
        for key in ("category", "percentile", "attributes", "reason"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _describe_item(item: ImageInput, index: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return f"<{type(item).__name__} #{index}>"


def _padded_chunks(frames: np.ndarray, step: int, pad: bool) -> Iterator[np.ndarray]:
    """Chunks of `step` frames; with `pad`, the last is filled up with copies of its last frame."""
    for i in range(0, len(frames), step):
        chunk = frames[i:i + step]
        if pad and len(chunk) < step:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
        yield chunk


def rank_results(results: Sequence[ScoreResult]) -> list[int]:
    """Indices of the scored results, best first (failed ones are left out)."""
    return sorted((i for i, r in enumerate(results) if r.ok), key=lambda i: -float(results[i].score))  # type: ignore[arg-type]


class Scorer:
    def __init__(self, bundle: Bundle, backend: Backend) -> None:
        self.bundle = bundle
        self.backend = backend
        self.input_spec = spec = bundle.input_spec
        self.height, self.width = spec.height, spec.width
        self.float_input = spec.float_input
        self.resize_rule, self.interpolation = spec.resize, spec.interpolation
        self.static_batch = spec.batch if isinstance(spec.batch, int) else 0
        self.pixel_format = spec.pixel_format
        # One item of score_array: a uint8 RGB frame (a float-input graph gets it normalised here),
        # or a YUV bundle's planes at the camera's size.
        self.item_shape = spec.loaded_shape
        if spec.is_yuv:
            self.frame_height, self.frame_width = spec.frame_size
            self.yuv = spec.yuv
        self.attribute_names = attribute_names(bundle.manifest)
        self._lock = threading.Lock()
        self._closed = False
        self._mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)

    @classmethod
    def load(cls, bundle: str | Path = "default", backend: BackendName = "auto", device: str = "auto",
             precision: str | None = None, threads: int = 0, cuda_graph: bool = False, verify: bool = True
             ) -> Scorer:
        """Open a bundle (default: the model installed with the package) on the best (or the named) backend.

        backend="auto" picks TensorRT only when the library, a GPU and an engine built for this
        GPU and TensorRT version are all present; otherwise ONNX Runtime.
        """
        b = load_bundle(bundle, verify=False)  # each backend checks the sha256 of the files it will use
        if backend not in ("auto", "onnxruntime", "tensorrt"):
            raise ValueError(f"unknown backend {backend!r}: auto, onnxruntime or tensorrt")
        if backend in ("auto", "tensorrt") and device != "cpu" and b.find("tensorrt"):
            from edgeiqa.runtime.backends import tensorrt_backend

            if backend == "tensorrt" or tensorrt_backend.available():
                try:
                    dev = int(device.split(":")[1]) if device.startswith("cuda:") else 0
                    return cls(b, tensorrt_backend.TensorRTBackend(b, precision, dev, cuda_graph, verify))
                except (BackendUnavailableError, BundleError, RuntimeError) as err:
                    if backend == "tensorrt":
                        raise
                    warnings.warn(f"TensorRT backend unavailable ({err}); falling back to ONNX Runtime",
                                  RuntimeWarning, stacklevel=2)
        if backend == "tensorrt":
            if not b.find("tensorrt"):
                raise BundleError(f"{b.path} has no TensorRT engine; build one on the target device with "
                                  "`edgeiqa export CHECKPOINT --out BUNDLE --trt`")
            raise BackendUnavailableError("TensorRT backend asked for, but TensorRT or a CUDA device is missing")
        from edgeiqa.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

        onnx_models = b.find("onnx")
        if precision is None:
            onnx_models = auto_onnx_model(onnx_models, device)
        else:
            warn_if_inexact(precision, device)
        entries = [m for m in onnx_models if precision is None or m.precision == precision]
        if not entries:
            have = ", ".join(sorted({m.precision for m in b.find("onnx")})) or "none"
            raise BundleError(f"{b.path} has no ONNX model of precision {precision or 'any'} (has: {have}); "
                              "re-export with --precision")
        if verify:
            verify_files(b, only=[n for n in (entries[0].file, entries[0].info.get("data_file")) if n])
        return cls(b, OnnxRuntimeBackend(b, entries[0], device, threads))

    # -- scoring ----------------------------------------------------------------------------
    def _model_input(self, frames: np.ndarray) -> np.ndarray:
        if not self.float_input:
            return frames
        x = frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        return (x - self._mean) / self._std

    def _check_frames(self, frames: np.ndarray) -> None:
        if frames.dtype != np.uint8 or frames.ndim != 1 + len(self.item_shape) or frames.shape[1:] != self.item_shape:
            what = "RGB" if self.pixel_format == "rgb" else f"{self.pixel_format.upper()} planes"
            raise ValueError(f"score_array takes {what} uint8 [N, {', '.join(map(str, self.item_shape))}]; got "
                             f"{frames.dtype} {list(frames.shape)} (use score() to decode and resize)")

    def score_array(self, frames: np.ndarray) -> np.ndarray:
        """Firmware fast path: the graph's own input, no decode, no resize.

        RGB bundles take uint8 [N, H, W, 3] at the model's size; NV12/I420 bundles take the
        camera's uint8 planes [N, frame_height*3/2, frame_width].
        """
        frames = np.asarray(frames)
        self._check_frames(frames)
        if len(frames) == 0:
            return np.zeros((0,), np.float32)
        frames = self._model_input(np.ascontiguousarray(frames))
        # One run at a time: the TensorRT backend owns one set of pinned buffers and one stream, so
        # concurrent calls from several threads are serialised here rather than corrupting them.
        with self._lock:
            if self._closed:
                raise RuntimeError("this Scorer was closed")
            if self.static_batch:  # a fixed-batch graph: chunk and pad (edgeiqa.runtime.batching)
                return np.asarray(run_fixed_batch(self.backend.run, frames, self.static_batch), np.float32)
            return np.asarray(self.backend.run(frames), np.float32)

    def score_array_with_attributes(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """`score_array` plus the attributes [N, K] (None when the bundle has none)."""
        if not self.attribute_names or not hasattr(self.backend, "run_with_attributes"):
            return self.score_array(frames), None
        frames = np.asarray(frames)
        self._check_frames(frames)
        if len(frames) == 0:
            return np.zeros((0,), np.float32), np.zeros((0, len(self.attribute_names)), np.float32)
        frames = self._model_input(np.ascontiguousarray(frames))
        with self._lock:
            if self._closed:
                raise RuntimeError("this Scorer was closed")
            step = self.static_batch or len(frames)
            parts = [self.backend.run_with_attributes(c) for c in _padded_chunks(frames, step, bool(self.static_batch))]
        n = len(frames)
        scores = np.concatenate([p[0] for p in parts])[:n].astype(np.float32)
        attrs = np.concatenate([p[1] for p in parts])[:n].astype(np.float32)
        return scores, attrs

    def load_frame(self, item: ImageInput) -> np.ndarray:
        """Any image -> one graph input (for a YUV bundle: the crop rule to the camera's frame size,
        then the runtime's RGB -> YUV conversion; planes of the right shape pass as they are)."""
        if self.pixel_format == "rgb":
            return load_frame(item, self.height, self.width, self.resize_rule, self.interpolation)  # type: ignore
        if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.shape == self.item_shape:
            return item
        rgb = load_frame(item, self.frame_height, self.frame_width, self.resize_rule, self.interpolation)  # type: ignore
        return rgb_to_yuv420(rgb, *self.yuv)

    def iter_scores(self, items: Sequence[ImageInput], batch_size: int = 16, workers: int | None = None,
                    names: Sequence[str] | None = None) -> Iterator[ScoreResult]:
        """Score in order, decoding the next batch while this one runs; unreadable items get errors.

        `names` labels the results (default: the path, or the item's type and index)."""
        for start, loaded in prefetch_batches(items, self.load_frame, batch_size, workers):
            good = [(i, f) for i, f in enumerate(loaded) if isinstance(f, np.ndarray)]
            scores, attrs = (self.score_array_with_attributes(np.stack([f for _, f in good])) if good
                             else (np.zeros(0), None))
            by_index = {i: k for k, (i, _) in enumerate(good)}
            for i, f in enumerate(loaded):
                name = names[start + i] if names is not None else _describe_item(items[start + i], start + i)
                if i in by_index and np.isfinite(scores[by_index[i]]):
                    yield self._result(name, float(scores[by_index[i]]),
                                       attrs[by_index[i]] if attrs is not None else None)
                elif i in by_index:
                    yield ScoreResult(name, error="the model returned a non-finite score")
                else:
                    yield ScoreResult(name, error=str(f))

    def _result(self, name: str, score: float, attrs: np.ndarray | None) -> ScoreResult:
        manifest = self.bundle.manifest
        return ScoreResult(name, score,
                           attributes={k: round(float(v), 4) for k, v in zip(self.attribute_names, attrs)}
                           if attrs is not None else None,
                           category=category(score, manifest), percentile=percentile(score, manifest))

    def score(self, items: ImageInput | Sequence[ImageInput], batch_size: int = 16, workers: int | None = None
              ) -> list[ScoreResult]:
        """Paths, bytes, PIL images or uint8 HxWx3 arrays (or one of them) -> one result each.

        One array holding a batch - [N, H, W, 3], or a YUV bundle's [N, frame_height*3/2, frame_width]
        planes - is split into its items.
        """
        if isinstance(items, (str, os.PathLike, bytes, bytearray, memoryview)) or not isinstance(items, Sequence):
            planes = self.pixel_format != "rgb" and getattr(items, "shape", ())[1:] == self.item_shape
            if isinstance(items, np.ndarray) and (items.ndim == 4 or planes):
                items = list(items)
            else:
                items = [items]  # type: ignore[list-item]
        return list(self.iter_scores(list(items), batch_size, workers))

    def best(self, frames: ImageInput | Sequence[ImageInput], k: int = 1, batch_size: int = 16
             ) -> list[tuple[int, float]]:
        """The k best frames of a burst as (index, score), best first; unreadable frames never win.

        Takes what `score` takes (paths, bytes, PIL images, uint8 arrays, or one [N, H, W, 3] array).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        results = self.score(frames, batch_size)
        return [(i, float(results[i].score)) for i in rank_results(results)[:k]]  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        return {**self.backend.describe(), "bundle": str(self.bundle.path), "input": f"{self.height}x{self.width}"}

    def close(self) -> None:
        """Free the backend's session, engine and buffers; the Scorer is unusable afterwards."""
        with self._lock:
            close = getattr(self.backend, "close", None)
            if close is not None and not self._closed:
                close()
            self._closed = True

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ImageDecodeError", "ScoreResult", "Scorer"]
