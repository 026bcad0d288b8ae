"""One way for each job: predict runs the runtime's Scorer loop, one frame loader, a runtime that
never imports the train stage, and the eager baseline found by entry point."""

import ast
import io
from pathlib import Path

import numpy as np
import pytest
from edgeiqa.runtime.errors import ImageDecodeError
from edgeiqa.runtime.pipeline import prefetch_batches, prefetch_chunks, stack_or_raise
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _imports(py: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(py.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_runtime_never_imports_the_train_or_export_stage():
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p)
                                                  if m.startswith(("edgeiqa.train", "edgeiqa.export", "torch")))
                 for p in sorted((ROOT / "runtime").rglob("*.py"))}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_eager_baseline_is_found_by_entry_point():
    from edgeiqa.runtime.baselines import available_baselines, load_baseline
    from edgeiqa.runtime.errors import BackendUnavailableError
    from edgeiqa.train.eager_backend import TorchEagerBackend

    assert "torch" in available_baselines()
    assert load_baseline("torch") is TorchEagerBackend
    with pytest.raises(BackendUnavailableError, match="no baseline backend 'jax'"):
        load_baseline("jax")


def test_predict_is_the_scorer_loop_on_the_eager_backend(trained, bundle, photo):
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.scorer import ScoreResult
    from edgeiqa.train.predict import CheckpointPredictor

    _, ckpt = trained
    pred = CheckpointPredictor(ckpt)
    assert isinstance(pred.scorer, Scorer) and pred.scorer.backend is pred.backend
    items = [str(photo), None, memoryview(photo.read_bytes()), b"not an image", [[1, 2]]]
    results = pred.predict(items)  # the runtime's per-item errors, never an exception
    assert all(isinstance(r, ScoreResult) for r in results)
    assert [r.ok for r in results] == [True, False, True, False, False]
    assert results[0].score == pytest.approx(results[2].score, abs=1e-4)
    # The exported fp32 graph agrees with the eager model on the same file through the same loop.
    with Scorer.load(bundle, precision="fp32") as onnx:
        assert onnx.score([photo])[0].score == pytest.approx(results[0].score, abs=0.05)
    assert pred.scorer.describe()["backend"] == "torch-eager"


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((6, 6, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _load(item: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(item)).convert("RGB"))


def test_the_frame_loader_keeps_order_and_turns_bad_items_into_errors():
    items = [_png(v) for v in range(10)]
    items[3] = b"garbage"
    chunks = [items[i:i + 4] for i in range(0, 10, 4)]
    got = list(prefetch_chunks(chunks, _load, workers=3, ahead=2))
    assert [len(c) for c in got] == [4, 4, 2]
    flat = [f for c in got for f in c]
    assert isinstance(flat[3], ImageDecodeError)
    assert [int(f[0, 0, 0]) for i, f in enumerate(flat) if i != 3] == [v for v in range(10) if v != 3]
    starts = [s for s, _ in prefetch_batches(items, _load, 4)]
    assert starts == [0, 4, 8]
    with pytest.raises(ImageDecodeError):
        stack_or_raise(got[0])
    assert stack_or_raise(got[1]).shape == (4, 6, 6, 3)
    assert list(prefetch_chunks([], _load)) == []


def test_training_and_the_embedding_cache_load_frames_through_the_one_loader():
    for rel in ("train/trainer.py", "train/embed_cache.py"):
        mods = _imports(ROOT / rel)
        assert "edgeiqa.runtime.pipeline" in mods, rel
        assert "concurrent.futures" not in mods, rel  # no private thread pool of its own


def test_bench_eager_rows_come_from_the_registered_baseline(trained, bundle):
    from edgeiqa.runtime.bench import BenchConfig
    from edgeiqa.runtime.bench_cli import run_bench

    _, ckpt = trained
    cfg = BenchConfig((2,), 1, 2, 0.0, False, 4, None)
    result = run_bench(str(bundle), ["onnxruntime"], ["fp32"], cfg, baseline="torch", checkpoint=str(ckpt),
                       device="cpu")
    eager = [r for r in result["rows"] if r["backend"] == "torch-eager"]
    assert eager and all(not r["error"] for r in eager if r["precision"] != "bf16"), eager
    # bf16 runs where the CPU has bf16 instructions; elsewhere (an AVX2-only EPYC) its row says why it
    # was skipped instead of timing an emulation
    assert all(not r["error"] or "no bf16 instructions" in r["error"] for r in eager if r["precision"] == "bf16"), eager


def test_the_exporter_writes_one_artefact_per_step():
    import inspect

    from edgeiqa.export import exporter

    steps = [exporter.write_onnx, exporter.write_reduced_precisions, exporter.check_tolerances,
             exporter.write_engines, exporter.write_triton, exporter.drop_unshipped, exporter.write_manifest]
    for step in steps:
        assert list(inspect.signature(step).parameters) == ["job"], step.__name__
        assert len(inspect.getsource(step).splitlines()) <= 40, step.__name__
    assert not hasattr(exporter, "_write")
    too_many = [name for name, fn in inspect.getmembers(exporter, inspect.isfunction)
                if fn.__module__ == exporter.__name__ and len(inspect.signature(fn).parameters) > 8]
    assert not too_many
