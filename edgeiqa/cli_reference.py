"""The CLI reference page (docs/cli.md), generated from the argparse parsers themselves.

    python -m edgeiqa.cli_reference > docs/cli.md

tests/test_docs.py regenerates it and fails when the committed page differs, so the reference
cannot drift from the options the commands really take.
"""

from __future__ import annotations

import contextlib
import io
import os

from edgeiqa.cli import COMMANDS, main

WIDTH = "100"  # argparse wraps to $COLUMNS: fixed, so the page is the same on every terminal


def command_help(command: str) -> str:
    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([command, "--help"])
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue().rstrip()


def reference() -> str:
    lines = ["# CLI reference", "",
             "Generated from the commands' own parsers by `python -m edgeiqa.cli_reference > docs/cli.md`; "
             "a test fails when this page is stale.", ""]
    lines += ["| command | extra it needs | what |", "|---|---|---|"]
    for name, (_, extra, summary) in COMMANDS.items():
        lines.append(f"| [`{name}`](#edgeiqa-{name}) | `{extra}` | {summary} |")
    for name in COMMANDS:
        lines += ["", f"## edgeiqa {name}", "", "```text", command_help(name), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
