# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Read camera images (and ground-truth flow) from rosbag2 bags, write flow results to a new bag.

Everything here uses the ``rosbags`` library, never rclpy or ``*_msgs`` packages, so the evaluator
runs without a ROS installation. Both storage formats (sqlite3 ``.db3`` and ``.mcap``) are read
and written.

Input images are ``sensor_msgs/Image`` (the encodings of :data:`SUPPORTED_ENCODINGS`, converted to
uint8 BGR with the same conversions as the flow node (``lfn2_ros.node.conversions``, which follows
cv_bridge's colour table: Bayer patterns with OpenCV's shifted names; 16-bit data keeps its high
byte), plus a few encodings the node does not take (8UCn, 16-bit colour, Bayer 16, nv21)) or
``sensor_msgs/CompressedImage`` (jpeg/png through ``cv2.imdecode``). Ground-truth flow is a
``sensor_msgs/Image`` 32FC2 (or an ``lfn2_msgs/OpticalFlow``) whose header stamp equals the stamp
of the **second** frame of its pair, the convention of ``lfn2_msgs/OpticalFlow``: flow from frame
t-1 to frame t, stamped t.

Errors a user can act on raise :class:`BagError` (a ValueError) with a message naming the bag,
topic, message index and time.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

__all__ = [
    'COMPRESSED_IMAGE_TYPE',
    'FLOW_TOPIC',
    'IMAGE_TYPE',
    'OPTICAL_FLOW_TYPE',
    'SUPPORTED_ENCODINGS',
    'VIZ_TOPIC',
    'BagError',
    'BagFrame',
    'BagPair',
    'BagSource',
    'FlowBagWriter',
    'bgr_to_image_array',
    'compressed_to_bgr',
    'get_typestore_with_lfn2',
    'image_to_bgr',
    'image_to_flow',
    'read_flow_bag',
    'storage_of',
    'write_image_bag',
]

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
OPTICAL_FLOW_TYPE = 'lfn2_msgs/msg/OpticalFlow'
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
OPTICAL_FLOW_TOPIC = '/optical_flow'
FLOW_TOPIC = '/optical_flow/flow'
VIZ_TOPIC = '/optical_flow/visualization'

