# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Optical-flow file formats: Middlebury ``.flo``, KITTI 16-bit ``.png`` and NumPy ``.npy``.

Every flow array in this module is (H, W, 2) float32 in pixels, channel 0 = u (+x, right),
channel 1 = v (+y, down). Validity masks are (H, W) bool.

Formats:

* ``.flo`` (Middlebury, Baker et al. 2011): little-endian float32 magic ``202021.25``, int32 width,
  int32 height, then H*W*2 float32 values, row-major with u and v interleaved. Lossless. Middlebury
  marks unknown flow with magnitudes above ``1e9``; we write unknown flow as NaN and treat both as
  invalid when reading with ``return_valid=True``.
* ``.png`` (KITTI 2012/2015 devkit): 16-bit, 3 channels, in RGB order R = u, G = v, B = valid, with
  ``u = (R - 2**15) / 64``. Lossless for values on the 1/64 px grid within [-512, 512).
  OpenCV stores BGR, so the array handed to ``cv2.imwrite`` is ``[valid, v, u]``.
* ``.npy``: the float32 array as is. Unknown flow is stored as NaN.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    'FLO_MAGIC',
    'read_flo',
    'write_flo',
    'read_kitti_png',
    'write_kitti_png',
    'read_flow',
    'write_flow',
]

FLO_MAGIC = 202021.25
"""Middlebury .flo magic number, stored as a little-endian float32 (bytes b'PIEH')."""

_FLO_UNKNOWN_THRESH = 1e9  # Middlebury flow-code/imageLib: |flow| > 1e9 means unknown
_KITTI_OFFSET = 2**15
_KITTI_SCALE = 64.0
_SUPPORTED = ('.flo', '.png', '.npy')

PathLike = str | os.PathLike


def _check_flow(flow: np.ndarray, what: str = 'flow') -> np.ndarray:
    """Validate a flow array and return it as float32.

    Args:
        flow: array of shape (H, W, 2), any real dtype, px.
        what: name used in error messages.

    Returns:
        (H, W, 2) float32 array (a view when already float32).

    Raises:
        ValueError: wrong number of dimensions, channels or a non-numeric dtype.

    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f'{what} must have shape (H, W, 2), got {flow.shape}')
    if flow.shape[0] == 0 or flow.shape[1] == 0:
        raise ValueError(f'{what} must not be empty, got shape {flow.shape}')
    if not (np.issubdtype(flow.dtype, np.floating) or np.issubdtype(flow.dtype, np.integer)):
        raise ValueError(f'{what} must be a real-valued array, got dtype {flow.dtype}')
    return flow.astype(np.float32, copy=False)


def _check_valid(valid: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """Validate an optional (H, W) validity mask and return it as bool."""
    if valid is None:
        return None
    valid = np.asarray(valid)
    if valid.shape != shape:
        raise ValueError(f'valid must have shape {shape} (H, W of the flow), got {valid.shape}')
    return valid.astype(bool)


def _mark_invalid(flow: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Return a float32 copy of ``flow`` with invalid pixels set to NaN (no-op without a mask)."""
    if valid is None:
        return flow
    flow = flow.copy()
    flow[~valid] = np.nan
    return flow


