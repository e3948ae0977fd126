# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where the embedded default checkpoint is: the one place that names it."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ['DEFAULT_WEIGHTS', 'DEFAULT_WEIGHTS_NAME', 'default_weights_candidates', 'default_weights_path']

DEFAULT_WEIGHTS_NAME = 'liteflownet2_default.pth'
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / 'weights' / DEFAULT_WEIGHTS_NAME
"""Embedded default checkpoint in the source tree, used when ``weights=None`` (README, model card)."""


def default_weights_candidates() -> list[Path]:
    """Where the embedded default checkpoint may be, in the order searched.

    The source tree (:data:`DEFAULT_WEIGHTS`), then the installed ``share/lfn2_ros/weights/`` of the
    ament index (colcon install) and of this Python prefix (pip install).
    """
    candidates = [DEFAULT_WEIGHTS]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        pass
    else:
        try:
            share = Path(get_package_share_directory('lfn2_ros'))
            candidates.append(share / 'weights' / DEFAULT_WEIGHTS_NAME)
        except (PackageNotFoundError, ValueError):
            pass
    candidates.append(Path(sys.prefix) / 'share' / 'lfn2_ros' / 'weights' / DEFAULT_WEIGHTS_NAME)
    return candidates


def default_weights_path() -> Path | None:
    """The first existing :func:`default_weights_candidates` entry, or None when none is installed."""
    return next((p for p in default_weights_candidates() if p.is_file()), None)
