# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The image encodings of ``sensor_msgs/Image`` and ``CompressedImage`` this package reads, without ROS.

The one table of what each REP-104 encoding name means (element type, channels, the OpenCV conversion to
BGR), the compressed formats, the plain message fields (:class:`RawImage`) and the errors. Decoding
message fields to arrays is :mod:`lfn2_ros.io.image_decode`; packing arrays into fields is
:mod:`lfn2_ros.io.image_pack`. The flow node (``node/conversions.py``, rclpy messages) and the bag tools
(rosbags messages) both go through them with the plain fields.

The conversions follow cv_bridge's semantics (e.g. ``bayer_rggb8`` -> ``COLOR_BayerBG2BGR``), but the
package does not use the cv_bridge available from PyPI for them: it ignores ``step`` (rows with padding
fail), lacks ``yuv422`` and its ``cv2_to_imgmsg`` calls ``ndarray.tostring``, which numpy 2 removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    'COMPRESSED_FORMATS',
    'ENCODINGS',
    'Encoding',
    'ImageError',
    'MalformedImage',
    'RawImage',
    'UnsupportedEncoding',
    'raw_encoding',
]


class ImageError(ValueError):
    """An image that cannot be decoded; the node skips and counts it, the bag tools report it."""


class UnsupportedEncoding(ImageError):
    """The encoding (or compressed format) is not one of :data:`ENCODINGS` / :data:`COMPRESSED_FORMATS`."""


class MalformedImage(ImageError):
    """Size, step and data length disagree, the image is empty, or compressed data does not decode."""


@dataclass(frozen=True)
class Encoding:
    """How the elements of one raw encoding are laid out and turned into BGR."""

    dtype: np.dtype  # element type
    channels: int
    to_bgr: int | None  # cv2.cvtColor code, None when the elements are already B, G, R
    semi_planar: bool = False  # Y plane then interleaved chroma: height * 3/2 rows of width bytes


_U8, _U16 = np.dtype(np.uint8), np.dtype(np.uint16)

ENCODINGS: dict[str, Encoding] = {
    'bgr8': Encoding(_U8, 3, None),
    'rgb8': Encoding(_U8, 3, cv2.COLOR_RGB2BGR),
    'bgra8': Encoding(_U8, 4, cv2.COLOR_BGRA2BGR),
    'rgba8': Encoding(_U8, 4, cv2.COLOR_RGBA2BGR),
    'mono8': Encoding(_U8, 1, cv2.COLOR_GRAY2BGR),
    # cv_bridge refuses 8UCn as "not a colour format"; most drivers mean mono8 / bgr8 / bgra8.
    '8UC1': Encoding(_U8, 1, cv2.COLOR_GRAY2BGR),
    '8UC3': Encoding(_U8, 3, None),
    '8UC4': Encoding(_U8, 4, cv2.COLOR_BGRA2BGR),
    'bgr16': Encoding(_U16, 3, None),
    'rgb16': Encoding(_U16, 3, cv2.COLOR_RGB2BGR),
    'bgra16': Encoding(_U16, 4, cv2.COLOR_BGRA2BGR),
    'rgba16': Encoding(_U16, 4, cv2.COLOR_RGBA2BGR),
    'mono16': Encoding(_U16, 1, cv2.COLOR_GRAY2BGR),
    # ROS names the 2x2 Bayer pattern from its top-left pixel, OpenCV from the second row/column
    # (cv_bridge's table): rggb -> BayerBG, etc.
    'bayer_rggb8': Encoding(_U8, 1, cv2.COLOR_BayerBG2BGR),
    'bayer_bggr8': Encoding(_U8, 1, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg8': Encoding(_U8, 1, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg8': Encoding(_U8, 1, cv2.COLOR_BayerGB2BGR),
    'bayer_rggb16': Encoding(_U16, 1, cv2.COLOR_BayerBG2BGR),
    'bayer_bggr16': Encoding(_U16, 1, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg16': Encoding(_U16, 1, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg16': Encoding(_U16, 1, cv2.COLOR_BayerGB2BGR),
    # sensor_msgs image_encodings: yuv422 = uyvy (UYVY byte order), yuv422_yuy2 = yuyv (YUYV).
    'yuv422': Encoding(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    'uyvy': Encoding(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': Encoding(_U8, 2, cv2.COLOR_YUV2BGR_YUY2),
    'yuyv': Encoding(_U8, 2, cv2.COLOR_YUV2BGR_YUY2),
    'nv21': Encoding(_U8, 1, cv2.COLOR_YUV2BGR_NV21, semi_planar=True),
}
"""Raw encodings that decode to BGR -> element dtype, channels and the colour conversion."""

COMPRESSED_FORMATS = ('jpeg', 'jpg', 'png', 'webp', 'tiff', 'bmp')
"""Codecs accepted in ``CompressedImage.format`` (decoded by ``cv2.imdecode``)."""


class RawImage(NamedTuple):
    """The fields of a ``sensor_msgs/Image`` (header excepted).

    Attributes:
        encoding: REP-104 / OpenCV type name, e.g. ``'bgr8'``, ``'32FC2'``.
        height: rows, px.
        width: columns, px.
        step: bytes per row (dense: width x bytes per pixel).
        is_bigendian: 1 when multi-byte elements are big-endian (the host's order).
        data: ``step * height`` bytes.

    """

    encoding: str
    height: int
    width: int
    step: int
    is_bigendian: int
    data: bytes


def raw_encoding(encoding: str) -> Encoding:
    """The :data:`ENCODINGS` entry of ``encoding``.

    Raises:
        UnsupportedEncoding: the encoding is not in :data:`ENCODINGS` (the message lists those that are).

    """
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise UnsupportedEncoding(
            f'unsupported image encoding {encoding!r}; supported: {", ".join(ENCODINGS)} '
            f'(sensor_msgs/Image) and {"/".join(COMPRESSED_FORMATS)} (sensor_msgs/CompressedImage)'
        )
    return enc
