# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image and CompressedImage to BGR: cv_bridge where it is installed and right, the project's codec otherwise.

The project's checks run first (encoding known, step and data length consistent), so a bad message
gets the same clear error whatever converts it. cv_bridge then converts the encodings it covers; the
first message of each encoding is also decoded by :mod:`lfn2_ros.io.image_decode` and compared, and an
encoding whose cv_bridge result differs (or raises) stays with the codec from then on, with one log
line. Encodings cv_bridge lacks (yuv422 variants, nv21, 16-bit colour...) always use the codec.
Some cv_bridge builds on PyPI are ROS 1 ports that fail on numpy 2; the check catches those too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from lfn2_ros.io import image_decode, image_encodings
from lfn2_ros.node import conversions as conv

__all__ = ['CV_BRIDGE_ENCODINGS', 'ImageBridge']

CV_BRIDGE_ENCODINGS = frozenset({'bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8', 'bayer_rggb8', 'bayer_bggr8',
                                 'bayer_gbrg8', 'bayer_grbg8'})
"""Encodings handed to cv_bridge (8-bit; cv_bridge and the codec agree on them by construction)."""


def _load_cv_bridge() -> Any:
    try:
        from cv_bridge import CvBridge
    except Exception:  # noqa: BLE001 - absent or broken (ImportError, a missing boost library...)
        return None
    try:
        return CvBridge()
    except Exception:  # noqa: BLE001
        return None


class ImageBridge:
    """Converts input messages to (H, W, 3) uint8 BGR.

    Args:
        bridge: a ``cv_bridge.CvBridge`` (tests pass stand-ins); None = import it if installed.
        logger: where the one-line notice about an unusable cv_bridge encoding goes (or None).
        use_cv_bridge: False = the codec only.

    """

    def __init__(self, bridge: Any = None, logger: Any = None, use_cv_bridge: bool = True) -> None:
        self._bridge = (bridge if bridge is not None else _load_cv_bridge()) if use_cv_bridge else None
        self._logger = logger
        self._verified: dict[str, bool] = {}  # encoding (or 'compressed:fmt') -> cv_bridge agrees

    def backend(self, encoding: str) -> str:
        """Which converter handles ``encoding`` now: 'cv_bridge' or 'image_decode'."""
        usable = self._bridge is not None and self._verified.get(encoding, True)
        covered = encoding in CV_BRIDGE_ENCODINGS or encoding.startswith('compressed:')
        return 'cv_bridge' if usable and covered else 'image_decode'

    def image_to_bgr8(self, msg: Image) -> np.ndarray:
        """Decode a ``sensor_msgs/Image`` (checked first: see :func:`lfn2_ros.io.image_decode.validate_raw`).

        Raises:
            UnsupportedEncoding: unknown encoding.
            MalformedImage: inconsistent fields.

        """
        image_decode.validate_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data)
        if self.backend(msg.encoding) != 'cv_bridge':
            return conv.image_to_bgr8(msg)
        return self._checked(msg.encoding, lambda: self._bridge.imgmsg_to_cv2(msg, 'bgr8'),
                             lambda: conv.image_to_bgr8(msg))

    def compressed_to_bgr8(self, msg: CompressedImage) -> np.ndarray:
        """Decode a ``sensor_msgs/CompressedImage`` (format checked by the codec's rules first).

        Raises:
            UnsupportedEncoding: compressedDepth or an unknown format.
            MalformedImage: empty or undecodable data.

        """
        key = f'compressed:{msg.format}'
        fmt = msg.format.split(';')[0].strip().lower()
        if (self.backend(key) != 'cv_bridge' or fmt not in image_encodings.COMPRESSED_FORMATS
                or not len(msg.data)):
            return conv.compressed_to_bgr8(msg)  # its errors are the clear ones
        return self._checked(key, lambda: self._bridge.compressed_imgmsg_to_cv2(msg, 'bgr8'),
                             lambda: conv.compressed_to_bgr8(msg))

    def _checked(self, key: str, bridged, own) -> np.ndarray:
        try:
            image = bridged()
        except Exception as exc:  # noqa: BLE001 - any cv_bridge failure falls back to the codec
            image, error = None, f'{type(exc).__name__}: {exc}'
        else:
            error = ''
        if key in self._verified:
            return np.ascontiguousarray(image) if image is not None else own()
        reference = own()
        agrees = (image is not None and image.shape == reference.shape and image.dtype == reference.dtype
                  and np.array_equal(image, reference))
        self._verified[key] = agrees
        if not agrees and self._logger is not None:
            self._logger.info(f'cv_bridge does not decode {key} as expected ({error or "different pixels"}); '
                              'using lfn2_ros.io.image_decode for it')
        return reference
