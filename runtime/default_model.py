"""The default model, installed with the package: `Scorer.load()`, `Scorer.load("default")`,
`edgeiqa score photo.jpg`, `edgeiqa info default`.

The wheel carries engines/edgeiqa-default as the package `edgeiqa.default_model`
(pyproject.toml maps the folder), so a `pip install edgeiqa[cpu]` scores photos with no clone and
no download; its files are checked against their sha256 like any bundle's.
"""

from __future__ import annotations

from pathlib import Path

from edgeiqa.runtime.errors import BundleError

DEFAULT_NAME = "default"


def default_bundle_path() -> Path:
    from importlib import resources

    try:
        folder = Path(str(resources.files("edgeiqa.default_model")))
    except ModuleNotFoundError as err:
        raise BundleError("this edgeiqa was installed without its default model (edgeiqa.default_model); "
                          "pass --bundle DIR or reinstall the wheel") from err
    if not (folder / "manifest.json").is_file():
        raise BundleError(f"the default model's folder {folder} has no manifest.json; reinstall edgeiqa")
    return folder


def resolve(bundle: str | Path | None) -> Path:
    """A bundle argument as a folder: None or "default" is the installed default model."""
    if bundle is None or str(bundle) == DEFAULT_NAME:
        return default_bundle_path()
    return Path(bundle)
