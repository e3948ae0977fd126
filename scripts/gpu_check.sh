#!/usr/bin/env bash
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# On a machine with a CUDA GPU, torch (any CUDA build, e.g. 2.11 + CUDA 13) and a CUDA toolkit, with no
# network: build the extension with the CUDA kernels, run the CUDA tests, run a small workload under
# compute-sanitizer (memcheck, then racecheck), and print the GPU table (benchmarks/gpu_check.py). Meant to
# finish in under 6 minutes; every step has its own time limit.
#
# Usage: scripts/gpu_check.sh [--cpu-dry-run] [--log DIR]
#   --cpu-dry-run  no GPU needed: builds the CPU extension, runs the CPU op tests, prints the sanitizer
#                  commands instead of running them, and runs the table's Python on the CPU at a tiny size.
#   --log DIR      also write each step's output to DIR/<step>.log.
# Environment: PYTHON (default python3), CUDA_HOME (default: found from nvcc), TORCH_CUDA_ARCH_LIST
# (default: the visible GPU's), TORCH_EXTENSIONS_DIR (default: a fresh temporary directory),
# GPU_CHECK_BUDGET_S (default 345: each step's limit is cut to what is left of it; a step that finds none
# left is reported as skipped).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DRY=0
LOG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-dry-run) DRY=1 ;;
    --log) LOG="${2:?--log needs a directory}"; shift ;;
    *) echo "usage: $0 [--cpu-dry-run] [--log DIR]" >&2; exit 2 ;;
  esac
  shift
done

PY="${PYTHON:-python3}"
START=$SECONDS
if [ "$DRY" -eq 1 ]; then BUDGET="${GPU_CHECK_BUDGET_S:-3600}"; else BUDGET="${GPU_CHECK_BUDGET_S:-345}"; fi
FAILED=()
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
if [ -z "${TORCH_EXTENSIONS_DIR:-}" ]; then
  TORCH_EXTENSIONS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/lfn2_gpu_check.XXXXXX")"
fi
export TORCH_EXTENSIONS_DIR
if [ -n "$LOG" ]; then mkdir -p "$LOG"; fi

# step NAME LIMIT_S CMD...: runs CMD with a time limit, records a failure instead of stopping.
step() {
  local name="$1" limit="$2"
  shift 2
  local left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -le 5 ]; then
    echo "=== gpu_check: $name SKIPPED (time budget of ${BUDGET}s spent)"
    FAILED+=("$name(skipped)")
    return 0
  fi
  if [ "$limit" -gt "$left" ]; then limit=$left; fi
  echo "=== gpu_check: $name (limit ${limit}s, at $((SECONDS - START))s)"
  local rc=0
  if [ -n "$LOG" ]; then
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOG/$name.log" || rc=$?
  else
    timeout --kill-after=10 "$limit" "$@" || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    echo "=== gpu_check: $name FAILED (exit $rc)"
    FAILED+=("$name")
  fi
  return 0
}

"$PY" -c 'import torch; print(f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"GPU available: {torch.cuda.is_available()}")'

if [ "$DRY" -eq 0 ]; then
  if [ -z "${CUDA_HOME:-}" ]; then
    NVCC="$(command -v nvcc || true)"
    for cand in ${NVCC:+"$(dirname "$(readlink -f "$NVCC")")/.."} /usr/local/cuda /usr/local/cuda-*; do
      if [ -x "$cand/bin/nvcc" ] && [ -f "$cand/include/cuda_runtime.h" ]; then CUDA_HOME="$(cd "$cand" && pwd)"; break; fi
    done
  fi
  : "${CUDA_HOME:?gpu_check: no CUDA toolkit found; set CUDA_HOME}"
  export CUDA_HOME PATH="$CUDA_HOME/bin:$PATH"
  if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST="$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')"
  fi
  export TORCH_CUDA_ARCH_LIST LFN2_BUILD_CUDA=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
  echo "gpu_check: CUDA_HOME=$CUDA_HOME TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST" \
       "TORCH_EXTENSIONS_DIR=$TORCH_EXTENSIONS_DIR"
  step build 240 "$PY" scripts/build_ext.py --cuda yes --check --quiet
  # The CUDA twins, and the GPU against the CPU emulation of the same kernels (builds the emulated library).
  step cuda_tests 180 "$PY" -m pytest test/test_ops_correlation.py test/test_ops_correlation_emulated.py -q \
    -p no:cacheprovider -k cuda -rs
  SAN="$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")"
  for tool in memcheck racecheck; do
    step "sanitizer_$tool" 120 "$SAN" --tool "$tool" --error-exitcode 1 \
      "$PY" benchmarks/gpu_check.py sanitize --device cuda
  done
  step table 200 "$PY" benchmarks/gpu_check.py table --device cuda
else
  export LFN2_BUILD_CUDA=0 MAX_JOBS="${MAX_JOBS:-1}"
  step build 600 "$PY" scripts/build_ext.py --cuda no --check --quiet
  step cpu_tests 600 "$PY" -m pytest test/test_ops_correlation.py -q -p no:cacheprovider \
    -k 'level_configs or one_pixel or cuda'
  for tool in memcheck racecheck; do
    echo "=== gpu_check: would run: compute-sanitizer --tool $tool --error-exitcode 1" \
         "$PY benchmarks/gpu_check.py sanitize --device cuda"
  done
  step sanitize_workload_cpu 300 "$PY" benchmarks/gpu_check.py sanitize --device cpu
  step table_cpu 600 "$PY" benchmarks/gpu_check.py table --device cpu --sizes 96x64 --repeats 1 --warmup 0 \
    --half-pairs 1
fi

echo "=== gpu_check: done in $((SECONDS - START))s"
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "=== gpu_check: FAILED steps: ${FAILED[*]}"
  exit 1
fi
echo "=== gpu_check: all steps passed"
