# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What lfn2_ros reads from and writes to rosbag2 bags: topic and type names, the typestore, frame records.

Everything here uses the ``rosbags`` library, never rclpy or ``*_msgs`` packages, so the evaluator
runs without a ROS installation. Ground-truth flow is a ``sensor_msgs/Image`` 32FC2 (or an
``lfn2_msgs/OpticalFlow``) whose header stamp equals the stamp of the **second** frame of its pair,
the convention of ``lfn2_msgs/OpticalFlow``: flow from frame t-1 to frame t, stamped t.
Reading is :mod:`lfn2_ros.io.bag_reader`, writing :mod:`lfn2_ros.io.bag_writer`.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from lfn2_ros.io import image_decode
from lfn2_ros.io.image_encodings import ImageError

__all__ = [
    'COMPRESSED_IMAGE_TYPE',
    'FLOW_TOPIC',
    'IMAGE_TYPE',
    'IMAGE_TYPES',
    'OPTICAL_FLOW_TOPIC',
    'OPTICAL_FLOW_TYPE',
    'VIZ_TOPIC',
    'BagError',
    'BagFrame',
    'format_time',
    'get_typestore_with_lfn2',
    'image_to_flow',
    'stamp_from_cdr',
    'storage_of',
]

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
OPTICAL_FLOW_TYPE = 'lfn2_msgs/msg/OpticalFlow'
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
OPTICAL_FLOW_TOPIC = '/optical_flow'
FLOW_TOPIC = '/optical_flow/flow'
VIZ_TOPIC = '/optical_flow/visualization'


class BagError(ValueError):
    """A bag, topic or message the evaluator cannot use; the message says which and why."""


# ---------------------------------------------------------------------------------- flow messages


def format_time(ns: int) -> str:
    """``ns`` as seconds with microsecond digits, for messages."""
    return f'{ns / 1e9:.6f} s'


def image_to_flow(msg: object) -> np.ndarray:
    """Decode a 32FC2 ``sensor_msgs/Image`` (rosbags message object) to a flow array.

    Args:
        msg: deserialized Image with encoding ``32FC2``.

    Returns:
        (H, W, 2) float32 flow, px (NaN kept).

    Raises:
        BagError: another encoding or inconsistent sizes (:func:`lfn2_ros.io.image_decode.decode_flow`).

    """
    try:
        return image_decode.decode_flow(
            msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data
        )
    except ImageError as exc:
        raise BagError(str(exc)) from exc


# ---------------------------------------------------------------------------------- typestore


def _lfn2_msg_dirs() -> list[Path]:
    """Candidate directories holding lfn2_msgs/msg/*.msg: installed share dirs, then the source tree."""
    dirs = []
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / 'share' / 'lfn2_msgs' / 'msg')
    repo = Path(__file__).resolve().parents[2]
    dirs += [repo / 'lfn2_msgs' / 'msg', repo / 'install' / 'lfn2_msgs' / 'share' / 'lfn2_msgs' / 'msg']
    return dirs


@lru_cache(maxsize=1)
def get_typestore_with_lfn2() -> object:
    """ROS 2 Jazzy typestore of rosbags plus the lfn2_msgs types, read from their .msg files.

    Returns:
        A rosbags Typestore.

    Raises:
        BagError: the lfn2_msgs .msg files are nowhere to be found.

    """
    store = get_typestore(Stores.ROS2_JAZZY)
    for directory in _lfn2_msg_dirs():
        files = sorted(directory.glob('*.msg')) if directory.is_dir() else []
        if files:
            types = {}
            for f in files:
                types.update(get_types_from_msg(f.read_text(), f'lfn2_msgs/msg/{f.stem}'))
            store.register(types)
            return store
    raise BagError(f'lfn2_msgs message definitions not found in {[str(d) for d in _lfn2_msg_dirs()]}')


def storage_of(path: str | os.PathLike) -> str:
    """Storage format of a bag: ``'mcap'`` or ``'sqlite3'``.

    Args:
        path: bag directory (or a single .mcap / .db3 file).

    Returns:
        The storage identifier.

    """
    path = Path(path)
    if path.is_file():
        return 'mcap' if path.suffix == '.mcap' else 'sqlite3'
    return 'mcap' if next(path.glob('*.mcap'), None) is not None else 'sqlite3'


def stamp_from_cdr(raw: bytes | memoryview) -> tuple[int, int]:
    """Header stamp (sec, nanosec) of a CDR message starting with std_msgs/Header, without deserializing."""
    if len(raw) < 12:
        raise ValueError(f'{len(raw)} bytes is too short for a CDR header')
    little = raw[1] == 1
    return struct.unpack_from('<iI' if little else '>iI', raw, 4)


@dataclass
class BagFrame:
    """One decoded camera frame.

    Attributes:
        index: ordinal of the message on its topic within the selected time range (0-based).
        bag_time_ns: bag (receive) timestamp, ns.
        stamp_ns: header stamp, ns.
        frame_id: header frame_id.
        image: (H, W, 3) uint8 BGR.
        raw: the serialized message (CDR), for copying into an output bag.
        encoding: raw encoding or compressed format of the message.

    """

    index: int
    bag_time_ns: int
    stamp_ns: int
    frame_id: str
    image: np.ndarray
    raw: bytes
    encoding: str
