"""Argument types shared by the command-line tools: a bad value is one line, not a traceback."""

from __future__ import annotations

import argparse


def positive_ints(text: str) -> tuple[int, ...]:
    """'1,8,32' -> (1, 8, 32); anything else is an argparse error naming the bad part."""
    parts = [x.strip() for x in text.split(",") if x.strip()]
    try:
        values = tuple(int(x) for x in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def frame_size(text: str) -> tuple[int, int]:
    """'WxH' (as cameras name sizes: 1920x1080) -> (height, width)."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes WIDTHxHEIGHT, e.g. 1920x1080; got {text!r}") from None
    if w < 2 or h < 2:
        raise argparse.ArgumentTypeError(f"WIDTHxHEIGHT must both be >= 2; got {text!r}")
    return h, w
