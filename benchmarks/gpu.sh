#!/usr/bin/env bash
# One script for one short GPU lease: installs nothing, prints a short table last, writes JSON
# under $OUT (when set). Budget: under 6 minutes on an H100. Dry run on a CPU: DRY_RUN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH="${PYTHONPATH:-}:$PWD"
OUT=${OUT:-}
args=(--out "${OUT:-/tmp/edgeiqa-gpu}")
[ "${DRY_RUN:-0}" = "1" ] && args+=(--dry-run)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "nvidia-smi: not available"
# GPU tests first (they skip cleanly where the full TensorRT is missing): engine vs ONNX Runtime CPU,
# CUDA graph on/off, batch 1 vs max.
timeout 240 "$PY" -m pytest -q -m gpu tests/test_gpu.py tests/test_engine.py -rs 2>&1 | tee "${OUT:-/tmp/edgeiqa-gpu}.pytest.log" || true
# The default bundle's reference frames on every backend this machine has (TensorRT where installed).
timeout 120 "$PY" -m edgeiqa verify engines/edgeiqa-default --json > "${OUT:-/tmp/edgeiqa-gpu}.verify.json" \
    || echo "verify: exit $? (see ${OUT:-/tmp/edgeiqa-gpu}.verify.json)"
timeout 330 "$PY" benchmarks/gpu_bench.py "${args[@]}"
