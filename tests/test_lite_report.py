"""benchmarks/lite_bench.py's arithmetic and benchmarks/lite_report.py's tables, on synthetic results."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
lite_bench = pytest.importorskip("lite_bench")
lite_report = pytest.importorskip("lite_report")


def test_per_layer_roofline_is_never_below_the_whole_model_floor():
    # One compute-bound and one memory-bound layer: the whole-model max lets each hide the other.
    cost = {"flops": 2e9 + 1e6, "bytes": 1e6 + 2e8 + 1e6, "input_bytes": 1e6,
            "layers": [(2e9, 1e6), (1e6, 2e8)]}
    f = lite_bench.floors_ms(cost, peak=100e9, bw=10e9)
    assert f["whole_model_floor_ms"] == pytest.approx(max(2.001e9 / 100e9, 2.02e8 / 10e9) * 1e3)
    assert f["roofline_ms"] == pytest.approx((2e9 / 100e9 + 2e8 / 10e9 + 1e6 / 10e9) * 1e3)
    assert f["roofline_ms"] > f["whole_model_floor_ms"]


def _row(backend, precision, batch, mode, tp, threads=2, images=None, rounds=None):
    r = {"backend": backend, "precision": precision, "batch": batch, "mode": mode, "throughput": tp,
         "threads": threads, "error": None, "ratio_to_eager": None, "peak_rss_mb": 300.0,
         "details": {"round_throughputs": rounds} if rounds else {}}
    if images:
        r["images"] = images
    return r


def test_the_cpu_bound_uses_the_model_row_timed_next_to_the_end_to_end_row():
    rows = [_row("onnxruntime", "fp32", 8, "model", 25.0),  # the grid's row: not this bound's reference
            _row("onnxruntime", "fp32", 8, "model", 20.0, images="clive"),
            _row("onnxruntime", "fp32", 8, "end_to_end", 18.0, images="clive")]
    (p,) = lite_bench.pipeline_efficiency(rows, {"clive_total_ms": 10.0, "camera_total_ms": 50.0}, cores=2)
    assert p["model_core_ms"] == pytest.approx(100.0)  # 1000 / 20 img/s x 2 threads
    assert p["bound_img_s"] == pytest.approx(2 / (100.0 + 10.0) * 1e3)
    assert p["of_bound"] == pytest.approx(18.0 / p["bound_img_s"])


def test_tables_show_medians_and_the_spread_over_rounds_and_skip_the_reference_rows():
    rows = [_row("onnxruntime", "fp32", 8, "model", 25.0, rounds=[20.0, 25.0, 30.0]),
            _row("onnxruntime", "int8-cpu", 8, "model", 50.0, rounds=[40.0, 50.0, 55.0]),
            _row("onnxruntime", "fp32", 8, "model", 10.0, images="clive")]
    result = {"backbones": {"efficientnet-lite0": {"rows": rows}}}
    table = lite_report.summary_table(result)
    assert "| efficientnet-lite0 | int8-cpu | - | 20.0 | 18.2-25.0 | 2.00x |" in table
    assert table.count("| fp32 |") == 1  # the end-to-end process's model row is not a grid row
    grid = lite_report.grid_table(rows)
    assert "40.0" in grid and "100.0" not in grid
