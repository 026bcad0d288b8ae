"""The bundle contract: manifest.json + model files, shared by export (writer) and runtime (reader).

I/O names, the schema version and the checks live here once, so the exporter and the runtime
cannot drift. The runtime refuses what it cannot trust, with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeiqa.runtime.errors import BundleError

if TYPE_CHECKING:
    from edgeiqa.runtime.input_spec import InputSpec

SCHEMA = "edgeiqa-bundle"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
INPUT_NAME = "frames"  # uint8 [N, H, W, 3] (or float [N, 3, H, W] with --float-input)
OUTPUT_NAME = "score"  # float32 [N], on the bundle's MOS scale, higher = better
ATTRIBUTES_NAME = "attributes"  # float32 [N, K], second output when present; manifest output.attributes names K
PRECISIONS = ("fp32", "fp16", "int8", "int8-cpu", "int8-cpu-avx2", "int8-dynamic")
# Graphs TensorRT must never be handed: uint8 activations (U8S8) and ONNX Runtime's dynamic quantisation.
CPU_ONLY_PRECISIONS = ("int8-cpu", "int8-cpu-avx2", "int8-dynamic")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelEntry:
    """One model file of the bundle (an ONNX graph or a TensorRT engine)."""

    file: str
    format: str  # "onnx" | "tensorrt"
    precision: str
    info: dict[str, Any]

    @property
    def tensorrt_version(self) -> str | None:
        return self.info.get("tensorrt_version")

    @property
    def compute_capability(self) -> str | None:
        return self.info.get("compute_capability")


@dataclass
class Bundle:
    path: Path
    manifest: dict[str, Any]

    @property
    def input(self) -> dict[str, Any]:
        return self.manifest["input"]

    @property
    def input_spec(self) -> InputSpec:
        """The input block as a typed value (runtime/input_spec.py)."""
        from edgeiqa.runtime.input_spec import InputSpec

        return InputSpec.from_manifest(self.input)

    @property
    def height(self) -> int:
        return int(self.input["height"])

    @property
    def width(self) -> int:
        return int(self.input["width"])

    @property
    def models(self) -> list[ModelEntry]:
        return [ModelEntry(m["file"], m["format"], m["precision"], m) for m in self.manifest["models"]]

    def find(self, fmt: str, precision: str | None = None) -> list[ModelEntry]:
        return [m for m in self.models if m.format == fmt and (precision is None or m.precision == precision)]

    def file(self, entry: ModelEntry) -> Path:
        return self.path / entry.file


def attribute_names(manifest: dict[str, Any]) -> list[str]:
    """The names of the graph's `attributes` columns, or [] for a score-only bundle."""
    return list(manifest.get("output", {}).get("attributes", {}).get("names", []))


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Read and check a bundle: schema, required fields and (by default) every file's sha256.
    "default" is the model installed with the package (runtime/default_model.py)."""
    from edgeiqa.runtime.default_model import resolve

    path = resolve(path)
    manifest_path = path / MANIFEST
    if not path.is_dir() or not manifest_path.is_file():
        raise BundleError(f"{path} is not an edgeiqa bundle (no {MANIFEST}); create one with `edgeiqa export "
                          "CHECKPOINT --out DIR`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{manifest_path} is not valid JSON ({err}); re-export the bundle") from err
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise BundleError(f"{manifest_path} is not an edgeiqa manifest (schema {manifest.get('schema')!r})"
                          if isinstance(manifest, dict) else f"{manifest_path} is not an edgeiqa manifest")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(f"bundle schema version {version!r} is not supported by this runtime (expects "
                          f"{SCHEMA_VERSION}); upgrade edgeiqa or re-export the bundle with this version")
    for key in ("input", "output", "score", "models", "files"):
        if key not in manifest:
            raise BundleError(f"{manifest_path} lacks {key!r}; re-export the bundle")
    bundle = Bundle(path, manifest)
    if verify:
        verify_files(bundle)
    return bundle


def verify_files(bundle: Bundle, only: list[str] | None = None) -> None:
    """Every listed file exists and matches its sha256 (model files + their external data)."""
    files: dict[str, str] = bundle.manifest["files"]
    for entry in bundle.manifest["models"]:
        for name in (entry["file"], entry.get("data_file")):
            if name and name not in files:
                raise BundleError(f"{bundle.path}: {name} has no sha256 in the manifest; re-export the bundle")
    for name, digest in files.items():
        if only is not None and name not in only:
            continue
        f = bundle.path / name
        if not f.is_file():
            raise BundleError(f"{bundle.path}: {name} is missing; copy the whole bundle folder")
        if sha256_file(f) != digest:
            raise BundleError(f"{bundle.path}: {name} does not match its sha256 in the manifest (corrupt or "
                              "modified); re-copy or re-export the bundle")
