# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Plain functions between ROS messages and numpy arrays, and the node's message builders.

Nothing here spins or keeps state, so every function is tested without a ROS graph.

Image decoding follows cv_bridge's semantics (REP-104 encoding names, the same OpenCV colour
conversions, e.g. ``bayer_rggb8`` -> ``COLOR_BayerBG2BGR``) but builds the array itself: the
cv_bridge available from PyPI ignores ``step`` (rows with padding fail), lacks ``yuv422`` and its
``cv2_to_imgmsg`` calls ``ndarray.tostring``, which numpy 2 removed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary

__all__ = [
    'ENCODINGS',
    'FlowStats',
    'ImageError',
    'MalformedImage',
    'UnsupportedEncoding',
    'array_to_image',
    'build_diagnostics',
    'build_optical_flow',
    'build_summary',
    'compressed_to_bgr8',
    'copy_header',
    'flow_stats',
    'flow_status',
    'forward_backward_confidence',
    'image_to_bgr8',
    'ns_to_time',
    'time_to_ns',
]


class ImageError(ValueError):
    """An input image the node cannot use (the frame is skipped and counted)."""


class UnsupportedEncoding(ImageError):
    """The image encoding is not one of :data:`ENCODINGS`."""


class MalformedImage(ImageError):
    """Size, step and data length of the message disagree, or the image is empty."""


@dataclass(frozen=True)
class _Encoding:
    dtype: np.dtype
    channels: int
    to_bgr: int | None  # cv2.cvtColor code, None for bgr8 itself


