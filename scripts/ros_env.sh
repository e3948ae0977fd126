#!/usr/bin/env bash
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Sourced by setup_env.sh and with_env: finds a system ROS 2 and activates the environment.

SYSTEM_ROS_SETUP=""
if [ -n "${ROS_DISTRO:-}" ] && [ -f "/opt/ros/${ROS_DISTRO}/setup.bash" ]; then
  SYSTEM_ROS_SETUP="/opt/ros/${ROS_DISTRO}/setup.bash"
else
  for candidate in /opt/ros/*/setup.bash; do
    [ -f "$candidate" ] && SYSTEM_ROS_SETUP="$candidate" && break
  done
fi

# lfn2_activate_ros VENV: system ROS (if any), then the venv, then the wheels' ament prefix.
lfn2_activate_ros() {
  local venv="$1"
  set +u
  if [ -n "$SYSTEM_ROS_SETUP" ]; then
    # shellcheck disable=SC1090
    source "$SYSTEM_ROS_SETUP"
  fi
  # shellcheck disable=SC1091
  source "$venv/bin/activate"
  if [ -z "$SYSTEM_ROS_SETUP" ]; then
    # The wheels install their ament index and CMake configs straight into the venv prefix.
    export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export CMAKE_PREFIX_PATH="$venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  fi
  set -u
}
