# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Plain functions between ROS messages and numpy arrays, and the node's message builders.

Nothing here spins or keeps state, so every function is tested without a ROS graph. The pixel
formats themselves live in the ROS-free :mod:`lfn2_ros.io.image_decode` and :mod:`lfn2_ros.io.image_pack`
(shared with the bag tools); this module only maps rclpy messages to and from their plain fields. Flow
statistics and the forward-backward confidence come from :mod:`lfn2_ros.evaluation.consistency`.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary
from lfn2_ros.evaluation.stats import FlowStats
from lfn2_ros.io import image_decode, image_pack
from lfn2_ros.io.image_encodings import ENCODINGS, ImageError, MalformedImage, UnsupportedEncoding

__all__ = [
    'ENCODINGS',
    'ImageError',
    'MalformedImage',
    'UnsupportedEncoding',
    'array_to_image',
    'build_diagnostics',
    'build_optical_flow',
    'build_summary',
    'compressed_to_bgr8',
    'copy_header',
    'image_to_bgr8',
    'ns_to_time',
    'time_to_ns',
]


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
    """Decode a ``sensor_msgs/Image`` into a BGR image (:func:`lfn2_ros.io.image_decode.decode_bgr`).

    Args:
        msg: the image message, any encoding of :data:`ENCODINGS`; rows may be padded.

    Returns:
        (height, width, 3) uint8 BGR, C-contiguous, owning its memory.

    Raises:
        UnsupportedEncoding: the encoding is not in :data:`ENCODINGS` (the message names it).
        MalformedImage: zero width or height, ``step`` shorter than a row, ``step * height !=
            len(data)``, or an odd width for yuv422.

    """
    return image_decode.decode_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)


def compressed_to_bgr8(msg: CompressedImage) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (:func:`lfn2_ros.io.image_decode.decode_compressed_bgr`).

    Args:
        msg: the compressed image (jpeg, png, ...).

    Returns:
        (height, width, 3) uint8 BGR.

    Raises:
        UnsupportedEncoding: compressedDepth or a format OpenCV does not read.
        MalformedImage: empty data or data OpenCV cannot decode.

    """
    return image_decode.decode_compressed_bgr(msg.format, msg.data)


# ------------------------------------------------------------------------------ images out


def array_to_image(array: np.ndarray, header: Header) -> Image:
    """Wrap an array in a ``sensor_msgs/Image`` (:func:`lfn2_ros.io.image_pack.encode_array`).

    Args:
        array: (H, W, 3) uint8 -> ``bgr8``; (H, W) uint8 -> ``mono8``; (H, W) float32 -> ``32FC1``;
            (H, W, 2) float32 -> ``32FC2`` (flow: channel 0 = u, 1 = v).
        header: copied into the message.

    Returns:
        The message, dense rows (step = width x bytes per pixel), native byte order.

    Raises:
        ValueError: another dtype or shape.

    """
    raw = image_pack.encode_array(array)
    msg = Image(
        header=copy_header(header),
        height=raw.height,
        width=raw.width,
        encoding=raw.encoding,
        is_bigendian=raw.is_bigendian,
        step=raw.step,
    )
    msg.data = raw.data
    return msg


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
    receive_latency_s: float = 0.0,
    queue_time_s: float = 0.0,
    frames_skipped: int = 0,
) -> OpticalFlowSummary:
    """Build an ``lfn2_msgs/OpticalFlowSummary``.

    Args:
        header: header of the current frame (copied).
        previous_stamp: stamp of the previous frame.
        stats: statistics from :func:`lfn2_ros.evaluation.stats.flow_stats` (px).
        inference_time_s: model time for this pair, s.
        latency_s: publication time minus ``header.stamp``, s.
        receive_latency_s: arrival in the node's callback minus ``header.stamp``, s.
        queue_time_s: time the frame waited for the worker, s.
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
        receive_latency=float(receive_latency_s),
        queue_time=float(queue_time_s),
        frames_skipped=int(frames_skipped),
    )


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