ENCODINGS: dict[str, _Encoding] = {
    'bgr8': _Encoding(np.dtype(np.uint8), 3, None),
    'rgb8': _Encoding(np.dtype(np.uint8), 3, cv2.COLOR_RGB2BGR),
    'bgra8': _Encoding(np.dtype(np.uint8), 4, cv2.COLOR_BGRA2BGR),
    'rgba8': _Encoding(np.dtype(np.uint8), 4, cv2.COLOR_RGBA2BGR),
    'mono8': _Encoding(np.dtype(np.uint8), 1, cv2.COLOR_GRAY2BGR),
    'mono16': _Encoding(np.dtype(np.uint16), 1, cv2.COLOR_GRAY2BGR),
    # OpenCV names Bayer patterns by the second row (cv_bridge's table): RGGB -> BayerBG, etc.
    'bayer_rggb8': _Encoding(np.dtype(np.uint8), 1, cv2.COLOR_BayerBG2BGR),
    'bayer_bggr8': _Encoding(np.dtype(np.uint8), 1, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg8': _Encoding(np.dtype(np.uint8), 1, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg8': _Encoding(np.dtype(np.uint8), 1, cv2.COLOR_BayerGB2BGR),
    # REP-104 yuv422 is UYVY byte order; yuv422_yuy2 is YUYV.
    'yuv422': _Encoding(np.dtype(np.uint8), 2, cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': _Encoding(np.dtype(np.uint8), 2, cv2.COLOR_YUV2BGR_YUY2),
}
"""Supported input encodings -> element dtype, channels and the colour conversion to BGR."""


# ----------------------------------------------------------------------------------------- time


def time_to_ns(stamp: Time) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_time(ns: int) -> Time:
    """Integer nanoseconds (>= 0) -> ``builtin_interfaces/Time``."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def copy_header(header: Header) -> Header:
    """Deep copy of a header (stamp and frame_id), so outputs never alias the input message."""
    return Header(stamp=Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec), frame_id=header.frame_id)


# ------------------------------------------------------------------------------- images in


def image_to_bgr8(msg: Image) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into a BGR image.

    Rows may be padded (``step`` > width x bytes per pixel). ``mono16`` is scaled to 8 bit by
    keeping the high byte.

    Args:
        msg: the image message, any encoding of :data:`ENCODINGS`.

    Returns:
        (height, width, 3) uint8 BGR, C-contiguous, owning its memory.

    Raises:
        UnsupportedEncoding: the encoding is not in :data:`ENCODINGS` (the message names it).
        MalformedImage: zero width or height, ``step`` shorter than a row, ``step * height !=
            len(data)``, or an odd width for yuv422.

    """
    enc = ENCODINGS.get(msg.encoding)
    if enc is None:
        raise UnsupportedEncoding(
            f'unsupported image encoding {msg.encoding!r}; supported: {", ".join(ENCODINGS)}'
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise MalformedImage(f'image has zero size ({width}x{height})')
    row_bytes = width * enc.channels * enc.dtype.itemsize
    if step < row_bytes:
        raise MalformedImage(
            f'step {step} is shorter than a {msg.encoding} row of {width} px ({row_bytes} B)'
        )
    if step * height != len(msg.data):
        raise MalformedImage(
            f'step * height = {step} * {height} = {step * height} != len(data) = {len(msg.data)}'
        )
    if enc.channels == 2 and width % 2:
        raise MalformedImage(f'{msg.encoding} needs an even width, got {width}')
    dtype = enc.dtype.newbyteorder('>' if msg.is_bigendian else '<')
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    image = np.ndarray(
        shape=(height, width, enc.channels),
        dtype=dtype,
        buffer=buffer,
        strides=(step, enc.channels * enc.dtype.itemsize, enc.dtype.itemsize),
    )
    if enc.dtype == np.uint16:
        image = (image.astype(np.uint16) >> 8).astype(np.uint8)
    if enc.to_bgr is None:
        return np.array(image, dtype=np.uint8, order='C', copy=True)
    if enc.channels == 1:
        image = image[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(image), enc.to_bgr)


def compressed_to_bgr8(msg: CompressedImage) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, ...) with OpenCV.

    Args:
        msg: the compressed image.

    Returns:
        (height, width, 3) uint8 BGR.

    Raises:
        MalformedImage: empty data or data OpenCV cannot decode.

    """
    if len(msg.data) == 0:
        raise MalformedImage('compressed image has no data')
    image = cv2.imdecode(np.frombuffer(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise MalformedImage(f'cannot decode compressed image (format {msg.format!r}, {len(msg.data)} B)')
    return image


# ------------------------------------------------------------------------------ images out

_ARRAY_ENCODINGS = {
    (np.dtype(np.uint8), 3): 'bgr8',
    (np.dtype(np.uint8), 1): 'mono8',
    (np.dtype(np.float32), 1): '32FC1',
    (np.dtype(np.float32), 2): '32FC2',
}


def array_to_image(array: np.ndarray, header: Header) -> Image:
    """Wrap an array in a ``sensor_msgs/Image``.

    Args:
        array: (H, W, 3) uint8 -> ``bgr8``; (H, W) uint8 -> ``mono8``; (H, W) float32 -> ``32FC1``;
            (H, W, 2) float32 -> ``32FC2`` (flow: channel 0 = u, 1 = v).
        header: copied into the message.

    Returns:
        The message, dense rows (step = width x bytes per pixel), native byte order.

    Raises:
        ValueError: another dtype or shape.

    """
    channels = 1 if array.ndim == 2 else array.shape[2]
    encoding = _ARRAY_ENCODINGS.get((array.dtype, channels)) if array.ndim in (2, 3) else None
    if encoding is None:
        raise ValueError(
            f'array must be (H, W, 3) uint8, (H, W) uint8, (H, W) float32 or (H, W, 2) float32, '
            f'got shape {array.shape} dtype {array.dtype}'
        )
    array = np.ascontiguousarray(array)
    msg = Image(
        header=copy_header(header),
        height=array.shape[0],
        width=array.shape[1],
        encoding=encoding,
        is_bigendian=int(sys.byteorder == 'big'),
        step=array.shape[1] * channels * array.dtype.itemsize,
    )
    msg.data = array.tobytes()
    return msg


# ------------------------------------------------------------------------ flow statistics


@dataclass(frozen=True)
class FlowStats:
    """Statistics of a flow field over its valid (finite) pixels, in px.

    Attributes:
        mean_u: mean u (+x right), px.
        mean_v: mean v (+y down), px.
        median_magnitude: px.
        p95_magnitude: 95th percentile magnitude, px.
        max_magnitude: px.
        valid_fraction: valid pixels / all pixels, in [0, 1].

    """

    mean_u: float
    mean_v: float
    median_magnitude: float
    p95_magnitude: float
    max_magnitude: float
    valid_fraction: float


def flow_stats(flow: np.ndarray) -> FlowStats:
    """Summarise a flow field.

    Args:
        flow: (H, W, 2) float32 px, NaN where invalid.

    Returns:
        :class:`FlowStats`; all NaN except ``valid_fraction`` = 0 when no pixel is valid.

    """
    valid = np.isfinite(flow).all(axis=2)
    count = int(valid.sum())
    if count == 0:
        nan = float('nan')
        return FlowStats(nan, nan, nan, nan, nan, 0.0)
    vectors = flow[valid].astype(np.float64)
    magnitude = np.hypot(vectors[:, 0], vectors[:, 1])
    median, p95 = np.percentile(magnitude, [50.0, 95.0])
    return FlowStats(
        mean_u=float(vectors[:, 0].mean()),
        mean_v=float(vectors[:, 1].mean()),
        median_magnitude=float(median),
        p95_magnitude=float(p95),
        max_magnitude=float(magnitude.max()),
        valid_fraction=count / valid.size,
    )


def forward_backward_confidence(
    forward: np.ndarray, backward: np.ndarray, *, alpha: float = 0.01, beta_px2: float = 0.5
) -> np.ndarray:
    """Forward-backward consistency confidence on the forward flow's grid.

    The backward flow is sampled where each pixel lands, ``b' = backward(x + forward(x))``; a
    consistent pair has ``forward + b' = 0``. The occlusion test of Sundaram et al. (ECCV 2010),
    ``|f + b'|^2 < alpha (|f|^2 + |b'|^2) + beta``, is turned into a soft score
    ``exp(-|f + b'|^2 / (alpha (|f|^2 + |b'|^2) + beta))``. Pixels that land outside the image get 0.

    Args:
        forward: (H, W, 2) float32 px, previous -> current, on the previous grid.
        backward: (H, W, 2) float32 px, current -> previous, on the current grid.
        alpha: relative tolerance (unitless).
        beta_px2: absolute tolerance in px^2.

    Returns:
        (H, W) float32 confidence in [0, 1] (1 = consistent).

    Raises:
        ValueError: the two flows differ in shape or are not (H, W, 2).

    """
    if forward.shape != backward.shape or forward.ndim != 3 or forward.shape[2] != 2:
        raise ValueError(
            f'forward and backward must both be (H, W, 2), got {forward.shape} and {backward.shape}'
        )
    height, width = forward.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = grid_x + forward[:, :, 0]
    map_y = grid_y + forward[:, :, 1]
    # Replicate the border for the bilinear taps; positions outside the image are masked below.
    warped = cv2.remap(backward.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    diff = np.square(forward + warped).sum(axis=2)
    norm = np.square(forward).sum(axis=2) + np.square(warped).sum(axis=2)
    confidence = np.exp(-diff / (alpha * norm + beta_px2))
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    confidence = np.where(inside & np.isfinite(confidence), confidence, 0.0)
    return confidence.astype(np.float32)


# ----------------------------------------------------------------------- message builders


def build_optical_flow(
    header: Header,
    previous_stamp: Time,
    flow: np.ndarray,
    *,
    input_width: int,
    model: str,
    frames_skipped: int = 0,
    confidence: np.ndarray | None = None,
) -> OpticalFlow:
    """Build an ``lfn2_msgs/OpticalFlow``.

    Args:
        header: header of the current frame t (copied).
        previous_stamp: stamp of frame t-1.
        flow: (H, W, 2) float32 px, previous -> current on the previous grid, NaN where invalid.
        input_width: width of the input image in px (for ``scale``).
        model: model name.
        frames_skipped: input frames dropped between the two frames.
        confidence: optional (H, W) float32 in [0, 1]; None leaves the field empty.

    Returns:
        The message; ``flow.header`` equals ``header`` and ``valid_window`` covers the flow image.

    """
    height, width = flow.shape[:2]
    msg = OpticalFlow(
        header=copy_header(header),
        previous_stamp=Time(sec=previous_stamp.sec, nanosec=previous_stamp.nanosec),
        flow=array_to_image(flow.astype(np.float32, copy=False), header),
        scale=float(width) / float(input_width),
        valid_window=RegionOfInterest(x_offset=0, y_offset=0, height=height, width=width, do_rectify=False),
        frames_skipped=int(frames_skipped),
        model=model,
    )
    if confidence is not None:
        msg.confidence = array_to_image(confidence.astype(np.float32, copy=False), header)
    return msg


def build_summary(
    header: Header,
    previous_stamp: Time,
    stats: FlowStats,
    *,
    inference_time_s: float,
    latency_s: float,
    frames_skipped: int = 0,
) -> OpticalFlowSummary:
    """Build an ``lfn2_msgs/OpticalFlowSummary``.

    Args:
        header: header of the current frame (copied).
        previous_stamp: stamp of the previous frame.
        stats: statistics from :func:`flow_stats` (px).
        inference_time_s: model time for this pair, s.
        latency_s: publication time minus ``header.stamp``, s.
        frames_skipped: input frames dropped between the two frames.

    Returns:
        The message.

    """
    return OpticalFlowSummary(
        header=copy_header(header),
        previous_stamp=Time(sec=previous_stamp.sec, nanosec=previous_stamp.nanosec),
        mean_u=stats.mean_u,
        mean_v=stats.mean_v,
        median_magnitude=stats.median_magnitude,
        p95_magnitude=stats.p95_magnitude,
        max_magnitude=stats.max_magnitude,
        valid_fraction=stats.valid_fraction,
        inference_time=float(inference_time_s),
        end_to_end_latency=float(latency_s),
        frames_skipped=int(frames_skipped),
    )


def flow_status(
    window: dict[str, float], *, dropped: int, invalid: int, errors: int, last_error: str, enabled: bool,
    device: str, model: str
) -> tuple[bytes, str, dict[str, object]]:
    """Level, message and key values of the flow node's diagnostic status for one period.

    Args:
        window: counts over the period: ``elapsed_s`` (s), ``received`` and ``published`` (messages),
            ``errors`` (runtime errors), ``inference_s`` and ``latency_s`` (sums over published pairs, s).
        dropped: frames dropped since start (model busy or ``max_rate``).
        invalid: malformed or unsupported frames since start.
        errors: runtime errors since start.
        last_error: message of the latest runtime error.
        enabled: whether processing is enabled.
        device: device name.
        model: model name.

    Returns:
        ``(level, message, values)``: ERROR when a runtime error happened in the period, WARN when
        enabled but no image arrived, OK otherwise; values for :func:`build_diagnostics`.

    """
    elapsed_s = max(float(window['elapsed_s']), 1e-9)
    published = window['published']
    values = {
        'input rate (Hz)': window['received'] / elapsed_s,
        'output rate (Hz)': published / elapsed_s,
        'inference (ms)': 1e3 * window['inference_s'] / published if published else float('nan'),
        'latency (ms)': 1e3 * window['latency_s'] / published if published else float('nan'),
        'frames dropped': dropped,
        'invalid frames': invalid,
        'runtime errors': errors,
        'device': device,
        'model': model,
        'enabled': enabled,
    }
    if window['errors']:
        return DiagnosticStatus.ERROR, last_error, values
    if not enabled:
        return DiagnosticStatus.OK, 'disabled', values
    if window['received'] == 0:
        return DiagnosticStatus.WARN, 'no input images', values
    return DiagnosticStatus.OK, 'running', values


def build_diagnostics(
    stamp: Time, name: str, hardware_id: str, level: bytes, message: str, values: dict[str, object]
) -> DiagnosticArray:
    """Build a one-status ``diagnostic_msgs/DiagnosticArray``.

    Args:
        stamp: array stamp (node clock).
        name: status name, ``'<node name>: <task>'`` as diagnostic_updater names it.
        hardware_id: device the node runs on.
        level: ``DiagnosticStatus.OK | WARN | ERROR | STALE``.
        message: one-line summary.
        values: key -> value, written with ``str()`` (floats with 3 decimals).

    Returns:
        The array.

    """
    pairs = [KeyValue(key=k, value=f'{v:.3f}' if isinstance(v, float) else str(v)) for k, v in values.items()]
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id, values=pairs)
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
