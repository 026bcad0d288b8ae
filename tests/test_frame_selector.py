"""FrameSelector over streams made from real photos, with the default bundle."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from edgeiqa.runtime import FrameSelector, Scorer
from skimage import data
from test_default_bundle import BUNDLE, _burst

SHARP = 2  # index of the sharp frame within each _burst


@pytest.fixture(scope="module")
def scorer():
    with Scorer.load(BUNDLE, backend="onnxruntime") as s:
        yield s


@pytest.fixture(scope="module")
def stream():
    """Three shots of five frames each, one sharp frame per shot, as a camera would deliver them."""
    return [f for name in ("chelsea", "coffee", "astronaut") for f in _burst(getattr(data, name)())]


def test_each_window_keeps_its_sharp_frame_and_poor_frames_are_reported(scorer, stream):
    scores = [r.score for r in scorer.score(stream)]
    threshold = float(np.median(scores))
    selector = FrameSelector(scorer, window=5, threshold=threshold)
    events = [e for k, f in enumerate(stream) for e in selector.push(f)] + selector.flush()
    best = [e for e in events if e.kind == "best"]
    assert [(e.index, e.window) for e in best] == [(SHARP, (0, 4)), (5 + SHARP, (5, 9)), (10 + SHARP, (10, 14))]
    assert all(e.frame is stream[e.index] for e in best)  # the caller gets the frame to keep
    poor = sorted(e.index for e in events if e.kind == "poor")
    assert poor == [i for i, s in enumerate(scores) if s < threshold]
    assert all(abs(e.score - scores[e.index]) < 1e-3 for e in events if e.score is not None)


def test_time_windows_follow_the_timestamps(scorer, stream):
    selector = FrameSelector(scorer, window_ms=160)  # 5 frames at 30 fps (33.3 ms apart)
    events = [e for k, f in enumerate(stream) for e in selector.push(f, timestamp_ms=k * 1000 / 30)]
    events += selector.flush()
    assert [(e.index, e.window) for e in events if e.kind == "best"] == [(2, (0, 4)), (7, (5, 9)), (12, (10, 14))]
    with pytest.raises(ValueError, match="timestamp"):
        FrameSelector(scorer, window_ms=100).push(stream[0])
    sel = FrameSelector(scorer, window_ms=100)
    sel.push(stream[0], 50.0)
    with pytest.raises(ValueError, match="must not go back"):
        sel.push(stream[1], 10.0)
    with pytest.raises(ValueError, match="exactly one"):
        FrameSelector(scorer)


def test_an_unreadable_frame_is_an_event_and_never_wins(scorer, stream):
    selector = FrameSelector(scorer, window=3)
    events = selector.push(b"not a frame") + selector.push(stream[0]) + selector.push(stream[SHARP])
    assert [e.kind for e in events] == ["unreadable", "best"] and events[1].index == 2
    assert selector.flush() == []


def test_select_cli_streams_a_folder_of_frames(tmp_path: Path, stream):
    for i, frame in enumerate(stream[:10]):
        frame.save(tmp_path / f"f{i:02d}.jpg", quality=95)
    res = subprocess.run([sys.executable, "-m", "edgeiqa", "select", "--bundle", str(BUNDLE), "--window", "5",
                          "--json", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    best = [json.loads(x) for x in res.stdout.splitlines() if '"best"' in x]
    assert [Path(b["path"]).name for b in best] == ["f02.jpg", "f07.jpg"]
    assert [Path(p).name for p in best[1]["window"]] == ["f05.jpg", "f09.jpg"]
