# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""lfn2_ros: LiteFlowNet2 dense optical flow for ROS 2.

This package root imports nothing from ROS: the model (``lfn2_ros.model``), the ops
(``lfn2_ros.ops``), inference (``lfn2_ros.inference``) and the tools work in a plain Python
environment. Only ``lfn2_ros.node`` imports rclpy and message packages.
"""

from lfn2_ros._version import __version__

__all__ = ['__version__']
