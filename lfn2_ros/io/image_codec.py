# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image bytes <-> numpy arrays for ``sensor_msgs/Image`` and ``CompressedImage`` fields, without ROS.

The one place that knows the encodings: the flow node (``node/conversions.py``, rclpy messages)
and the bag tools (``bag_io.py``, rosbags messages) both pass the plain message fields here
(``encoding, height, width, step, is_bigendian, data``; ``format, data`` when compressed).

Decoding follows cv_bridge's semantics (REP-104 encoding names, the same OpenCV colour conversions,
e.g. ``bayer_rggb8`` -> ``COLOR_BayerBG2BGR``; 16-bit data keeps its high byte) but builds the
array itself: the cv_bridge available from PyPI ignores ``step`` (rows with padding fail), lacks
``yuv422`` and its ``cv2_to_imgmsg`` calls ``ndarray.tostring``, which numpy 2 removed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    'COMPRESSED_FORMATS',
    'ENCODINGS',
    'ImageError',
    'MalformedImage',
    'RawImage',
    'UnsupportedEncoding',
    'bgr_to_image_array',
    'decode_bgr',
    'decode_compressed_bgr',
    'decode_flow',
    'encode_array',
    'encode_bgr',
    'encode_flow',
    'validate_raw',
]


class ImageError(ValueError):
    """An image that cannot be decoded; the node skips and counts it, the bag tools report it."""


class UnsupportedEncoding(ImageError):
    """The encoding (or compressed format) is not one of :data:`ENCODINGS` / :data:`COMPRESSED_FORMATS`."""


class MalformedImage(ImageError):
    """Size, step and data length disagree, the image is empty, or compressed data does not decode."""


@dataclass(frozen=True)
class _Encoding:
    dtype: np.dtype  # element type
    channels: int
    to_bgr: int | None  # cv2.cvtColor code, None when the elements are already B, G, R
    semi_planar: bool = False  # Y plane then interleaved chroma: height * 3/2 rows of width bytes


_U8, _U16 = np.dtype(np.uint8), np.dtype(np.uint16)

