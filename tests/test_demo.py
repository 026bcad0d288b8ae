import json
import subprocess
import sys

from PIL import Image


def test_demo_with_a_tiny_budget_writes_every_artefact(tmp_path):
    import numpy as np

    refs = tmp_path / "refs"
    refs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        low = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(low).resize((64, 64), Image.Resampling.BICUBIC).save(refs / f"photo{i}.png")
    out = tmp_path / "demo"
    res = subprocess.run([sys.executable, "-m", "edgeiqa", "demo", "--out", str(out), "--backbone", "tiny-vit",
                          "--pretrained", "false", "--size", "32", "--crops", "1", "--refs", str(refs),
                          "--budget-minutes", "0.2", "--epochs", "2", "--compare", ""],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for step in ("[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"):
        assert step in res.stdout
    report = json.loads((out / "report.json").read_text())
    for key in ("srcc", "plcc", "n_test", "baseline", "seconds", "models", "scored", "test_photos",
                "graded_ordering"):
        assert key in report
    trained = report["graded_ordering"]["trained"]
    assert 0 <= trained["pairs_right"] <= 1 and -1 <= trained["mean_spearman"] <= 1 and trained["groups"] > 0
    assert -1 <= report["srcc"] <= 1 and report["n_test"] > 0
    assert -1 <= report["baseline"]["srcc"] <= 1
    assert set(report["models"]) == {"fp32", "int8", "int8-dynamic"}
    assert all(r["score"] is not None for r in report["scored"])
    assert (out / "data" / "synthetic.csv").is_file()
    assert (out / "checkpoint" / "model.safetensors").is_file() and (out / "checkpoint" / "config.json").is_file()
    assert (out / "bundle" / "manifest.json").is_file()
    for png in ("learning_curve.png", "bench.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    bench = json.loads((out / "bench.json").read_text())
    assert any(r["backend"] == "torch-eager" for r in bench["rows"])
    train_photos = {r for r in report["test_photos"]}
    assert train_photos and len(train_photos) < 5  # held-out photos are a strict subset of the references
