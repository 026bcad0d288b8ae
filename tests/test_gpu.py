"""GPU tests (`pytest -m gpu`): run wherever CUDA and the full TensorRT exist, skip cleanly elsewhere.

They build a TensorRT engine from the default bundle's TensorRT-legal int8 graph and check it
against ONNX Runtime on the CPU. benchmarks/gpu.sh runs them first.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu
BUNDLE = Path(__file__).resolve().parents[1] / "engines" / "edgeiqa-default"


@pytest.fixture(scope="module")
def trt_bundle(tmp_path_factory):
    from edgeiqa.export.tensorrt_build import build_engine, tensorrt_available

    ok, reason = tensorrt_available()
    if not ok:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("trt") / "b"
    shutil.copytree(BUNDLE, out)
    manifest = json.loads((out / "manifest.json").read_text())
    from edgeiqa.runtime.input_spec import InputSpec

    shape = InputSpec.from_manifest(manifest["input"]).item_shape
    entry = build_engine(out / "model.int8.onnx", out, "int8", shape, (1, 4, 8))
    from edgeiqa.runtime.bundle import sha256_file

    manifest["models"].append(entry)
    manifest["files"][entry["file"]] = sha256_file(out / entry["file"])
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def _frames(n: int = 8) -> np.ndarray:
    from edgeiqa.runtime.preprocess import load_frame
    from skimage import data

    photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    return np.stack([load_frame(photos[i % 4][:, ::(1 + i // 4)], 512, 512, "crop") for i in range(n)])


def test_tensorrt_scores_match_onnxruntime_cpu(trt_bundle):
    from edgeiqa.runtime import Scorer

    frames = _frames()
    with Scorer.load(trt_bundle, backend="tensorrt") as gpu, \
            Scorer.load(trt_bundle, backend="onnxruntime", device="cpu", precision="int8") as cpu:
        assert np.allclose(gpu.score_array(frames), cpu.score_array(frames), atol=3.0)


def test_cuda_graph_on_and_off_and_batch_sizes_agree(trt_bundle):
    from edgeiqa.runtime import Scorer

    frames = _frames()
    with Scorer.load(trt_bundle, backend="tensorrt") as plain, \
            Scorer.load(trt_bundle, backend="tensorrt", cuda_graph=True) as graphed:
        full = plain.score_array(frames)
        assert np.allclose(graphed.score_array(frames), full, atol=1e-3)
        one_by_one = np.concatenate([plain.score_array(frames[i:i + 1]) for i in range(len(frames))])
        assert np.allclose(one_by_one, full, atol=1e-2)
