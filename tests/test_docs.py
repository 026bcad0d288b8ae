"""The documentation stays true: the CLI page is the parsers' own output, the site builds with
--strict (no broken link or anchor), and every code block marked runnable runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARK = "<!-- runnable -->"


def test_cli_reference_is_current():
    from edgeiqa.cli_reference import reference

    assert (DOCS / "cli.md").read_text() == reference(), \
        "docs/cli.md is stale: python -m edgeiqa.cli_reference > docs/cli.md"


def test_the_site_builds_strict(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (pip install 'edgeiqa[docs]')")
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").is_file()


def runnable_blocks() -> list[tuple[str, str, str]]:
    """(page, language, code) of every fenced block right after a `<!-- runnable -->` line."""
    out = []
    for page in sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]:
        text = page.read_text()
        for m in re.finditer(re.escape(MARK) + r"\n```(\w+)\n(.*?)```", text, flags=re.S):
            out.append((page.name, m.group(1), m.group(2)))
    return out


BLOCKS = runnable_blocks()


def test_some_blocks_are_marked_runnable():
    assert len(BLOCKS) >= 3 and {lang for _, lang, _ in BLOCKS} >= {"bash", "python"}


@pytest.mark.parametrize("page, lang, code", BLOCKS, ids=[f"{p}:{i}" for i, (p, _, _) in enumerate(BLOCKS)])
def test_runnable_block_runs(page, lang, code, tmp_path):
    """Each block runs in a folder holding photo.jpg (a real photograph) with this venv first on PATH."""
    import skimage.data
    from PIL import Image

    Image.fromarray(skimage.data.coffee()).save(tmp_path / "photo.jpg", quality=92)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if lang == "bash":
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
    else:
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
    assert done.returncode == 0, f"{page}: {done.stderr[-2000:]}"
    assert shutil.which("edgeiqa", path=env["PATH"])
