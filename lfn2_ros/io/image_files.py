# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Reading image files as BGR, refusing the truncated ones OpenCV would decode without an error.

``cv2.imread`` returns a picture for a JPEG cut short (libjpeg only prints "Premature end of JPEG file" and
fills the rest grey) and for a PNG missing its last chunks, so a flow computed from it would be scored as if
the frame were whole. A complete JPEG ends with the EOI marker (FF D9) and a complete PNG with its IEND
chunk; both are checked before decoding.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = ['ImageFileError', 'read_bgr']

_JPEG_EOI = b'\xff\xd9'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_IEND = b'IEND\xaeB`\x82'
_TAIL_BYTES = 64  # some writers pad a few bytes after the end marker


class ImageFileError(ValueError):
    """An image file is missing, unreadable or truncated; the message names the file and the cause."""


def _truncation(data: bytes) -> str | None:
    if data[:2] == b'\xff\xd8' and _JPEG_EOI not in data[-_TAIL_BYTES:]:
        return 'truncated JPEG (no end-of-image marker)'
    if data[:8] == _PNG_SIGNATURE and _PNG_IEND not in data[-_TAIL_BYTES:]:
        return 'truncated PNG (no IEND chunk)'
    return None


def read_bgr(path: str | os.PathLike, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Read an image file with OpenCV after checking that it is complete.

    Args:
        path: the file.
        flags: ``cv2.imread`` flags (default colour: (H, W, 3) uint8 BGR).

    Returns:
        The decoded image.

    Raises:
        ImageFileError: the file is missing, a directory, truncated, or not an image OpenCV decodes.

    """
    path = Path(path)
    if not path.exists():
        raise ImageFileError(f'image file not found: {path}')
    if not path.is_file():
        raise ImageFileError(f'not an image file (a directory?): {path}')
    data = path.read_bytes()
    cause = _truncation(data)
    if cause is not None:
        raise ImageFileError(f'{path}: {cause}')
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ImageFileError(f'{path}: not an image OpenCV can decode')
    return image