# encoding -> (channels, numpy dtype, cv2 conversion to BGR or None). 8UC1/8UC3/8UC4 are read as
# mono8/bgr8/bgra8 as most drivers mean them (cv_bridge itself refuses them as "not a colour format").
_RAW_ENCODINGS: dict[str, tuple[int, str, int | None]] = {
    'bgr8': (3, 'u1', None),
    'rgb8': (3, 'u1', cv2.COLOR_RGB2BGR),
    'bgra8': (4, 'u1', cv2.COLOR_BGRA2BGR),
    'rgba8': (4, 'u1', cv2.COLOR_RGBA2BGR),
    'mono8': (1, 'u1', cv2.COLOR_GRAY2BGR),
    '8UC1': (1, 'u1', cv2.COLOR_GRAY2BGR),
    '8UC3': (3, 'u1', None),
    '8UC4': (4, 'u1', cv2.COLOR_BGRA2BGR),
    'bgr16': (3, 'u2', None),
    'rgb16': (3, 'u2', cv2.COLOR_RGB2BGR),
    'bgra16': (4, 'u2', cv2.COLOR_BGRA2BGR),
    'rgba16': (4, 'u2', cv2.COLOR_RGBA2BGR),
    'mono16': (1, 'u2', cv2.COLOR_GRAY2BGR),
    # cv_bridge's table: ROS names the 2x2 pattern from the top-left pixel, OpenCV from the second
    # row/column, so rggb -> BayerBG etc.
    'bayer_rggb8': (1, 'u1', cv2.COLOR_BayerBG2BGR),
    'bayer_bggr8': (1, 'u1', cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg8': (1, 'u1', cv2.COLOR_BayerGR2BGR),
    'bayer_grbg8': (1, 'u1', cv2.COLOR_BayerGB2BGR),
    'bayer_rggb16': (1, 'u2', cv2.COLOR_BayerBG2BGR),
    'bayer_bggr16': (1, 'u2', cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg16': (1, 'u2', cv2.COLOR_BayerGR2BGR),
    'bayer_grbg16': (1, 'u2', cv2.COLOR_BayerGB2BGR),
    'yuv422': (2, 'u1', cv2.COLOR_YUV2BGR_UYVY),  # sensor_msgs: UYVY
    'uyvy': (2, 'u1', cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': (2, 'u1', cv2.COLOR_YUV2BGR_YUY2),
    'yuyv': (2, 'u1', cv2.COLOR_YUV2BGR_YUY2),
}
SUPPORTED_ENCODINGS = (*_RAW_ENCODINGS, 'nv21')
"""Raw ``sensor_msgs/Image`` encodings that convert to BGR."""


class BagError(ValueError):
    """A bag, topic or message the evaluator cannot use; the message says which and why."""


# ---------------------------------------------------------------------------------- conversions


def _fmt_time(ns: int) -> str:
    return f'{ns / 1e9:.6f} s'


def image_to_bgr(
    encoding: str, height: int, width: int, step: int, is_bigendian: int | bool, data: bytes | np.ndarray
) -> np.ndarray:
    """Convert the fields of a raw ``sensor_msgs/Image`` to a BGR image.

    Args:
        encoding: ``msg.encoding``, one of :data:`SUPPORTED_ENCODINGS`.
        height: rows.
        width: columns.
        step: bytes per row (>= width * bytes per pixel; padding is dropped).
        is_bigendian: byte order of 16-bit data.
        data: the pixel bytes (at least height * step).

    Returns:
        (height, width, 3) uint8 BGR, a new array.

    Raises:
        BagError: unsupported encoding (message lists the supported ones) or inconsistent sizes.

    """
    if encoding not in SUPPORTED_ENCODINGS:
        raise BagError(
            f'unsupported image encoding {encoding!r}; supported: {", ".join(SUPPORTED_ENCODINGS)} '
            '(raw sensor_msgs/Image) and jpeg/png sensor_msgs/CompressedImage'
        )
    buf = np.frombuffer(memoryview(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    buf = buf.reshape(-1).view(np.uint8)
    if height <= 0 or width <= 0:
        raise BagError(f'image has no pixels: {width}x{height}')
    if encoding == 'nv21':
        # Y plane then interleaved VU at half resolution: 1.5 * height rows of width bytes.
        rows = height * 3 // 2
        if step < width or buf.size < rows * step:
            raise BagError(
                f'nv21 image {width}x{height} needs {rows * step} bytes with step {step}, got {buf.size}'
            )
        yuv = buf[: rows * step].reshape(rows, step)[:, :width]
        return cv2.cvtColor(np.ascontiguousarray(yuv), cv2.COLOR_YUV2BGR_NV21)
    channels, kind, code = _RAW_ENCODINGS[encoding]
    itemsize = 1 if kind == 'u1' else 2
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise BagError(f'{encoding} image {width}x{height}: step {step} < {row_bytes} bytes per row')
    if buf.size < height * step:
        raise BagError(
            f'{encoding} image {width}x{height}: needs {height * step} bytes (step {step}), got {buf.size}'
        )
    rows = buf[: height * step].reshape(height, step)[:, :row_bytes]
    dtype = np.dtype(('>' if is_bigendian else '<') + kind) if itemsize == 2 else np.dtype(np.uint8)
    pixels = np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder('='), copy=False)
    pixels = pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)
    if itemsize == 2:
        # As lfn2_ros.node.conversions.image_to_bgr8: keep the high byte, then convert colours.
        pixels = (pixels >> 8).astype(np.uint8)
    if code is not None:
        pixels = cv2.cvtColor(np.ascontiguousarray(pixels), code)
    return np.ascontiguousarray(pixels)


def compressed_to_bgr(fmt: str, data: bytes | np.ndarray) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (jpeg or png) to BGR.

    Args:
        fmt: ``msg.format``, e.g. ``'jpeg'``, ``'png'``, ``'rgb8; jpeg compressed bgr8'``.
        data: the compressed bytes.

    Returns:
        (H, W, 3) uint8 BGR (grey images replicated, alpha dropped, 16-bit >> 8).

    Raises:
        BagError: compressedDepth or an unknown format, or data that does not decode.

    """
    low = fmt.lower()
    if 'compresseddepth' in low:
        raise BagError(f'unsupported CompressedImage format {fmt!r}: depth images are not camera images')
    if low and not any(k in low for k in ('jpeg', 'jpg', 'png', 'webp', 'tiff', 'bmp')):
        raise BagError(f'unsupported CompressedImage format {fmt!r}; expected jpeg or png')
    buf = np.frombuffer(memoryview(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    # IMREAD_COLOR as the node's compressed_to_bgr8: grey replicated, alpha dropped, 16-bit >> 8.
    image = cv2.imdecode(buf.reshape(-1).view(np.uint8), cv2.IMREAD_COLOR) if buf.size else None
    if image is None or image.size == 0:
        raise BagError(f'{fmt or "compressed"} data ({buf.size} bytes) does not decode as an image')
    if 'compressed rgb' in low:  # the transport stored RGB order (image_transport writes bgr)
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def image_to_flow(msg: object) -> np.ndarray:
    """Decode a 32FC2 ``sensor_msgs/Image`` (rosbags message object) to a flow array.

    Args:
        msg: deserialized Image with encoding ``32FC2``.

    Returns:
        (H, W, 2) float32 flow, px (NaN kept).

    Raises:
        BagError: another encoding or inconsistent sizes.

    """
    if msg.encoding != '32FC2':
        raise BagError(f'flow image must have encoding 32FC2, got {msg.encoding!r}')
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    buf = np.asarray(msg.data, dtype=np.uint8).reshape(-1)
    if step < width * 8 or buf.size < height * step:
        raise BagError(f'32FC2 image {width}x{height}: step {step}, {buf.size} bytes is inconsistent')
    rows = np.ascontiguousarray(buf[: height * step].reshape(height, step)[:, : width * 8])
    dtype = np.dtype('>f4' if msg.is_bigendian else '<f4')
    return rows.view(dtype).reshape(height, width, 2).astype(np.float32)


# ---------------------------------------------------------------------------------- typestore


def _lfn2_msg_dirs() -> list[Path]:
    """Candidate directories holding lfn2_msgs/msg/*.msg: installed share dirs, then the source tree."""
    dirs = []
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / 'share' / 'lfn2_msgs' / 'msg')
    repo = Path(__file__).resolve().parents[1]
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


def _stamp_from_cdr(raw: bytes | memoryview) -> tuple[int, int]:
    """Header stamp (sec, nanosec) of a CDR message starting with std_msgs/Header, without deserializing."""
    if len(raw) < 12:
        raise ValueError(f'{len(raw)} bytes is too short for a CDR header')
    little = raw[1] == 1
    return struct.unpack_from('<iI' if little else '>iI', raw, 4)


# ---------------------------------------------------------------------------------- reading


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


@dataclass
class BagPair:
    """Two frames of the image topic and the optional ground truth of the pair.

    Attributes:
        pair_index: index of the pair = index of its first frame.
        frame1: frame t-1.
        frame2: frame t.
        gt_flow: (H, W, 2) float32 ground-truth flow frame1 -> frame2 in px, or None.

    """

    pair_index: int
    frame1: BagFrame
    frame2: BagFrame
    gt_flow: np.ndarray | None


class BagSource:
    """The frames of one image topic of a rosbag2 bag, paired consecutively.

    Opening indexes the topic without decoding images (header stamps are read from the CDR bytes),
    so the number of pairs is known before the slow work; :meth:`iter_pairs` then reads the bag
    once in time order and decodes only the frames it needs.

    Args:
        path: bag directory (sqlite3 or mcap; a lone .mcap/.db3 file also works).
        topic: image topic (``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage``).
        gt_topic: optional ground-truth flow topic (32FC2 Image or lfn2_msgs/OpticalFlow),
            stamped with the second frame of each pair.
        start_s: skip messages earlier than this many seconds after the bag start.
        end_s: skip messages at or after this many seconds after the bag start.

    Raises:
        BagError: unreadable or empty bag, unknown topic (the message lists the image topics),
            wrong topic type, fewer than 2 frames in range, corrupt message headers.

    """

    def __init__(
        self,
        path: str | os.PathLike,
        topic: str,
        *,
        gt_topic: str | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f'bag not found: {self.path}')
        self.storage = storage_of(self.path)
        self.typestore = get_typestore_with_lfn2()
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except (ReaderError, FileNotFoundError, OSError, KeyError, ValueError) as exc:
            raise BagError(f'cannot open bag {self.path}: {exc}') from exc
        try:
            self._index(topic, gt_topic, start_s, end_s)
        except BaseException:
            self.close()
            raise

    def _connection(self, topic: str, kinds: Sequence[str], what: str) -> object:
        conns = [c for c in self._reader.connections if c.topic == topic]
        images = sorted({c.topic for c in self._reader.connections if c.msgtype in IMAGE_TYPES})
        if not conns:
            hint = f'image topics in the bag: {", ".join(images)}' if images else 'the bag has no image topic'
            raise BagError(f'{what} topic {topic!r} is not in {self.path}; {hint}')
        conn = conns[0]
        if conn.msgtype not in kinds:
            raise BagError(
                f'{what} topic {topic!r} has type {conn.msgtype}; expected {" or ".join(kinds)}'
                + (f' (image topics in the bag: {", ".join(images)})' if images else '')
            )
        return conn

    def _index(self, topic: str, gt_topic: str | None, start_s: float | None, end_s: float | None) -> None:
        reader = self._reader
        if reader.message_count == 0:
            raise BagError(f'bag {self.path} is empty (no messages)')
        self.topic = topic
        self.connection = self._connection(topic, IMAGE_TYPES, 'image')
        self.msgtype = self.connection.msgtype
        self.gt_connection = None
        if gt_topic is not None:
            if gt_topic == topic:
                raise BagError(f'the image and ground-truth topics must be different topics, got {topic!r}')
            self.gt_connection = self._connection(gt_topic, (IMAGE_TYPE, OPTICAL_FLOW_TYPE), 'ground-truth')
        self.bag_start_ns = reader.start_time
        self.start_ns = None if start_s is None else self.bag_start_ns + round(start_s * 1e9)
        self.stop_ns = None if end_s is None else self.bag_start_ns + round(end_s * 1e9)
        # (bag_time_ns, stamp_ns) of every frame in range, in bag order.
        self.frames: list[tuple[int, int]] = []
        for i, (_, t, raw) in enumerate(self._messages([self.connection])):
            try:
                sec, nsec = _stamp_from_cdr(raw)
            except (ValueError, struct.error, IndexError) as exc:
                raise BagError(self._corrupt(topic, i, t, None, str(exc))) from exc
            self.frames.append((t, sec * 1_000_000_000 + nsec))
        if len(self.frames) < 2:
            window = ''
            if start_s is not None or end_s is not None:
                window = f' between {start_s or 0:g} s and {"the end" if end_s is None else f"{end_s:g} s"}'
            raise BagError(
                f'topic {topic!r} has {len(self.frames)} message(s){window} in {self.path}; '
                'at least 2 frames are needed for a pair'
                + (f' (bag duration {reader.duration / 1e9:.3f} s)' if window else '')
            )
        self.gt_stamps: set[int] = set()
        if self.gt_connection is not None:
            for i, (_, t, raw) in enumerate(self._messages([self.gt_connection], bounded=False)):
                try:
                    sec, nsec = _stamp_from_cdr(raw)
                except (ValueError, struct.error, IndexError) as exc:
                    raise BagError(self._corrupt(gt_topic, i, t, None, str(exc))) from exc
                self.gt_stamps.add(sec * 1_000_000_000 + nsec)

    def _messages(self, conns: list, *, bounded: bool = True) -> Iterator[tuple[object, int, bytes]]:
        # Ground truth may be logged just after the last frame of the window: read past --end for it.
        stop = self.stop_ns if bounded else None
        try:
            yield from self._reader.messages(conns, start=self.start_ns, stop=stop)
        except ReaderError as exc:
            raise BagError(f'cannot read bag {self.path}: {exc}') from exc

    def _corrupt(self, topic: str, index: int, bag_ns: int, stamp_ns: int | None, why: str) -> str:
        stamp = '' if stamp_ns is None else f', header stamp {_fmt_time(stamp_ns)}'
        return (
            f'corrupt message on topic {topic!r} in {self.path}: message #{index} '
            f'(bag time {_fmt_time(bag_ns)}{stamp}): {why}'
        )

    @property
    def num_frames(self) -> int:
        """Frames of the topic in the selected range."""
        return len(self.frames)

    def pair_indices(self, stride: int = 1, max_pairs: int | None = None) -> list[int]:
        """Indices of the pairs to evaluate: pair i = (frame i, frame i + 1).

        Args:
            stride: keep every ``stride``-th pair (1 = all consecutive pairs).
            max_pairs: keep at most this many.

        Returns:
            Sorted pair indices.

        """
        if stride < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        ids = list(range(0, self.num_frames - 1, stride))
        return ids if max_pairs is None else ids[:max_pairs]

    def _decode(self, msgtype: str, raw: bytes, topic: str, index: int, bag_ns: int) -> tuple[object, object]:
        """Deserialize one message; return (msg, stamp_ns), turning failures into corrupt-message errors."""
        try:
            msg = self.typestore.deserialize_cdr(raw, msgtype)
        except Exception as exc:  # rosbags raises assorted errors on truncated CDR
            raise BagError(self._corrupt(topic, index, bag_ns, None, f'cannot deserialize: {exc!r}')) from exc
        return msg, msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

    def _frame(self, index: int, bag_ns: int, raw: bytes) -> BagFrame:
        msg, stamp = self._decode(self.msgtype, raw, self.topic, index, bag_ns)
        try:
            if self.msgtype == IMAGE_TYPE:
                image = image_to_bgr(
                    msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data
                )
                encoding = msg.encoding
            else:
                image = compressed_to_bgr(msg.format, msg.data)
                encoding = msg.format
        except BagError as exc:
            if str(exc).startswith('unsupported'):
                raise BagError(
                    f'{exc} (topic {self.topic!r}, message #{index}, bag time {_fmt_time(bag_ns)})'
                ) from exc
            raise BagError(self._corrupt(self.topic, index, bag_ns, stamp, str(exc))) from exc
        return BagFrame(index, bag_ns, stamp, msg.header.frame_id, image, bytes(raw), encoding)

    def _gt(self, raw: bytes, index: int, bag_ns: int) -> np.ndarray:
        conn = self.gt_connection
        msg, stamp = self._decode(conn.msgtype, raw, conn.topic, index, bag_ns)
        if conn.msgtype == OPTICAL_FLOW_TYPE:
            msg = msg.flow
        try:
            return image_to_flow(msg)
        except BagError as exc:
            raise BagError(self._corrupt(conn.topic, index, bag_ns, stamp, str(exc))) from exc

    def iter_pairs(self, pair_ids: Sequence[int]) -> Iterator[BagPair]:
        """Read the bag once and yield the requested pairs in order.

        Args:
            pair_ids: sorted pair indices (from :meth:`pair_indices`).

        Yields:
            The pairs, with ground truth when a GT message has the stamp of frame 2.

        Raises:
            BagError: corrupt message, unsupported encoding, frames of different sizes, or ground
                truth of another size than the images.

        """
        pair_ids = list(pair_ids)
        needed = set()
        for p in pair_ids:
            needed.update((p, p + 1))
        want_gt = {self.frames[p + 1][1] for p in pair_ids} & self.gt_stamps
        frames: dict[int, BagFrame] = {}
        gts: dict[int, np.ndarray] = {}
        conns = [self.connection] + ([self.gt_connection] if self.gt_connection is not None else [])
        k = 0  # next pair to yield
        image_i = gt_i = 0
        stream = self._messages(conns, bounded=False)
        while k < len(pair_ids):
            p = pair_ids[k]
            stamp2 = self.frames[p + 1][1]
            if p in frames and p + 1 in frames and (stamp2 not in want_gt or stamp2 in gts):
                f1, f2 = frames[p], frames[p + 1]
                if f1.image.shape != f2.image.shape:
                    raise BagError(
                        f'frames #{p} and #{p + 1} on {self.topic!r} have different sizes '
                        f'{f1.image.shape[1]}x{f1.image.shape[0]} and {f2.image.shape[1]}x{f2.image.shape[0]}'
                    )
                gt = gts.get(stamp2)
                if gt is not None and gt.shape[:2] != f2.image.shape[:2]:
                    raise BagError(
                        f'ground truth on {self.gt_connection.topic!r} at stamp {_fmt_time(stamp2)} is '
                        f'{gt.shape[1]}x{gt.shape[0]} but the images on {self.topic!r} are '
                        f'{f2.image.shape[1]}x{f2.image.shape[0]} (WxH); it must have the image size'
                    )
                yield BagPair(p, f1, f2, gt)
                k += 1
                nxt = pair_ids[k] if k < len(pair_ids) else None
                for i in [i for i in frames if nxt is None or i < nxt]:
                    del frames[i]
                continue
            try:
                conn, t, raw = next(stream)
            except StopIteration:
                raise BagError(f'{self.path}: the bag ended before pair #{p} was complete') from None
            if conn.id == self.connection.id:
                if image_i in needed:
                    frames[image_i] = self._frame(image_i, t, raw)
                image_i += 1
            else:
                try:
                    sec, nsec = _stamp_from_cdr(raw)
                except (ValueError, struct.error) as exc:
                    raise BagError(self._corrupt(conn.topic, gt_i, t, None, str(exc))) from exc
                stamp = sec * 1_000_000_000 + nsec
                if stamp in want_gt and stamp not in gts:
                    gts[stamp] = self._gt(raw, gt_i, t)
                gt_i += 1

    def close(self) -> None:
        """Close the bag."""
        if getattr(self._reader, 'is_open', False):
            self._reader.close()

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------- writing


def _time(store: object, ns: int) -> object:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return store.types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec)


def _header(store: object, ns: int, frame_id: str) -> object:
    return store.types['std_msgs/msg/Header'](stamp=_time(store, ns), frame_id=frame_id)


def _image(store: object, header: object, array: np.ndarray, encoding: str) -> object:
    height, width = array.shape[:2]
    data = np.ascontiguousarray(array)
    return store.types[IMAGE_TYPE](
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=data.nbytes // height,
        data=data.reshape(-1).view(np.uint8),
    )


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
        plugin = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}.get(storage)
        if plugin is None:
            raise BagError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}")
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
        msg = _image(self.store, _header(self.store, stamp_ns, frame_id), image, 'bgr8')
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
        header = _header(store, stamp_ns, frame_id)
        flow_img = _image(store, header, np.ascontiguousarray(flow, dtype='<f4'), '32FC2')
        height, width = flow.shape[:2]
        if confidence is None:
            conf = store.types[IMAGE_TYPE](
                header=header, height=0, width=0, encoding='32FC1', is_bigendian=0, step=0,
                data=np.zeros(0, np.uint8),
            )
        else:
            conf = _image(store, header, np.ascontiguousarray(confidence, dtype='<f4'), '32FC1')
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
            viz = _image(store, header, visualization, 'bgr8')
            self._writer.write(self._viz, bag_time_ns, bytes(store.serialize_cdr(viz, IMAGE_TYPE)))

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self._writer.close()

    def __enter__(self) -> FlowBagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    """Read the ``lfn2_msgs/OpticalFlow`` messages of a bag (e.g. one written by :class:`FlowBagWriter`).

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


# ---------------------------------------------------------------------------------- making bags

_FROM_BGR: dict[str, tuple[int | None, str]] = {
    'bgr8': (None, 'u1'),
    'rgb8': (cv2.COLOR_BGR2RGB, 'u1'),
    'bgra8': (cv2.COLOR_BGR2BGRA, 'u1'),
    'rgba8': (cv2.COLOR_BGR2RGBA, 'u1'),
    'mono8': (cv2.COLOR_BGR2GRAY, 'u1'),
    'bgr16': (None, 'u2'),
    'rgb16': (cv2.COLOR_BGR2RGB, 'u2'),
    'mono16': (cv2.COLOR_BGR2GRAY, 'u2'),
}


def bgr_to_image_array(image: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a BGR image to the pixel array of a raw encoding (the inverse of :func:`image_to_bgr`).

    Args:
        image: (H, W, 3) uint8 BGR.
        encoding: one of bgr8, rgb8, bgra8, rgba8, mono8, bgr16, rgb16, mono16 (16-bit = value * 257).

    Returns:
        (H, W[, C]) uint8 or uint16 array.

    """
    if encoding not in _FROM_BGR:
        raise ValueError(f'cannot write encoding {encoding!r}; choose from {list(_FROM_BGR)}')
    code, kind = _FROM_BGR[encoding]
    out = image if code is None else cv2.cvtColor(image, code)
    return out.astype(np.uint16) * 257 if kind == 'u2' else out  # v * 257 >> 8 == v


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
) -> None:
    """Write camera frames (and ground-truth flow) to a new bag, e.g. for tests and demos.

    Args:
        path: new bag directory.
        images: (H, W, 3) uint8 BGR frames.
        stamps_ns: header stamp of each frame, ns; also its bag time.
        topic: image topic.
        storage: ``'mcap'`` or ``'sqlite3'``.
        encodings: one encoding for all frames or one per frame: a raw encoding of
            :func:`bgr_to_image_array`, or ``'jpeg'`` / ``'png'`` for ``sensor_msgs/CompressedImage``
            (a topic holds one type, so compressed and raw cannot be mixed).
        frame_id: header frame_id.
        gt_topic: optional topic for 32FC2 ground truth.
        gt_flows: with ``gt_topic``: per frame, the flow from the previous frame to it (stamped
            with this frame), or None; entry 0 is ignored.

    """
    store = get_typestore_with_lfn2()
    encs = [encodings] * len(images) if isinstance(encodings, str) else list(encodings)
    compressed = {e in ('jpeg', 'png') for e in encs}
    if len(compressed) != 1 or len(encs) != len(images) or len(stamps_ns) != len(images):
        raise ValueError('one stamp and one encoding per image, and no mix of compressed and raw encodings')
    msgtype = COMPRESSED_IMAGE_TYPE if compressed.pop() else IMAGE_TYPE
    plugin = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}[storage]
    with Writer(Path(path), version=8, storage_plugin=plugin) as writer:
        conn = writer.add_connection(topic, msgtype, typestore=store)
        gt_conn = writer.add_connection(gt_topic, IMAGE_TYPE, typestore=store) if gt_topic else None
        for i, (image, stamp, enc) in enumerate(zip(images, stamps_ns, encs, strict=True)):
            header = _header(store, stamp, frame_id)
            if msgtype == COMPRESSED_IMAGE_TYPE:
                ok, data = cv2.imencode('.jpg' if enc == 'jpeg' else '.png', image)
                if not ok:
                    raise ValueError(f'cannot encode frame {i} as {enc}')
                msg = store.types[COMPRESSED_IMAGE_TYPE](header=header, format=enc, data=data.reshape(-1))
            else:
                msg = _image(store, header, bgr_to_image_array(image, enc), enc)
            writer.write(conn, stamp, bytes(store.serialize_cdr(msg, msgtype)))
            if gt_conn is not None and gt_flows is not None and i > 0 and gt_flows[i] is not None:
                flow = _image(store, header, np.ascontiguousarray(gt_flows[i], dtype='<f4'), '32FC2')
                writer.write(gt_conn, stamp, bytes(store.serialize_cdr(flow, IMAGE_TYPE)))
