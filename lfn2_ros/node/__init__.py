# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 side of lfn2_ros: the only modules that import rclpy or ROS message packages."""
