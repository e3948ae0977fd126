# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Argument types shared by the command-line tools and benchmarks."""

from __future__ import annotations

import argparse

__all__ = ['parse_size']


def parse_size(text: str) -> tuple[int, int]:
    """Parse an image size written ``HxW``, e.g. ``320x448`` (an argparse ``type``).

    Args:
        text: height and width in px, separated by ``x`` (either case).

    Returns:
        ``(height, width)`` px.

    Raises:
        argparse.ArgumentTypeError: not two positive integers separated by ``x``.

    """
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must be HxW, e.g. 320x448, got {text!r}') from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f'size must be positive, got {text!r}')
    return height, width