ENCODINGS: dict[str, _Encoding] = {
    'bgr8': _Encoding(_U8, 3, None),
    'rgb8': _Encoding(_U8, 3, cv2.COLOR_RGB2BGR),
    'bgra8': _Encoding(_U8, 4, cv2.COLOR_BGRA2BGR),
    'rgba8': _Encoding(_U8, 4, cv2.COLOR_RGBA2BGR),
    'mono8': _Encoding(_U8, 1, cv2.COLOR_GRAY2BGR),
    # cv_bridge refuses 8UCn as "not a colour format"; most drivers mean mono8 / bgr8 / bgra8.
    '8UC1': _Encoding(_U8, 1, cv2.COLOR_GRAY2BGR),
    '8UC3': _Encoding(_U8, 3, None),
    '8UC4': _Encoding(_U8, 4, cv2.COLOR_BGRA2BGR),
    'bgr16': _Encoding(_U16, 3, None),
    'rgb16': _Encoding(_U16, 3, cv2.COLOR_RGB2BGR),
    'bgra16': _Encoding(_U16, 4, cv2.COLOR_BGRA2BGR),
    'rgba16': _Encoding(_U16, 4, cv2.COLOR_RGBA2BGR),
    'mono16': _Encoding(_U16, 1, cv2.COLOR_GRAY2BGR),
    # ROS names the 2x2 Bayer pattern from its top-left pixel, OpenCV from the second row/column
    # (cv_bridge's table): rggb -> BayerBG, etc.
    'bayer_rggb8': _Encoding(_U8, 1, cv2.COLOR_BayerBG2BGR),
    'bayer_bggr8': _Encoding(_U8, 1, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg8': _Encoding(_U8, 1, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg8': _Encoding(_U8, 1, cv2.COLOR_BayerGB2BGR),
    'bayer_rggb16': _Encoding(_U16, 1, cv2.COLOR_BayerBG2BGR),
    'bayer_bggr16': _Encoding(_U16, 1, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg16': _Encoding(_U16, 1, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg16': _Encoding(_U16, 1, cv2.COLOR_BayerGB2BGR),
    # sensor_msgs image_encodings: yuv422 = uyvy (UYVY byte order), yuv422_yuy2 = yuyv (YUYV).
    'yuv422': _Encoding(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    'uyvy': _Encoding(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': _Encoding(_U8, 2, cv2.COLOR_YUV2BGR_YUY2),
    'yuyv': _Encoding(_U8, 2, cv2.COLOR_YUV2BGR_YUY2),
    'nv21': _Encoding(_U8, 1, cv2.COLOR_YUV2BGR_NV21, semi_planar=True),
}
"""Raw encodings that decode to BGR -> element dtype, channels and the colour conversion."""

COMPRESSED_FORMATS = ('jpeg', 'jpg', 'png', 'webp', 'tiff', 'bmp')
"""Codecs accepted in ``CompressedImage.format`` (decoded by ``cv2.imdecode``)."""

_FLOW = _Encoding(np.dtype(np.float32), 2, None)


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


# ------------------------------------------------------------------------------------ decoding


def _bytes_of(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """The message data as a 1-D uint8 array, without copying when possible."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _pixels(
    name: str, enc: _Encoding, height: int, width: int, step: int, is_bigendian: int | bool,
    data: bytes | bytearray | memoryview | np.ndarray,
) -> np.ndarray:
    """Check the fields and return a (rows, width, channels) view of the data, padding skipped.

    Raises:
        MalformedImage: zero size, ``step`` shorter than a row, ``len(data) != step * rows``, or an
            odd width (odd height) where the chroma is subsampled.

    """
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise MalformedImage(f'{name} image has zero size ({width}x{height})')
    pixel_bytes = enc.channels * enc.dtype.itemsize
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise MalformedImage(f'step {step} is shorter than a {name} row of {width} px ({row_bytes} B)')
    rows = height * 3 // 2 if enc.semi_planar else height
    buf = _bytes_of(data)
    if step * rows != buf.size:
        raise MalformedImage(
            f'{name} image {width}x{height} with step {step} needs {step * rows} bytes, '
            f'got len(data) = {buf.size}'
        )
    if (enc.channels == 2 or enc.semi_planar) and width % 2:
        raise MalformedImage(f'{name} needs an even width, got {width}')
    if enc.semi_planar and height % 2:
        raise MalformedImage(f'{name} needs an even height, got {height}')
    return np.ndarray(
        shape=(rows, width, enc.channels),
        dtype=enc.dtype.newbyteorder('>' if is_bigendian else '<'),
        buffer=buf,
        strides=(step, pixel_bytes, enc.dtype.itemsize),
    )


def validate_raw(
    encoding: str, height: int, width: int, step: int, data: bytes | bytearray | memoryview | np.ndarray,
) -> None:
    """Check a raw image's fields without decoding (the checks of :func:`decode_bgr`).

    Raises:
        UnsupportedEncoding: the encoding is not in :data:`ENCODINGS`.
        MalformedImage: see :func:`decode_bgr`.

    """
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise UnsupportedEncoding(
            f'unsupported image encoding {encoding!r}; supported: {", ".join(ENCODINGS)} '
            f'(sensor_msgs/Image) and {"/".join(COMPRESSED_FORMATS)} (sensor_msgs/CompressedImage)'
        )
    _pixels(encoding, enc, height, width, step, False, data)


def decode_bgr(
    encoding: str, height: int, width: int, step: int, is_bigendian: int | bool,
    data: bytes | bytearray | memoryview | np.ndarray,
) -> np.ndarray:
    """Decode the fields of a raw ``sensor_msgs/Image`` into a BGR image.

    Rows may be padded (``step`` > width x bytes per pixel). 16-bit data keeps its high byte.

    Args:
        encoding: one of :data:`ENCODINGS`.
        height: rows, px.
        width: columns, px.
        step: bytes per row.
        is_bigendian: byte order of 16-bit data.
        data: exactly ``step * height`` bytes (``step * height * 3/2`` for nv21).

    Returns:
        (height, width, 3) uint8 BGR, C-contiguous, owning its memory.

    Raises:
        UnsupportedEncoding: the encoding is not in :data:`ENCODINGS` (the message names it).
        MalformedImage: zero width or height, ``step`` shorter than a row, a data length other than
            ``step * height``, or an odd width for yuv422 (odd width or height for nv21).

    """
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise UnsupportedEncoding(
            f'unsupported image encoding {encoding!r}; supported: {", ".join(ENCODINGS)} '
            f'(sensor_msgs/Image) and {"/".join(COMPRESSED_FORMATS)} (sensor_msgs/CompressedImage)'
        )
    image = _pixels(encoding, enc, height, width, step, is_bigendian, data)
    if enc.dtype.itemsize == 2:
        image = (image >> 8).astype(np.uint8)  # as cv_bridge's 16 -> 8 bit: the high byte
    if enc.to_bgr is None:
        return np.array(image, dtype=np.uint8, order='C', copy=True)
    if enc.channels == 1:
        image = image[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(image), enc.to_bgr)


def decode_compressed_bgr(fmt: str, data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Decode the fields of a ``sensor_msgs/CompressedImage`` (jpeg, png, ...) with OpenCV.

    Args:
        fmt: ``msg.format``, e.g. ``'jpeg'``, ``'png'``, ``'rgb8; jpeg compressed bgr8'``
            (image_transport's form); empty means "let OpenCV guess".
        data: the compressed bytes.

    Returns:
        (H, W, 3) uint8 BGR (grey replicated, alpha dropped, 16-bit >> 8, as ``cv2.IMREAD_COLOR``).

    Raises:
        UnsupportedEncoding: ``compressedDepth`` or a format naming none of :data:`COMPRESSED_FORMATS`.
        MalformedImage: empty data or data OpenCV cannot decode.

    """
    low = fmt.lower()
    if 'compresseddepth' in low:
        raise UnsupportedEncoding(
            f'unsupported CompressedImage format {fmt!r}: depth images are not camera images'
        )
    if low and not any(k in low for k in COMPRESSED_FORMATS):
        raise UnsupportedEncoding(
            f'unsupported CompressedImage format {fmt!r}; expected one of {", ".join(COMPRESSED_FORMATS)}'
        )
    buf = _bytes_of(data)
    if buf.size == 0:
        raise MalformedImage('compressed image has no data')
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise MalformedImage(f'{fmt or "compressed"} data ({buf.size} B) does not decode as an image')
    if 'compressed rgb' in low:  # the encoder was given RGB order (image_transport itself writes bgr)
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def decode_flow(
    encoding: str, height: int, width: int, step: int, is_bigendian: int | bool,
    data: bytes | bytearray | memoryview | np.ndarray,
) -> np.ndarray:
    """Decode the fields of a 32FC2 ``sensor_msgs/Image`` into a flow field.

    Args:
        encoding: must be ``'32FC2'``.
        height: rows, px.
        width: columns, px.
        step: bytes per row (>= 8 x width; padding is dropped).
        is_bigendian: byte order of the floats.
        data: exactly ``step * height`` bytes.

    Returns:
        (H, W, 2) float32 px, channel 0 = u (+x right), 1 = v (+y down); NaN kept. A new array.

    Raises:
        UnsupportedEncoding: another encoding.
        MalformedImage: as :func:`decode_bgr`.

    """
    if encoding != '32FC2':
        raise UnsupportedEncoding(f'flow image must have encoding 32FC2, got {encoding!r}')
    return _pixels(encoding, _FLOW, height, width, step, is_bigendian, data).astype(np.float32)


# ------------------------------------------------------------------------------------ encoding

# dtype and channels -> encoding when encode_array is not told one.
_ARRAY_ENCODINGS = {
    (np.dtype(np.uint8), 3): 'bgr8',
    (np.dtype(np.uint8), 1): 'mono8',
    (np.dtype(np.float32), 1): '32FC1',
    (np.dtype(np.float32), 2): '32FC2',
}
_CV_TYPE = re.compile(r'(8|16|32|64)([USF])C([1-4])')
_CV_KIND = {'U': 'u', 'S': 'i', 'F': 'f'}

# encoding -> (cv2 conversion from BGR or None, element dtype); 16 bit holds value * 257.
_FROM_BGR: dict[str, tuple[int | None, np.dtype]] = {
    'bgr8': (None, _U8),
    'rgb8': (cv2.COLOR_BGR2RGB, _U8),
    'bgra8': (cv2.COLOR_BGR2BGRA, _U8),
    'rgba8': (cv2.COLOR_BGR2RGBA, _U8),
    'mono8': (cv2.COLOR_BGR2GRAY, _U8),
    'bgr16': (None, _U16),
    'rgb16': (cv2.COLOR_BGR2RGB, _U16),
    'mono16': (cv2.COLOR_BGR2GRAY, _U16),
}


def _element_type(encoding: str) -> tuple[np.dtype, int] | None:
    """Element dtype and channels of a packed encoding of :data:`ENCODINGS` or ``<bits><U|S|F>C<n>``."""
    enc = ENCODINGS.get(encoding)
    if enc is not None:
        return None if enc.semi_planar else (enc.dtype, enc.channels)
    match = _CV_TYPE.fullmatch(encoding)
    if match is None:
        return None
    bits, kind, channels = match.groups()
    if kind == 'F' and bits in ('8', '16'):
        return None
    return np.dtype(f'{_CV_KIND[kind]}{int(bits) // 8}'), int(channels)


def encode_array(array: np.ndarray, encoding: str | None = None) -> RawImage:
    """Pack an array into the fields of a ``sensor_msgs/Image``.

    Args:
        array: (H, W) or (H, W, C) array.
        encoding: the encoding to declare; it must match the array's dtype and channels. None picks
            it from the array: (H, W, 3) uint8 -> ``bgr8``; (H, W) uint8 -> ``mono8``; (H, W) float32
            -> ``32FC1``; (H, W, 2) float32 -> ``32FC2`` (flow: channel 0 = u, 1 = v).

    Returns:
        The fields: dense rows (step = width x bytes per pixel), the host's byte order.

    Raises:
        ValueError: another dtype or shape, or one that does not match ``encoding``.

    """
    array = np.asarray(array)
    channels = 1 if array.ndim == 2 else array.shape[-1]
    if encoding is None:
        encoding = _ARRAY_ENCODINGS.get((array.dtype, channels)) if array.ndim in (2, 3) else None
        if encoding is None:
            raise ValueError(
                f'array must be (H, W, 3) uint8, (H, W) uint8, (H, W) float32 or (H, W, 2) float32, '
                f'got shape {array.shape} dtype {array.dtype}'
            )
    else:
        element = _element_type(encoding)
        if element is None:
            raise ValueError(f'cannot pack an array as encoding {encoding!r}')
        dtype, want = element
        if array.ndim not in (2, 3) or channels != want or array.dtype.newbyteorder('=') != dtype:
            shape = '(H, W)' if want == 1 else f'(H, W, {want})'
            raise ValueError(
                f'{encoding} needs a {shape} {dtype} array, got shape {array.shape} dtype {array.dtype}'
            )
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder('='))
    height, width = array.shape[:2]
    return RawImage(
        encoding=encoding,
        height=height,
        width=width,
        step=width * channels * array.dtype.itemsize,
        is_bigendian=int(sys.byteorder == 'big'),
        data=array.tobytes(),
    )


def bgr_to_image_array(image: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a BGR image to the pixel array of a raw encoding (the inverse of :func:`decode_bgr`).

    Args:
        image: (H, W, 3) uint8 BGR.
        encoding: one of bgr8, rgb8, bgra8, rgba8, mono8, bgr16, rgb16, mono16 (16-bit = value * 257,
            so the high byte is the 8-bit value).

    Returns:
        (H, W[, C]) uint8 or uint16 array.

    Raises:
        ValueError: another encoding, or ``image`` is not (H, W, 3) uint8.

    """
    if encoding not in _FROM_BGR:
        raise ValueError(f'cannot write encoding {encoding!r}; choose from {list(_FROM_BGR)}')
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be (H, W, 3) uint8 BGR, got shape {image.shape} dtype {image.dtype}')
    code, dtype = _FROM_BGR[encoding]
    out = image if code is None else cv2.cvtColor(image, code)
    return out.astype(np.uint16) * 257 if dtype == _U16 else out


def encode_bgr(image: np.ndarray, encoding: str = 'bgr8') -> RawImage:
    """Pack a BGR image as an ``Image`` of the given encoding.

    Args:
        image: (H, W, 3) uint8 BGR.
        encoding: as :func:`bgr_to_image_array`.

    Returns:
        The fields, as :func:`encode_array`.

    """
    return encode_array(bgr_to_image_array(image, encoding), encoding)


def encode_flow(flow: np.ndarray) -> RawImage:
    """Pack a flow field as a ``32FC2`` image.

    Args:
        flow: (H, W, 2) float px (cast to float32), channel 0 = u, 1 = v.

    Returns:
        The fields, as :func:`encode_array`.

    Raises:
        ValueError: ``flow`` is not (H, W, 2).

    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f'flow must be (H, W, 2), got shape {flow.shape}')
    return encode_array(flow.astype(np.float32, copy=False), '32FC2')
