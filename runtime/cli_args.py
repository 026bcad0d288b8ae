"""Argument types shared by the command-line tools (a bad value is one line, not a traceback), and
flags generated from an options dataclass (`option`, `add_dataclass_flags`)."""

from __future__ import annotations

import argparse
import typing
from dataclasses import field, fields, is_dataclass
from typing import Any, Callable


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


def batch_profile(text: str) -> tuple[int, int, int]:
    """'1,8,32' -> (1, 8, 32): a TensorRT optimisation profile's min,opt,max batch."""
    values = positive_ints(text)
    if len(values) != 3 or not values[0] <= values[1] <= values[2]:
        raise argparse.ArgumentTypeError(f"takes MIN,OPT,MAX with MIN <= OPT <= MAX, e.g. 1,8,32; got {text!r}")
    return values  # type: ignore[return-value]


def option(default: Any, help: str, *, flag: str | None = None, parse: Callable[[str], Any] | None = None,
           choices: Any = None, metavar: str | None = None) -> Any:
    """A dataclass field that is also a command-line flag: its help lives beside the field, so the
    options a library caller sets and the flags a shell user types cannot drift apart. A bool
    field becomes a switch that flips its default (`flag` names it: --trt, --no-check)."""
    return field(default=default, metadata={"help": help, "flag": flag, "parse": parse, "choices": choices,
                                            "metavar": metavar})


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One flag per `option` field of `cls`; a field holding another dataclass becomes an argument
    group titled by that class's docstring. Fields without flag metadata stay programmatic."""
    target: Any = parser
    if prefix:
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        title, _, rest = doc.partition(":")
        target = parser.add_argument_group(title.strip(), " ".join(rest.split()) or None)
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if is_dataclass(hints[f.name]):
            add_dataclass_flags(parser, hints[f.name], f"{prefix}{f.name}.")
            continue
        md = f.metadata
        if "help" not in md:
            continue
        flag = md["flag"] or "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": prefix + f.name, "default": f.default, "help": md["help"]}
        if hints[f.name] is bool:
            target.add_argument(flag, action="store_false" if f.default else "store_true", **kw)
            continue
        if md["parse"]:
            kw["type"] = md["parse"]
        if md["choices"]:
            kw["choices"] = list(md["choices"])
        if md["metavar"]:
            kw["metavar"] = md["metavar"]
        if f.default is not None and f.default != "":
            shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
            kw["help"] += f" (default: {shown})"
        target.add_argument(flag, **kw)


def dataclass_from_flags(cls: type, args: argparse.Namespace, prefix: str = "", **given: Any) -> Any:
    """The `cls` value the flags of add_dataclass_flags describe; `given` sets top-level fields
    the command computes itself (e.g. a file the flag names, read)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if is_dataclass(hints[f.name]):
            values[f.name] = dataclass_from_flags(hints[f.name], args, f"{prefix}{f.name}.")
        elif hasattr(args, prefix + f.name):
            values[f.name] = getattr(args, prefix + f.name)
    return cls(**{**values, **given})
