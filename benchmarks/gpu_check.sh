#!/usr/bin/env bash
# GPU check of GRPOformer, for a machine with a CUDA device (CI has none): the CUDA tests (skipped elsewhere), the
# GRPOformer and process-helper tests with a GPU present, the training-speed benchmark (CUDA against one CPU thread, in
# the same process) and a 20-update training run on cuda. Exits non-zero when a test fails.
#   bash benchmarks/gpu_check.sh [OUT_DIR]     (logs and the benchmark's JSON go to OUT_DIR, default runs/gpu_check)
set -o pipefail
out=${1:-runs/gpu_check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)"
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA device: run this on a GPU machine')" || exit 2
python3 -m pytest -q -p no:cacheprovider tests/grpoformer/test_cuda.py 2>&1 | tee "$out/cuda_tests.log" | tail -3
cuda_rc=$?
xdist=$(python3 -c "import xdist" 2>/dev/null && echo "-n 8")
start=$(date +%s)
python3 -m pytest -q -p no:cacheprovider $xdist tests/grpoformer tests/core/test_parallel.py tests/core/test_lock.py \
  tests/core/test_atomic.py 2>&1 | tee "$out/suite.log" | tail -3
suite_rc=$?
echo "suite: $(( $(date +%s) - start )) s"
python3 benchmarks/grpoformer_train_devices.py --devices cuda --updates 10 --threads 1 --json "$out/devices.json" 2>&1 \
  | tr '\r' '\n' | grep -v 'upd/s\|s/upd\|it/s' | tail -6
start=$(date +%s)
python3 -m hpo_gym train-grpoformer --holdout credit_g,vehicle --updates 20 --seed 0 --device cuda --out "$out/train" 2>&1 \
  | tr '\r' '\n' | grep -v 'upd/s\|s/upd' | tail -2
train_rc=$?
echo "train 20 updates on cuda: $(( $(date +%s) - start )) s; held-out regret at update 20:" \
  "$(tail -1 "$out/train/log.csv" | cut -d, -f12)"
[ $cuda_rc -eq 0 ] && [ $suite_rc -eq 0 ] && [ $train_rc -eq 0 ]
