# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Message fields -> numpy arrays: ``sensor_msgs/Image`` (BGR or 32FC2 flow) and ``CompressedImage``.

The decoder of the flow node and the bag tools; the encodings it reads are the table of
:mod:`lfn2_ros.io.image_encodings`. It follows cv_bridge's semantics (the same OpenCV colour
conversions; 16-bit data keeps its high byte) but builds the array itself, so rows padded past
``width`` (``step`` larger than a row) decode too.
"""

from __future__ import annotations

import cv2
import numpy as np

from lfn2_ros.io.image_encodings import (
    COMPRESSED_FORMATS,
    Encoding,
    MalformedImage,
    UnsupportedEncoding,
    raw_encoding,
)

__all__ = ['decode_bgr', 'decode_compressed_bgr', 'decode_flow', 'validate_raw']

_FLOW = Encoding(np.dtype(np.float32), 2, None)
"""32FC2 flow: two float32 elements per pixel, not an image to convert."""


def _bytes_of(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """The message data as a 1-D uint8 array, without copying when possible."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _pixels(
    name: str, enc: Encoding, height: int, width: int, step: int, is_bigendian: int | bool,
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
    enc = raw_encoding(encoding)
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
    enc = raw_encoding(encoding)
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