def read_flo(path: PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file.

    Args:
        path: file to read.

    Returns:
        (H, W, 2) float32 flow in px, exactly as stored.

    Raises:
        ValueError: bad magic number, non-positive size or truncated data.
        FileNotFoundError: the file does not exist.

    """
    data = Path(path).read_bytes()
    if len(data) < 12:
        raise ValueError(f'{path}: too short for a .flo header (12 bytes), got {len(data)} bytes')
    magic = np.frombuffer(data, dtype='<f4', count=1)[0]
    if magic != np.float32(FLO_MAGIC):
        raise ValueError(
            f'{path}: bad .flo magic number: expected {FLO_MAGIC} (bytes b"PIEH"), '
            f'got {float(magic)!r} (bytes {data[:4]!r})'
        )
    width, height = (int(x) for x in np.frombuffer(data, dtype='<i4', count=2, offset=4))
    if width <= 0 or height <= 0:
        raise ValueError(f'{path}: invalid .flo size width={width}, height={height}')
    expected = 12 + 4 * 2 * width * height
    if len(data) != expected:
        raise ValueError(
            f'{path}: .flo of {width}x{height} needs {expected} bytes, file has {len(data)}'
        )
    flow = np.frombuffer(data, dtype='<f4', offset=12).reshape(height, width, 2)
    return flow.astype(np.float32)


def write_flo(path: PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a Middlebury ``.flo`` file.

    Args:
        path: file to write.
        flow: (H, W, 2) flow in px; converted to float32.
        valid: optional (H, W) bool mask; invalid pixels are written as NaN.

    Raises:
        ValueError: ``flow`` or ``valid`` has the wrong shape.

    """
    flow = _mark_invalid(_check_flow(flow), _check_valid(valid, np.shape(flow)[:2]))
    height, width = flow.shape[:2]
    header = np.array([FLO_MAGIC], dtype='<f4').tobytes() + np.array([width, height], dtype='<i4').tobytes()
    Path(path).write_bytes(header + np.ascontiguousarray(flow, dtype='<f4').tobytes())


def read_kitti_png(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit flow ``.png``.

    Args:
        path: file to read.

    Returns:
        Tuple ``(flow, valid)``: (H, W, 2) float32 px with ``u = (R - 2**15) / 64`` (likewise v from G),
        and (H, W) bool from the B channel. Invalid pixels keep their decoded values.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a 3-channel 16-bit image.

    """
    if not Path(path).is_file():
        raise FileNotFoundError(f'no such flow file: {path}')
    raw = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f'{path}: could not be decoded as an image')
    if raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[2] != 3:
        raise ValueError(
            f'{path}: a KITTI flow png must be 16-bit with 3 channels, '
            f'got dtype {raw.dtype}, shape {raw.shape}'
        )
    # OpenCV returns BGR: B = valid, G = v, R = u.
    flow = (raw[:, :, 2:0:-1].astype(np.float32) - _KITTI_OFFSET) / _KITTI_SCALE
    valid = raw[:, :, 0] > 0
    return flow, valid


def write_kitti_png(path: PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a KITTI 16-bit flow ``.png``.

    Values are rounded to the nearest 1/64 px and clipped to the 16-bit range ([-512, 512) px).
    Invalid and non-finite pixels are written as (0, 0, 0), as the KITTI devkit does.

    Args:
        path: file to write (should end in ``.png``).
        flow: (H, W, 2) flow in px.
        valid: optional (H, W) bool mask; default: every pixel with finite u and v.

    Raises:
        ValueError: wrong shapes, or OpenCV failed to write the file.

    """
    flow = _check_flow(flow)
    finite = np.isfinite(flow).all(axis=2)
    valid = _check_valid(valid, flow.shape[:2])
    valid = finite if valid is None else valid & finite
    finite_flow = np.where(finite[..., None], flow, 0.0).astype(np.float64)
    encoded = np.rint(finite_flow * _KITTI_SCALE + _KITTI_OFFSET)
    encoded = np.clip(encoded, 0, 2**16 - 1).astype(np.uint16)
    encoded[~valid] = 0
    bgr = np.dstack([valid.astype(np.uint16), encoded[:, :, 1], encoded[:, :, 0]])
    if not cv2.imwrite(os.fspath(path), bgr):
        raise ValueError(f'{path}: OpenCV could not write the png (check the directory and extension)')


def _extension(path: PathLike) -> str:
    ext = Path(path).suffix.lower()
    if ext not in _SUPPORTED:
        raise ValueError(f'{path}: unsupported flow file extension {ext!r}; expected one of {_SUPPORTED}')
    return ext


def read_flow(path: PathLike, *, return_valid: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Read a flow file, choosing the format by extension (.flo, .png, .npy).

    Args:
        path: file to read.
        return_valid: also return the (H, W) bool validity mask. For .png it is the KITTI valid
            channel; for .flo/.npy a pixel is valid when u and v are finite and |u|, |v| <= 1e9
            (Middlebury's unknown-flow convention).

    Returns:
        (H, W, 2) float32 flow in px, or ``(flow, valid)`` when ``return_valid``.

    Raises:
        ValueError: unknown extension, bad magic number or a wrongly shaped array.
        FileNotFoundError: the file does not exist.

    """
    ext = _extension(path)
    if ext == '.png':
        flow, valid = read_kitti_png(path)
    else:
        if ext == '.flo':
            flow = read_flo(path)
        else:
            flow = _check_flow(np.load(os.fspath(path), allow_pickle=False), f'{path}: array')
        valid = np.isfinite(flow).all(axis=2) & (np.abs(flow) <= _FLO_UNKNOWN_THRESH).all(axis=2)
    return (flow, valid) if return_valid else flow


def write_flow(path: PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a flow file, choosing the format by extension (.flo, .png, .npy).

    Args:
        path: file to write.
        flow: (H, W, 2) flow in px; stored as float32 (.flo, .npy) or 1/64 px steps (.png).
        valid: optional (H, W) bool mask. .png stores it in the valid channel; .flo and .npy store
            invalid pixels as NaN.

    Raises:
        ValueError: unknown extension or wrongly shaped inputs.

    """
    ext = _extension(path)
    if ext == '.flo':
        write_flo(path, flow, valid)
    elif ext == '.png':
        write_kitti_png(path, flow, valid)
    else:
        flow = _mark_invalid(_check_flow(flow), _check_valid(valid, np.shape(flow)[:2]))
        np.save(os.fspath(path), np.ascontiguousarray(flow), allow_pickle=False)
