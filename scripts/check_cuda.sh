#!/usr/bin/env bash
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# `make check-cuda`: compile, link and import the CUDA build of the lfn2 extension without a GPU, with torch
# 2.14.1 (CUDA 13.0 wheels) in a separate venv (.venv-cuda, created on first use: ~5.5 GB, ~1 min from the local
# wheel cache). Then runs the CPU kernel of that build against the reference. Nothing CUDA is executed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${LFN2_CUDA_VENV:-.venv-cuda}"
if ! "$VENV/bin/python" -c 'import torch, ninja' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install torch==2.14.1 numpy ninja
fi

# /usr/local/bin/nvcc is a wrapper, from which torch would guess CUDA_HOME=/usr/local (no libcudart there).
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda-13.0}"
ARCHS="${TORCH_CUDA_ARCH_LIST:-7.2;8.6;8.7;8.9;9.0}"
# CUDA 13 dropped the pre-Turing targets (sm_72 = Jetson Xavier needs a CUDA <= 12 toolkit): keep the
# architectures this nvcc supports and say which ones were dropped.
SUPPORTED="$("$CUDA_HOME/bin/nvcc" --list-gpu-arch | tr '\n' ' ')"
KEPT=()
for arch in ${ARCHS//;/ }; do
  if [[ " $SUPPORTED " == *" compute_${arch//./} "* ]]; then KEPT+=("$arch"); else
    echo "check_cuda: nvcc $("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') does not support sm_${arch//./}; skipped" >&2
  fi
done
TORCH_CUDA_ARCH_LIST="$(IFS=';'; echo "${KEPT[*]}")"
export TORCH_CUDA_ARCH_LIST
echo "check_cuda: TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST CUDA_HOME=$CUDA_HOME"
export MAX_JOBS="${MAX_JOBS:-1}"
export OMP_NUM_THREADS=1

"$VENV/bin/python" scripts/build_ext.py --cuda yes --check
