"""Decisions over a stream of frames: the best frame of each window, and frames too poor to keep.

A camera does not score a folder; it sees frames one after another and must decide as they come.
`FrameSelector` scores each frame as it is pushed (one model run, no look-ahead), reports at once
when a frame falls under the quality threshold, and when a window closes - every N frames, or
every T milliseconds of timestamps - reports the best frame of that window with the frame itself,
so the caller keeps one buffer, not the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class FrameEvent:
    kind: Literal["best", "poor", "unreadable"]
    index: int  # position of the frame in the stream
    score: float | None
    window: tuple[int, int] | None = None  # first and last index of the window ("best" only)
    frame: Any = field(default=None, repr=False)  # the frame as pushed ("best" only)
    error: str | None = None
    reason: str | None = None  # "poor" only: the dominant camera fault, when the bundle has attributes


class FrameSelector:
    def __init__(self, scorer: Any, window: int | None = None, window_ms: float | None = None,
                 threshold: float | str | None = None) -> None:
        """threshold: a score, a category ('fair') or a percentile ('p10'), as runtime/thresholds.py reads them.

        With a threshold, a frame the attributes call broken is reported as poor whatever its score."""
        if (window is None) == (window_ms is None):
            raise ValueError("give exactly one of window (frames) or window_ms (milliseconds)")
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1 frame, got {window}")
        if window_ms is not None and window_ms <= 0:
            raise ValueError(f"window_ms must be > 0, got {window_ms}")
        if threshold is not None:
            from edgeiqa.runtime.thresholds import parse_threshold

            threshold = parse_threshold(threshold, getattr(getattr(scorer, "bundle", None), "manifest", {}))
        self.scorer, self.window, self.window_ms, self.threshold = scorer, window, window_ms, threshold
        self._next = 0  # index of the next frame
        self._start_index: int | None = None
        self._start_ms: float | None = None
        self._last_ms: float | None = None
        self._best: tuple[int, float, Any] | None = None

    def push(self, frame: Any, timestamp_ms: float | None = None) -> list[FrameEvent]:
        """Score one frame (anything Scorer.score takes); returns the events it caused, in order."""
        if self.window_ms is not None and timestamp_ms is None:
            raise ValueError("a time window needs each frame's timestamp_ms")
        if timestamp_ms is not None and self._last_ms is not None and timestamp_ms < self._last_ms:
            raise ValueError(f"timestamps must not go back: {timestamp_ms} after {self._last_ms}")
        events: list[FrameEvent] = []
        index = self._next
        self._next += 1
        if self.window_ms is not None and self._start_ms is not None \
                and timestamp_ms - self._start_ms >= self.window_ms:  # type: ignore[operator]
            events += self._close(index - 1)
        if self._start_index is None:
            self._start_index, self._start_ms = index, timestamp_ms
        self._last_ms = timestamp_ms
        result = self.scorer.score([frame])[0]
        if not result.ok:
            events.append(FrameEvent("unreadable", index, None, error=result.error))
        else:
            reason = getattr(result, "reason", None)
            if self.threshold is not None and (result.score < self.threshold or reason == "broken"):
                events.append(FrameEvent("poor", index, result.score, reason=reason))
            if self._best is None or result.score > self._best[1]:
                self._best = (index, result.score, frame)
        if self.window is not None and index - self._start_index + 1 >= self.window:
            events += self._close(index)
        return events

    def flush(self) -> list[FrameEvent]:
        """Close the open window at the end of the stream."""
        return self._close(self._next - 1) if self._start_index is not None else []

    def _close(self, last: int) -> list[FrameEvent]:
        first, best = self._start_index, self._best
        self._start_index, self._start_ms, self._best = None, None, None
        if best is None or first is None:  # every frame of the window was unreadable
            return []
        return [FrameEvent("best", best[0], best[1], window=(first, last), frame=best[2])]
