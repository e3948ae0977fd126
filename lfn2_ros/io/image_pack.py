# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Numpy arrays -> the fields of a ``sensor_msgs/Image`` (:class:`~lfn2_ros.io.image_encodings.RawImage`).

The inverse of :mod:`lfn2_ros.io.image_decode`, for the bag writer and the node's outputs: BGR images in
the colour encodings of :mod:`lfn2_ros.io.image_encodings`, 32FC2 flow and any packed
``<bits><U|S|F>C<n>`` array. Rows are dense and in the host's byte order.
"""

from __future__ import annotations

import re
import sys

import cv2
import numpy as np

from lfn2_ros.io.image_encodings import ENCODINGS, RawImage

__all__ = ['bgr_to_image_array', 'encode_array', 'encode_bgr', 'encode_flow']

_U8, _U16 = np.dtype(np.uint8), np.dtype(np.uint16)

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
