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


def test_no_tail_percentile_from_too_few_samples():
    five = percentiles([0.01, 0.02, 0.03, 0.04, 0.05])
    assert five["p50_ms"] == pytest.approx(30.0) and np.isnan(five["p90_ms"]) and np.isnan(five["p99_ms"])
    twenty = percentiles([0.001 * i for i in range(1, 21)])
    assert not np.isnan(twenty["p90_ms"]) and np.isnan(twenty["p99_ms"])


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
        assert r["throughput"] > 0 and r["p50_ms"] > 0 and r["ratio_to_eager"] > 0
        assert np.isnan(r["p99_ms"]) or r["p50_ms"] <= r["p99_ms"]  # p99 only from 100 samples up
    trt = [r for r in rows if r["backend"] == "tensorrt"]
    assert trt and all(r["error"] for r in trt)  # reported as rows, the run went on
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert "x eager" in out.stdout


def test_bench_config_defaults():
    cfg = BenchConfig()
    assert cfg.batches == (1, 8, 32) and cfg.end_to_end


def test_every_backend_reports_its_own_peak_memory_and_wall_clock_times(trained, bundle):
    """The eager baseline runs first; isolated, the ONNX Runtime rows no longer inherit torch's peak."""
    from edgeiqa.runtime.bench_cli import format_table, run_bench

    _, ckpt = trained
    cfg = BenchConfig((2,), 1, 3, 0.0, False, 4, None)
    result = run_bench(str(bundle), ["onnxruntime"], ["fp32"], cfg, baseline="torch", checkpoint=str(ckpt),
                       device="cpu")
    by = {(r["backend"], r["precision"]): r for r in result["rows"]}
    eager, ort = by[("torch-eager", "fp32")], by[("onnxruntime", "fp32")]
    assert not eager["error"] and not ort["error"]
    assert ort["peak_rss_mb"] < eager["peak_rss_mb"] - 100, (ort["peak_rss_mb"], eager["peak_rss_mb"])
    assert ort["details"]["isolated_process"] and result["isolated"]
    assert ort["device_p50_ms"] is None  # no device timer on the CPU: wall clock only, never mixed
    # the model's CPU time per image, every thread counted: positive, and at most cores x wall (+ slack)
    import os

    wall_ms = 1e3 / ort["throughput"]
    assert 0 < ort["details"]["cpu_ms_per_img"] <= (os.cpu_count() or 1) * wall_ms * 1.5 + 5
    assert "each backend's own process" in format_table(result)


def test_time_calls_keeps_the_wall_clock_even_when_a_device_timer_exists():
    import time

    from edgeiqa.runtime.bench import time_calls

    def slow(_x):
        time.sleep(0.004)

    wall, device = time_calls(slow, [np.zeros(1)], 0, 5, 0.0, lambda: None, lambda: 0.001)
    assert len(wall) == len(device) == 5
    assert min(wall) >= 0.004 and device == [0.001] * 5  # the device figure never replaces the wall figure


def test_rounds_merge_to_the_median_per_row_and_keep_the_spread():
    from edgeiqa.runtime.bench import merge_rounds

    def rnd(ort_tp, eager_tp):
        return [BenchRow("torch-eager", "fp32", 8, "model", throughput=eager_tp, p50_ms=8000 / eager_tp,
                         iterations=3, peak_rss_mb=900.0),
                BenchRow("onnxruntime", "fp32", 8, "model", throughput=ort_tp, p50_ms=8000 / ort_tp,
                         iterations=3, peak_rss_mb=300.0)]

    rows = merge_rounds([rnd(30.0, 5.0), rnd(20.0, 4.0), rnd(25.0, 6.0)])
    by = {r.backend: r for r in rows}
    assert by["onnxruntime"].throughput == 25.0 and by["torch-eager"].throughput == 5.0
    assert by["onnxruntime"].details["round_throughputs"] == [30.0, 20.0, 25.0]
    assert by["onnxruntime"].iterations == 9 and by["torch-eager"].peak_rss_mb == 900.0
    assert by["onnxruntime"].p50_ms == pytest.approx(8000 / 25.0)
    # A round whose process died has no such row (or an error row): the row reports it, never a partial median.
    broken = rnd(22.0, 5.0)[:1]
    merged = {r.backend: r for r in merge_rounds([rnd(30.0, 5.0), broken])}
    assert merged["onnxruntime"].error and "1 of 2 rounds" in merged["onnxruntime"].error
    assert merged["torch-eager"].error is None and merged["torch-eager"].throughput == 5.0


def test_bench_cli_rounds_interleave_backends_and_reject_zero(bundle, tmp_path):
    base = [sys.executable, "-m", "edgeiqa", "bench", "--bundle", str(bundle), "--precision", "fp32,int8",
            "--batch", "2", "--iters", "2", "--min-seconds", "0", "--no-end-to-end", "--in-process"]
    out = subprocess.run(base + ["--rounds", "2", "--json", str(tmp_path / "r.json")], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["rounds"] == 2 and len(result["rows"]) == 2
    for r in result["rows"]:
        assert len(r["details"]["round_throughputs"]) == 2 and r["iterations"] >= 4
        assert r["throughput"] == pytest.approx(float(np.median(r["details"]["round_throughputs"])))
    assert "median of 2 interleaved rounds" in out.stdout
    assert "bench plan: 2 backends (onnxruntime fp32, onnxruntime int8)" in out.stderr and "= 4 rows" in out.stderr
    bad = subprocess.run(base + ["--rounds", "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "rounds must be >= 1" in bad.stderr


def test_a_row_stops_at_its_budget():
    """A backend far slower than expected (bf16 emulated, a 12 MP eager row) ends its row after
    the budget instead of running the asked iterations."""
    import time

    from edgeiqa.runtime.bench import time_calls

    calls = []
    wall, _ = time_calls(lambda x: (calls.append(1), time.sleep(0.05)), [np.zeros(1)], warmup=0, iters=100,
                         min_seconds=0, sync=lambda: None, max_seconds=0.12)
    assert 2 <= len(wall) < 100 and len(calls) == len(wall)


def test_bf16_baseline_is_skipped_without_bf16_instructions(monkeypatch):
    from edgeiqa.runtime import bench_cli, cpu_class

    def cpu(flags):
        return lambda: cpu_class.CpuInfo("x86_64", "Some CPU", frozenset(flags), "x86-avx2", "test")

    monkeypatch.setattr(cpu_class, "detect", cpu({"avx2", "fma"}))
    assert "no bf16 instructions" in bench_cli.bf16_missing()
    monkeypatch.setattr(cpu_class, "detect", cpu({"avx2", "avx512_bf16"}))
    assert bench_cli.bf16_missing() is None
