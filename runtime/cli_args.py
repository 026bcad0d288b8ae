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


def comma_list(text: str) -> tuple[str, ...]:
    """'fp16, int8' -> ('fp16', 'int8'): the one comma-list parser of every command."""
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def frame_size(text: str) -> tuple[int, int]:
    """'WxH' (as cameras name sizes: 1920x1080) -> (height, width)."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes WIDTHxHEIGHT, e.g. 1920x1080; got {text!r}") from None
    if w < 2 or h < 2:
        raise argparse.ArgumentTypeError(f"WIDTHxHEIGHT must both be >= 2; got {text!r}")
    return h, w


def add_yuv_input_args(p: argparse.ArgumentParser, what: str) -> None:
    """--yuv / --size / --yuv-matrix / --yuv-range, the same for every command that reads raw frames."""
    p.add_argument("--yuv", choices=["nv12", "i420"], default=None,
                   help=f"the paths are raw 4:2:0 .yuv files ({what}) of --size")
    p.add_argument("--size", type=frame_size, default=None, metavar="WxH", help="with --yuv: the frame size")
    p.add_argument("--yuv-matrix", default="bt601", choices=["bt601", "bt709"], help="with --yuv")
    p.add_argument("--yuv-range", default="limited", choices=["limited", "full"], help="with --yuv")
