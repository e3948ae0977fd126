# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Read camera images (and ground-truth flow) from rosbag2 bags, paired consecutively.

Input images are ``sensor_msgs/Image`` (the encodings of :data:`lfn2_ros.io.image_encodings.ENCODINGS`) or
``sensor_msgs/CompressedImage`` (jpeg/png), decoded to uint8 BGR by :mod:`lfn2_ros.io.image_decode`, the
decoder the flow node uses too. Both storage formats (sqlite3 ``.db3`` and ``.mcap``) are read.
Topic names, the typestore and the frame record are in :mod:`lfn2_ros.io.bag_records`.

Errors a user can act on raise :class:`BagError` (a ValueError) with a message naming the bag,
topic, message index and time. A bag that cannot be opened or read at all (a corrupt or truncated
.db3 or .mcap) raises it whatever the storage library raised, so a tool prints one line.

Pairs are formed as the flow node forms them (:mod:`lfn2_ros.io.pairs`, docs/node.md#pairing-rules): not
when the second frame's header stamp is not later than the first's (a looped bag), not across a change of
image size or encoding, not across a hole where the bag lost frames (:mod:`lfn2_ros.io.bag_loss`). A frame
that cannot be read or decoded breaks the pairs that use it. Such pairs
are recorded in a ``skipped`` list given by the caller (``{'split', 'pair', 'reason'}``, as
:func:`lfn2_ros.io.datasets.list_samples` records dataset pairs) and the reading goes on; without a list
the first one raises :class:`BagError` (``evaluate --strict``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader, ReaderError

from lfn2_ros.io import image_decode
from lfn2_ros.io.bag_loss import find_frame_loss
from lfn2_ros.io.bag_records import (
    IMAGE_TYPE,
    IMAGE_TYPES,
    OPTICAL_FLOW_TYPE,
    BagError,
    BagFrame,
    format_time,
    get_typestore_with_lfn2,
    image_to_flow,
    stamp_from_cdr,
    storage_of,
)
from lfn2_ros.io.image_encodings import ImageError, UnsupportedEncoding
from lfn2_ros.io.pairs import FlowPair, image_break_reason, stamp_break_reason

__all__ = ['BagSource']


def _cause(exc: BaseException) -> str:
    """One line saying why the storage library failed, whatever it raised."""
    if isinstance(exc, MemoryError):  # mcap: a corrupt record length asks for terabytes
        return 'a record length in the file is corrupt (reading it ran out of memory)'
    text = ' '.join(str(exc).split())
    if isinstance(exc, ReaderError | OSError):
        return text or type(exc).__name__
    return f'{type(exc).__name__}: {text}' if text else type(exc).__name__


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
            wrong topic type, fewer than 2 frames in range, a ground-truth message whose header
            cannot be read (it cannot be matched to a pair). An image whose header cannot be read
            breaks only its pairs (see :meth:`pair_indices`).

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
        except Exception as exc:  # rosbags, apsw and the mcap parser raise assorted errors on corrupt files
            raise BagError(f'cannot open bag {self._files()}: {_cause(exc)}') from exc
        try:
            self._index(topic, gt_topic, start_s, end_s)
        except BaseException:
            self.close()
            raise

    def _files(self) -> str:
        """The bag and its storage files, for messages."""
        if self.path.is_file():
            return str(self.path)
        files = sorted(p.name for p in self.path.iterdir() if p.suffix in ('.db3', '.mcap'))
        return f'{self.path} ({", ".join(files)})' if files else str(self.path)

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
        # (bag_time_ns, stamp_ns) of every frame in range, in bag order; stamp None: header unreadable,
        # the reason in _unreadable.
        self.frames: list[tuple[int, int | None]] = []
        self._unreadable: dict[int, str] = {}
        for i, (_, t, raw) in enumerate(self._messages([self.connection])):
            try:
                sec, nsec = stamp_from_cdr(raw)
            except (ValueError, struct.error, IndexError) as exc:
                self._unreadable[i] = self._corrupt(topic, i, t, None, f'cannot read the header: {exc}')
                self.frames.append((t, None))
                continue
            self.frames.append((t, sec * 1_000_000_000 + nsec))
        # The metadata counts the whole bag, so only an unwindowed read can be checked against it.
        self.frame_loss = None if start_s is not None or end_s is not None else find_frame_loss(
            [t for t, _ in self.frames], getattr(self.connection, 'msgcount', None))
        self.warnings: list[str] = []
        if self.frame_loss is not None and not self.frame_loss.gap_pairs:
            self.warnings.append(f'topic {topic!r} in {self.path}: {self.frame_loss.unlocated()}')
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
                    sec, nsec = stamp_from_cdr(raw)
                except (ValueError, struct.error, IndexError) as exc:
                    raise BagError(self._corrupt(gt_topic, i, t, None, str(exc))) from exc
                self.gt_stamps.add(sec * 1_000_000_000 + nsec)

    def _messages(self, conns: list, *, bounded: bool = True) -> Iterator[tuple[object, int, bytes]]:
        # Ground truth may be logged just after the last frame of the window: read past --end for it.
        stop = self.stop_ns if bounded else None
        try:
            yield from self._reader.messages(conns, start=self.start_ns, stop=stop)
        except Exception as exc:  # e.g. apsw.CorruptError from a truncated .db3, seen only when reading
            raise BagError(f'cannot read bag {self._files()}: {_cause(exc)}') from exc

    def _corrupt(self, topic: str, index: int, bag_ns: int, stamp_ns: int | None, why: str) -> str:
        stamp = '' if stamp_ns is None else f', header stamp {format_time(stamp_ns)}'
        return (
            f'corrupt message on topic {topic!r} in {self.path}: message #{index} '
            f'(bag time {format_time(bag_ns)}{stamp}): {why}'
        )

    @property
    def num_frames(self) -> int:
        """Frames of the topic in the selected range."""
        return len(self.frames)

    def pair_indices(self, stride: int = 1, max_pairs: int | None = None, *,
                     skipped: list[dict] | None = None) -> list[int]:
        """Indices of the pairs to evaluate: pair i = (frame i, frame i + 1).

        A pair whose frame has an unreadable header, whose second stamp is not later than the
        first (a looped bag, a clock reset: the node restarts pairing there too), or that spans a hole
        where the bag lost frames (:attr:`frame_loss`), is not returned. A loss that cannot be located
        (:attr:`warnings`) raises without ``skipped``: it is bad input, and strict stops at it.

        Args:
            stride: consider every ``stride``-th pair (1 = all consecutive pairs).
            max_pairs: return at most this many.
            skipped: the pairs not returned are appended to it as ``{'split', 'pair', 'reason'}``;
                None raises instead.

        Returns:
            Sorted pair indices.

        Raises:
            BagError: without ``skipped``, at the first pair that cannot be formed.

        """
        if stride < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        if skipped is None and self.warnings:
            raise BagError(self.warnings[0])
        ids: list[int] = []
        for p in range(0, self.num_frames - 1, stride):
            if max_pairs is not None and len(ids) >= max_pairs:
                break
            reason = self._stamp_fault(p)
            if reason is None:
                ids.append(p)
            else:
                self._skip(skipped, p, reason)
        return ids

    def _stamp_fault(self, p: int) -> str | None:
        """Why pair ``p`` cannot be formed from the stamps alone, or None."""
        (_, stamp1), (_, stamp2) = self.frames[p], self.frames[p + 1]
        for i, stamp in ((p, stamp1), (p + 1, stamp2)):
            if stamp is None:
                return self._unreadable[i]
        why = stamp_break_reason(stamp1, stamp2)  # no gap limit: offline, every frame of the bag is read
        if why is None and self.frame_loss is not None and p in self.frame_loss.gap_pairs:
            why = self.frame_loss.gap_reason(p)
        return None if why is None else self._not_paired(p, why)

    def _not_paired(self, p: int, why: str) -> str:
        (t1, _), (t2, _) = self.frames[p], self.frames[p + 1]
        return (f'frames #{p} and #{p + 1} on topic {self.topic!r} in {self.path} '
                f'(bag time {format_time(t1)} and {format_time(t2)}) are not paired: {why}')

    def _skip(self, skipped: list[dict] | None, p: int, reason: str) -> None:
        """Record pair ``p`` as skipped, or raise when there is no list (strict)."""
        if skipped is None:
            raise BagError(reason)
        skipped.append({'split': self.topic, 'pair': f'{p:06d}', 'reason': reason})

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
                encoding = msg.encoding
                image = image_decode.decode_bgr(
                    encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data
                )
            else:
                encoding = msg.format
                image = image_decode.decode_compressed_bgr(encoding, msg.data)
        except UnsupportedEncoding as exc:
            raise BagError(
                f'{exc} (topic {self.topic!r}, message #{index}, bag time {format_time(bag_ns)})'
            ) from exc
        except ImageError as exc:
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

    def iter_pairs(self, pair_ids: Sequence[int], *, skipped: list[dict] | None = None) -> Iterator[FlowPair]:
        """Read the bag once and yield the requested pairs in order.

        A pair is not yielded when one of its frames cannot be deserialised or decoded (corrupt bytes,
        a bad JPEG, a wrong data length, an unsupported encoding), when the image size or the encoding
        changes between its frames (the node restarts pairing there too), or when its ground truth
        cannot be decoded or has another size than the images.

        Args:
            pair_ids: sorted pair indices (from :meth:`pair_indices`).
            skipped: the pairs not yielded are appended to it as ``{'split', 'pair', 'reason'}`` while
                the reading goes on; None raises at the first one.

        Yields:
            The pairs: split = the topic, name = the pair index as 6 digits, ``frames`` = the two
            :class:`BagFrame`, ``flow`` = the ground truth when a GT message has the stamp of frame 2.

        Raises:
            BagError: a bag that cannot be read; without ``skipped``, the first pair that is not yielded.

        """
        pair_ids = list(pair_ids)
        needed = {i for p in pair_ids for i in (p, p + 1)}
        want_gt = {self.frames[p + 1][1] for p in pair_ids} & self.gt_stamps
        frames: dict[int, BagFrame | str] = {}  # decoded frame, or why it cannot be decoded
        gts: dict[int, np.ndarray | str] = {}  # ground truth by stamp, or why it cannot be used
        reading = self._read(needed, want_gt, frames, gts)
        for k, p in enumerate(pair_ids):
            stamp2 = self.frames[p + 1][1]
            while not (p in frames and p + 1 in frames and (stamp2 not in want_gt or stamp2 in gts)):
                if next(reading, None) is None:
                    for q in pair_ids[k:]:
                        self._skip(skipped, q, f'{self.path}: the bag ended before pair #{q} was complete')
                    return
            pair, reason = self._assemble(p, frames[p], frames[p + 1], gts.get(stamp2))
            if pair is not None:
                yield pair
            else:
                self._skip(skipped, p, reason)
            nxt = pair_ids[k + 1] if k + 1 < len(pair_ids) else None
            for i in [i for i in frames if nxt is None or i < nxt]:
                del frames[i]

    def _read(self, needed: set[int], want_gt: set[int], frames: dict[int, BagFrame | str],
              gts: dict[int, np.ndarray | str]) -> Iterator[bool]:
        """Read the bag in order, filling ``frames`` and ``gts``; yields True after each message.

        ``frames`` receives the frames in ``needed``, ``gts`` the ground truth with a stamp in ``want_gt``:
        the decoded value, or why it cannot be decoded.
        """
        conns = [self.connection] + ([self.gt_connection] if self.gt_connection is not None else [])
        image_i = gt_i = 0
        for conn, t, raw in self._messages(conns, bounded=False):
            if conn.id == self.connection.id:
                if image_i in needed:
                    try:
                        frames[image_i] = self._frame(image_i, t, raw)
                    except BagError as exc:
                        frames[image_i] = str(exc)
                image_i += 1
            else:
                try:
                    sec, nsec = stamp_from_cdr(raw)
                    stamp = sec * 1_000_000_000 + nsec
                except (ValueError, struct.error):  # already raised by the index: no pair to match it to
                    stamp = None
                if stamp is not None and stamp in want_gt and stamp not in gts:
                    try:
                        gts[stamp] = self._gt(raw, gt_i, t)
                    except BagError as exc:
                        gts[stamp] = str(exc)
                gt_i += 1
            yield True

    def _assemble(self, p: int, f1: BagFrame | str, f2: BagFrame | str,
                  gt: np.ndarray | str | None) -> tuple[FlowPair | None, str]:
        """Pair ``p`` from its decoded frames and ground truth, or None and why it is not formed."""
        for frame in (f1, f2):
            if isinstance(frame, str):
                return None, frame
        why = image_break_reason(f1.image.shape, f2.image.shape, f1.encoding, f2.encoding)
        if why is not None:
            return None, self._not_paired(p, why)
        if isinstance(gt, str):
            return None, gt
        if gt is not None and gt.shape[:2] != f2.image.shape[:2]:
            return None, (
                f'ground truth on {self.gt_connection.topic!r} at stamp {format_time(f2.stamp_ns)} is '
                f'{gt.shape[1]}x{gt.shape[0]} but the images on {self.topic!r} are '
                f'{f2.image.shape[1]}x{f2.image.shape[0]} (WxH); it must have the image size'
            )
        return FlowPair(f1.image, f2.image, gt, split=self.topic, name=f'{p:06d}', frames=(f1, f2)), ''

    def close(self) -> None:
        """Close the bag."""
        if getattr(self._reader, 'is_open', False):
            self._reader.close()

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
