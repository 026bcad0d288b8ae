"""The default model is found by name: no --bundle, no path, no clone (runtime/default_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgeiqa.runtime import Scorer
from edgeiqa.runtime.bundle import load_bundle
from edgeiqa.runtime.default_model import default_bundle_path, resolve

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_default_is_the_committed_bundle():
    assert default_bundle_path().resolve() == (ROOT / "engines" / "edgeiqa-default").resolve()
    assert resolve(None) == resolve("default") == default_bundle_path()
    assert resolve("some/dir") == Path("some/dir")
    assert load_bundle("default").manifest["model"]["backbone"] == "efficientnet-lite0"


def test_scorer_load_and_the_cli_need_no_bundle(photo, capsys):
    from edgeiqa.cli import main

    with Scorer.load() as scorer:
        (result,) = scorer.score([photo])
    assert result.ok and scorer.bundle.path == default_bundle_path()
    assert main(["score", str(photo), "--json", "--quiet"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["score"] == pytest.approx(result.score, abs=1e-3)
    assert main(["info", "default"]) == 0


def test_the_wheel_carries_every_file_of_the_default_bundle():
    """pyproject's package-data must list every kind of file the bundle has."""
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "edgeiqa.default_model"]
    for name in load_bundle("default").manifest["files"]:
        assert any(Path(name).match(p) for p in patterns), name


@pytest.mark.parametrize("name", ["default", None])
def test_verify_runs_on_the_default_by_name(name):
    from edgeiqa.runtime.verify import verify_bundle

    if "reference" not in load_bundle("default").manifest:
        pytest.skip("the committed default bundle has no reference frames yet")
    rows, _ = verify_bundle(name or "default", backend="onnxruntime")
    assert rows and all(r.error is None for r in rows)
