# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""LiteFlowNet2 in pure PyTorch with mmflow-compatible module names and checkpoints."""

from lfn2_ros.model.checkpoint import CheckpointError, detect_variant, load_checkpoint, save_checkpoint
from lfn2_ros.model.liteflownet2 import FlowFeatures, LiteFlowNet2, build_liteflownet2
from lfn2_ros.model.variants import VARIANTS, Variant, get_variant

__all__ = [
    'VARIANTS',
    'CheckpointError',
    'FlowFeatures',
    'LiteFlowNet2',
    'Variant',
    'build_liteflownet2',
    'detect_variant',
    'get_variant',
    'load_checkpoint',
    'save_checkpoint',
]
