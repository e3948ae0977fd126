# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Bags for tests: camera bags with optional ground truth, and the flow results of a bag read back."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, ReaderError, Writer

from lfn2_ros.io import bag_writer, image_pack
from lfn2_ros.io.bag_records import (
    COMPRESSED_IMAGE_TYPE,
    IMAGE_TYPE,
    OPTICAL_FLOW_TOPIC,
    OPTICAL_FLOW_TYPE,
    BagError,
    get_typestore_with_lfn2,
    image_to_flow,
)


def write_image_bag(
    path: str | os.PathLike,
    images: Sequence[np.ndarray],
    stamps_ns: Sequence[int],
    *,
    topic: str = '/camera/image_raw',
    storage: str = 'mcap',
    encodings: str | Sequence[str] = 'bgr8',
    frame_id: str = 'camera',
    gt_topic: str | None = None,
    gt_flows: Sequence[np.ndarray | None] | None = None,
    msg_edits: Mapping[int, Callable[[object], object]] | None = None,
    raw_edits: Mapping[int, Callable[[bytes], bytes]] | None = None,
    bag_times_ns: Sequence[int] | None = None,
) -> None:
    """Write camera frames (and ground-truth flow) to a new bag.

    Args:
        path: new bag directory.
        images: (H, W, 3) uint8 BGR frames.
        stamps_ns: header stamp of each frame, ns; also its bag time unless ``bag_times_ns`` is given.
        topic: image topic.
        storage: ``'mcap'`` or ``'sqlite3'``.
        encodings: one encoding for all frames or one per frame: a raw encoding of
            :func:`lfn2_ros.io.image_pack.bgr_to_image_array`, or ``'jpeg'`` / ``'png'`` for
            ``sensor_msgs/CompressedImage`` (a topic holds one type, so compressed and raw cannot be
            mixed).
        frame_id: header frame_id.
        gt_topic: optional topic for 32FC2 ground truth.
        gt_flows: with ``gt_topic``: per frame, the flow from the previous frame to it (stamped
            with this frame), or None; entry 0 is ignored.
        msg_edits: frame index -> function returning the message to write instead (e.g. one whose
            data has a wrong length), applied before serialisation.
        raw_edits: frame index -> function of the serialised message returning the bytes to write
            (e.g. truncated CDR).
        bag_times_ns: bag (receive) time of each frame, ns, when it differs from the stamp (a looped
            bag: stamps go back, bag time goes on); the ground truth of a frame gets the same.

    """
    store = get_typestore_with_lfn2()
    encs = [encodings] * len(images) if isinstance(encodings, str) else list(encodings)
    compressed = {e in ('jpeg', 'png') for e in encs}
    times = list(stamps_ns if bag_times_ns is None else bag_times_ns)
    if len(compressed) != 1 or len({len(images), len(encs), len(stamps_ns), len(times)}) != 1:
        raise ValueError('one stamp and one encoding per image, and no mix of compressed and raw encodings')
    msgtype = COMPRESSED_IMAGE_TYPE if compressed.pop() else IMAGE_TYPE
    with Writer(Path(path), version=8, storage_plugin=bag_writer._plugin(storage)) as writer:
        conn = writer.add_connection(topic, msgtype, typestore=store)
        gt_conn = writer.add_connection(gt_topic, IMAGE_TYPE, typestore=store) if gt_topic else None
        for i, (image, stamp, enc, t) in enumerate(zip(images, stamps_ns, encs, times, strict=True)):
            header = bag_writer.header_msg(store, stamp, frame_id)
            if msgtype == COMPRESSED_IMAGE_TYPE:
                ok, data = cv2.imencode('.jpg' if enc == 'jpeg' else '.png', image)
                if not ok:
                    raise ValueError(f'cannot encode frame {i} as {enc}')
                msg = store.types[COMPRESSED_IMAGE_TYPE](header=header, format=enc, data=data.reshape(-1))
            else:
                msg = bag_writer._image_from_raw(store, header, image_pack.encode_bgr(image, enc))
            msg = (msg_edits or {}).get(i, lambda m: m)(msg)
            raw = bytes(store.serialize_cdr(msg, msgtype))
            writer.write(conn, t, (raw_edits or {}).get(i, lambda r: r)(raw))
            if gt_conn is not None and gt_flows is not None and i > 0 and gt_flows[i] is not None:
                flow = bag_writer._image_from_raw(store, header, image_pack.encode_flow(gt_flows[i]))
                writer.write(gt_conn, t, bytes(store.serialize_cdr(flow, IMAGE_TYPE)))


@dataclass
class FlowRecord:
    """One flow result read back from a bag.

    Attributes:
        bag_time_ns: bag time, ns.
        stamp_ns: header stamp (frame t), ns.
        previous_stamp_ns: stamp of frame t-1, ns.
        frame_id: header frame_id.
        flow: (H, W, 2) float32 px.
        model: model name.

    """

    bag_time_ns: int
    stamp_ns: int
    previous_stamp_ns: int
    frame_id: str
    flow: np.ndarray
    model: str


def read_flow_bag(path: str | os.PathLike, topic: str = OPTICAL_FLOW_TOPIC) -> list[FlowRecord]:
    """Read the ``lfn2_msgs/OpticalFlow`` messages of a bag, e.g. one written by ``FlowBagWriter``.

    Args:
        path: bag directory.
        topic: OpticalFlow topic.

    Returns:
        The records in bag order.

    Raises:
        BagError: unreadable bag or missing topic.

    """
    store = get_typestore_with_lfn2()
    try:
        with Reader(Path(path)) as reader:
            conns = [c for c in reader.connections if c.topic == topic]
            if not conns:
                raise BagError(f'topic {topic!r} is not in {path}; topics: {sorted(reader.topics)}')
            out = []
            for _, t, raw in reader.messages(conns):
                msg = store.deserialize_cdr(raw, OPTICAL_FLOW_TYPE)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                prev = msg.previous_stamp.sec * 1_000_000_000 + msg.previous_stamp.nanosec
                flow = image_to_flow(msg.flow)
                out.append(FlowRecord(t, stamp, prev, msg.header.frame_id, flow, msg.model))
            return out
    except (ReaderError, FileNotFoundError) as exc:
        raise BagError(f'cannot read bag {path}: {exc}') from exc
