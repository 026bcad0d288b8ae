import json
import subprocess
import sys

import numpy as np
import pytest
from edgeiqa.runtime.bench import BenchConfig, BenchRow, add_ratios, percentiles

FIELDS = {"backend", "precision", "batch", "mode", "throughput", "p50_ms", "p90_ms", "p99_ms", "mean_ms",
          "ratio_to_eager", "peak_rss_mb", "error"}


def test_percentiles_match_numpy_and_are_in_ms():
    samples = list(np.random.default_rng(0).exponential(0.01, 1000))
    p = percentiles(samples)
    assert p["p50_ms"] == pytest.approx(np.median(samples) * 1e3)
    assert p["p99_ms"] == pytest.approx(np.percentile(samples, 99) * 1e3)
    assert p["mean_ms"] == pytest.approx(np.mean(samples) * 1e3)
    assert p["p50_ms"] <= p["p90_ms"] <= p["p99_ms"]
    assert percentiles([0.002, 0.004])["p50_ms"] == pytest.approx(3.0)


def test_ratios_are_relative_to_eager_fp32_at_the_same_batch_and_mode():
    rows = [BenchRow("torch-eager", "fp32", 8, "model", throughput=100.0),
            BenchRow("onnxruntime", "fp32", 8, "model", throughput=150.0),
            BenchRow("onnxruntime", "fp32", 8, "end_to_end", throughput=90.0),
            BenchRow("onnxruntime", "int8", 1, "model", throughput=50.0)]
    add_ratios(rows)
    assert rows[0].ratio_to_eager == 1.0 and rows[1].ratio_to_eager == 1.5
    assert rows[2].ratio_to_eager is None and rows[3].ratio_to_eager is None


def test_bench_end_to_end_json_plot_and_a_failing_backend(bundle, tmp_path):
    out = subprocess.run([sys.executable, "-m", "edgeiqa", "bench", "--bundle", str(bundle), "--backend",
                          "onnxruntime,tensorrt", "--precision", "fp32,int8", "--batch", "1,4", "--baseline", "torch",
                          "--iters", "3", "--min-seconds", "0", "--e2e-images", "8", "--json", str(tmp_path / "b.json"),
                          "--plot", str(tmp_path / "b.png")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "b.json").read_text())
    assert {"machine", "rows", "threads", "input"} <= set(result)
    assert result["machine"]["cpu_count"] and result["machine"]["onnxruntime"]
    rows = result["rows"]
    for r in rows:
        assert FIELDS <= set(r)
    ok = [r for r in rows if not r["error"]]
    modes = {(r["backend"], r["precision"], r["batch"], r["mode"]) for r in ok}
    for b in (1, 4):
        for mode in ("model", "end_to_end"):
            assert ("onnxruntime", "fp32", b, mode) in modes and ("torch-eager", "fp32", b, mode) in modes
    for r in ok:
        assert r["throughput"] > 0 and r["p50_ms"] <= r["p99_ms"] and r["ratio_to_eager"] > 0
    trt = [r for r in rows if r["backend"] == "tensorrt"]
    assert trt and all(r["error"] for r in trt)  # reported as rows, the run went on
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert "x eager" in out.stdout


def test_bench_config_defaults():
    cfg = BenchConfig()
    assert cfg.batches == (1, 8, 32) and cfg.end_to_end
