# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Write rosbag2 bags with ``rosbags``: evaluation results (:class:`FlowBagWriter`) and their messages.

The counterpart of :mod:`lfn2_ros.io.bag_reader`; pixels are packed by :mod:`lfn2_ros.io.image_pack`.
No rclpy or ``*_msgs`` import: messages are built from the typestore of
:func:`lfn2_ros.io.bag_records.get_typestore_with_lfn2`. Both storage formats (``mcap``, ``sqlite3``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

from lfn2_ros.io import image_pack
from lfn2_ros.io.bag_records import (
    FLOW_TOPIC,
    IMAGE_TYPE,
    OPTICAL_FLOW_TOPIC,
    OPTICAL_FLOW_TYPE,
    VIZ_TOPIC,
    BagError,
    get_typestore_with_lfn2,
)
from lfn2_ros.io.image_encodings import RawImage

__all__ = ['FlowBagWriter', 'header_msg', 'image_msg']

_PLUGINS = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


def _plugin(storage: str) -> StoragePlugin:
    plugin = _PLUGINS.get(storage)
    if plugin is None:
        raise BagError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}")
    return plugin


def _time(store: object, ns: int) -> object:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return store.types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec)


def header_msg(store: object, ns: int, frame_id: str) -> object:
    """A rosbags ``std_msgs/Header``.

    Args:
        store: typestore (:func:`lfn2_ros.io.bag_records.get_typestore_with_lfn2`).
        ns: stamp, ns.
        frame_id: frame id.

    Returns:
        The message object.

    """
    return store.types['std_msgs/msg/Header'](stamp=_time(store, ns), frame_id=frame_id)


def _image_from_raw(store: object, header: object, raw: RawImage) -> object:
    return store.types[IMAGE_TYPE](
        header=header,
        height=raw.height,
        width=raw.width,
        encoding=raw.encoding,
        is_bigendian=raw.is_bigendian,
        step=raw.step,
        data=np.frombuffer(raw.data, dtype=np.uint8),
    )


def image_msg(store: object, header: object, array: np.ndarray, encoding: str) -> object:
    """A rosbags ``sensor_msgs/Image`` holding ``array`` (:func:`lfn2_ros.io.image_pack.encode_array`).

    Args:
        store: typestore.
        header: the header object (:func:`header_msg`).
        array: (H, W[, C]) pixels whose dtype and channels match ``encoding``.
        encoding: e.g. ``'bgr8'``, ``'mono16'``, ``'16UC1'``, ``'32FC2'``.

    Returns:
        The message object (dense rows, the host's byte order).

    Raises:
        ValueError: ``array`` does not match ``encoding``.

    """
    return _image_from_raw(store, header, image_pack.encode_array(array, encoding))


class FlowBagWriter:
    """Write an evaluation result bag: input images plus flow topics.

    Topics: the input image topic (messages copied byte for byte), ``/optical_flow``
    (lfn2_msgs/OpticalFlow), ``/optical_flow/flow`` (32FC2 Image) and ``/optical_flow/visualization``
    (bgr8 Image). Flow messages use the header of frame t (stamp and frame_id) and are written at
    frame t's bag time.

    Args:
        path: new bag directory (must not exist).
        storage: ``'mcap'`` or ``'sqlite3'``.
        image_topic: topic of the copied input images.
        image_msgtype: their type (Image or CompressedImage).

    Raises:
        BagError: the directory exists or the bag cannot be created.

    """

    def __init__(
        self, path: str | os.PathLike, *, storage: str, image_topic: str, image_msgtype: str = IMAGE_TYPE
    ) -> None:
        self.path = Path(path)
        self.store = get_typestore_with_lfn2()
        plugin = _plugin(storage)
        try:
            self._writer = Writer(self.path, version=8, storage_plugin=plugin)
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f'cannot create output bag {self.path}: {exc}') from exc
        add = self._writer.add_connection
        self._image = add(image_topic, image_msgtype, typestore=self.store)
        self._flow_msg = add(OPTICAL_FLOW_TOPIC, OPTICAL_FLOW_TYPE, typestore=self.store)
        self._flow = add(FLOW_TOPIC, IMAGE_TYPE, typestore=self.store)
        self._viz = add(VIZ_TOPIC, IMAGE_TYPE, typestore=self.store)

    def write_image_raw(self, raw: bytes, bag_time_ns: int) -> None:
        """Copy one serialized input image message (CDR bytes) at its bag time, ns."""
        self._writer.write(self._image, bag_time_ns, raw)

    def write_image_bgr(self, image: np.ndarray, *, stamp_ns: int, frame_id: str, bag_time_ns: int) -> None:
        """Write a BGR image as a bgr8 Image (for dataset inputs, which have no messages to copy)."""
        header = header_msg(self.store, stamp_ns, frame_id)
        msg = _image_from_raw(self.store, header, image_pack.encode_bgr(image))
        self.write_image_raw(bytes(self.store.serialize_cdr(msg, IMAGE_TYPE)), bag_time_ns)

    def write_flow(
        self,
        flow: np.ndarray,
        *,
        stamp_ns: int,
        previous_stamp_ns: int,
        frame_id: str,
        bag_time_ns: int,
        model: str,
        visualization: np.ndarray | None = None,
        confidence: np.ndarray | None = None,
    ) -> None:
        """Write the flow of one pair on the three flow topics.

        Args:
            flow: (H, W, 2) float32 flow frame t-1 -> t, px of the input image.
            stamp_ns: header stamp of frame t, ns.
            previous_stamp_ns: header stamp of frame t-1, ns.
            frame_id: frame_id of the input image.
            bag_time_ns: bag time to write at (frame t's), ns.
            model: model name for ``OpticalFlow.model``.
            visualization: optional (H, W, 3) uint8 BGR colour coding.
            confidence: optional (H, W) float32 in [0, 1] for ``OpticalFlow.confidence``.

        """
        store = self.store
        header = header_msg(store, stamp_ns, frame_id)
        flow_img = _image_from_raw(store, header, image_pack.encode_flow(flow))
        height, width = flow.shape[:2]
        if confidence is None:
            conf = store.types[IMAGE_TYPE](
                header=header, height=0, width=0, encoding='32FC1', is_bigendian=0, step=0,
                data=np.zeros(0, np.uint8),
            )
        else:
            conf = image_msg(store, header, np.asarray(confidence, dtype=np.float32), '32FC1')
        roi = store.types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=height, width=width, do_rectify=False
        )
        msg = store.types[OPTICAL_FLOW_TYPE](
            header=header,
            previous_stamp=_time(store, previous_stamp_ns),
            flow=flow_img,
            scale=1.0,
            valid_window=roi,
            confidence=conf,
            frames_skipped=0,
            model=model,
        )
        self._writer.write(self._flow_msg, bag_time_ns, bytes(store.serialize_cdr(msg, OPTICAL_FLOW_TYPE)))
        self._writer.write(self._flow, bag_time_ns, bytes(store.serialize_cdr(flow_img, IMAGE_TYPE)))
        if visualization is not None:
            viz = _image_from_raw(store, header, image_pack.encode_bgr(visualization))
            self._writer.write(self._viz, bag_time_ns, bytes(store.serialize_cdr(viz, IMAGE_TYPE)))

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self._writer.close()

    def __enter__(self) -> FlowBagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
