#!/usr/bin/env bash
# Issue 11's GPU checks in one go, for a machine with a CUDA GPU: the CUDA tests, then the CUDA
# section of the benchmark.  Needs a CUDA build of torch (>= 2.6, for nonzero_static on the
# GPU), numpy, scipy, mpmath, sympy and pytest (pytest-xdist optional); nothing is installed.
#
#   OUT=/some/dir PYTHON=python3 bench/cuda_check.sh
#
# Writes to $OUT (default bench/results/cuda): env.txt (GPU, driver, torch, commit),
# tests.log, bench.log (the table and the targets) and bench-cuda.json.  Takes a few minutes
# on an H100/H200 (the bench's 2^28 cases dominate).  Exit status: the tests', else the bench's.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/cuda}"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
        "available", torch.cuda.is_available())'
    git rev-parse HEAD 2>/dev/null || true
} 2>&1 | tee "$OUT/env.txt"

parallel=()
if "$PY" -c 'import xdist' 2>/dev/null; then
    parallel=(-n 4)
fi
"$PY" -m pytest -q -rs -p no:cacheprovider "${parallel[@]}" tests/test_torch_cuda.py \
    "tests/test_torch_init.py::test_cuda_tensors_are_sampled_on_their_device" 2>&1 |
    tee "$OUT/tests.log"
tests=${PIPESTATUS[0]}

timeout 480 "$PY" bench/run.py --device cuda --out "$OUT/bench-cuda.json" 2>&1 |
    tee "$OUT/bench.log"
bench=${PIPESTATUS[0]}

echo "tests exit $tests, bench exit $bench" | tee -a "$OUT/env.txt"
if [ "$tests" -ne 0 ]; then exit "$tests"; fi
exit "$bench"
