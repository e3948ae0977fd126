# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Test-wide settings: one torch thread, and an isolated, localhost-only ROS 2 graph per run."""

import os
import random

# Set before rclpy or torch is imported by any test module.
os.environ.setdefault('OMP_NUM_THREADS', '1')
# A unique domain per test run keeps parallel CI jobs and developers' nodes out of our graph.
# Domain IDs 1..101 stay inside the port range every DDS vendor accepts.
os.environ['ROS_DOMAIN_ID'] = str(1 + random.Random(os.getpid()).randrange(101))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'  # Jazzy and newer
os.environ['ROS_LOCALHOST_ONLY'] = '1'  # Humble

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the ROS-only tests do not need torch
    pass
