# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Ops of LiteFlowNet2: local correlation (fused with the feature warp) and the masked warp."""

from lfn2_ros.ops._build import BuildStatus, build_status
from lfn2_ros.ops.correlation import correlation, has_extension
from lfn2_ros.ops.warp import warp

__all__ = ['BuildStatus', 'build_status', 'correlation', 'has_extension', 'warp']
