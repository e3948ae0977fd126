#!/usr/bin/env bash
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Train the default weights on one CUDA GPU for MINUTES minutes, writing a resumable run to OUT.
#
#   scripts/train_on_gpu.sh [MINUTES=8] [OUT=runs/gpu]
#
# Needs only python3 with torch (CUDA), numpy, opencv, tqdm and matplotlib; no network. Photos come from
# $LFN2_PHOTOS, else a .photos/ folder in the tree (scripts/fetch_training_photos.py --copy-to .photos),
# else scikit-image's bundled photos if installed, else procedural textures only.
#
# The stage schedule (iterations) is fixed, so a run stopped by the time budget resumes exactly where it
# stopped with the same command, here or on the CPU (python -m lfn2_ros.train with the same --out and
# schedule; see the model card). OUT holds <stage>/latest.pth (model, optimizer, RNG and data position),
# log.csv, training.png and train_stdout.log.
set -euo pipefail
MINUTES=${1:-8}
OUT=${2:-runs/gpu}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export MAX_JOBS=${MAX_JOBS:-16}
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$ROOT/.ext_cache}
if [ -z "${LFN2_PHOTOS:-}" ] && [ -d "$ROOT/.photos" ]; then
  export LFN2_PHOTOS="$ROOT/.photos"
fi
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "train_on_gpu: no CUDA device")'
mkdir -p "$OUT"
# The schedule of the long run (GPU sized: batch 8 at 320x448 as mmflow's FlyingChairs configs).
# Change it only together with the CPU commands in the model card, or a resume will not match.
"$PY" -m lfn2_ros.train --out "$OUT" --device cuda --amp "${AMP:-bf16}" --threads 4 \
  --stages pre_M6S6,pre_M6S6R6,pre_M5S5R5,pre_M4S4R4,pre_M3S3R3 \
  --iters "${ITERS:-6000,3000,6000,6000,12000}" --crop "${CROP:-320x448}" --batch "${BATCH:-8}" \
  --session-minutes "$MINUTES" --val-every 500 --val-count 8 --log-every 20 --checkpoint-every 200 \
  --no-progress 2>&1 | tee -a "$OUT/train_stdout.log"
