# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frame pairing rules and the one-slot "latest frame" buffer between callback and worker.

Pure Python (no ROS types), so the rules are tested without a graph.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from lfn2_ros.io.pairs import image_break_reason, stamp_break_reason

__all__ = ['Frame', 'FrameBoard', 'FramePairer', 'LatestSlot', 'PairDecision']

T = TypeVar('T')


@dataclass
class Frame:
    """One decoded input frame.

    Attributes:
        image: (H, W, 3) uint8 BGR.
        stamp_ns: acquisition stamp of the input header, ns.
        encoding: encoding of the input message (a change restarts pairing).
        header: the input ``std_msgs/Header`` (opaque here), copied into the outputs.
        received_ns: monotonic time at which the node's callback received the frame, ns.
        receive_latency_ns: ROS clock at the callback minus the stamp, ns (transport and executor delay).
        frames_skipped: frames dropped after the previously consumed frame (:class:`FrameBoard`).

    """

    image: np.ndarray
    stamp_ns: int
    encoding: str
    header: Any = None
    received_ns: int = 0
    receive_latency_ns: int = 0
    frames_skipped: int = field(default=0)


@dataclass(frozen=True)
class PairDecision:
    """Outcome of :meth:`FramePairer.next`.

    Attributes:
        previous: the frame to pair with, or None when pairing (re)starts with this frame.
        reason: why pairing restarted (None when ``previous`` is set).

    """

    previous: Frame | None
    reason: str | None = None


class FramePairer:
    """Pairs consecutive frames and decides when a pair must not be formed.

    Pairing restarts (no flow for that frame, it becomes the new previous frame) when:
    there is no previous frame; the stamp does not advance (a bag loop or a clock reset, as
    opencv_apps does under sim time); the gap exceeds ``max_pair_gap_s``; the image size or the
    encoding changes.

    Args:
        max_pair_gap_s: longest allowed interval between the two frames of a pair, s (> 0).

    """

    def __init__(self, max_pair_gap_s: float) -> None:
        self.max_pair_gap_s = max_pair_gap_s
        self._previous: Frame | None = None

    @property
    def max_pair_gap_s(self) -> float:
        """Longest allowed interval between the two frames of a pair, s."""
        return self._max_pair_gap_s

    @max_pair_gap_s.setter
    def max_pair_gap_s(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f'max_pair_gap_s must be > 0, got {value!r}')
        self._max_pair_gap_s = float(value)

    @property
    def previous(self) -> Frame | None:
        """The stored previous frame."""
        return self._previous

    def next(self, frame: Frame) -> PairDecision:
        """Take the next frame; it becomes the stored previous frame.

        Args:
            frame: the new frame.

        Returns:
            The frame to pair it with, or the reason pairing restarts.

        """
        prev, self._previous = self._previous, frame
        if prev is None:
            return PairDecision(None, 'first frame')
        # The rules are shared with the offline bag reader (evaluate), so both pair the same frames.
        reason = (stamp_break_reason(prev.stamp_ns, frame.stamp_ns, self._max_pair_gap_s)
                  or image_break_reason(prev.image.shape, frame.image.shape, prev.encoding, frame.encoding))
        return PairDecision(None, reason) if reason else PairDecision(prev)

    def reset(self) -> None:
        """Drop the stored frame."""
        self._previous = None


class FrameBoard(Generic[T]):
    """A latest-frame slot per camera behind one condition: the worker takes every ready frame at once.

    Frames of several cameras that arrived while the model was busy are taken together, so they go
    through one batched forward pass.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: dict[Hashable, T] = {}
        self._dropped: dict[Hashable, int] = {}
        self._dropped_after_item: dict[Hashable, int] = {}  # newer than the waiting item
        self._closed = False
        self.dropped_total: dict[Hashable, int] = {}
        """Per key: items replaced before being consumed, or counted with :meth:`count_dropped`."""

    def put(self, key: Hashable, item: T) -> bool:
        """Store ``item`` for ``key``; returns True if it replaced an unconsumed item (counted dropped)."""
        with self._cond:
            replaced = key in self._items
            if replaced:
                # the replaced item, and what was dropped after it, all come before the new one
                self._count(self._dropped, key, 1)
                self._dropped[key] += self._dropped_after_item.pop(key, 0)
            self._items[key] = item
            self._cond.notify()
            return replaced

    def count_dropped(self, key: Hashable, count: int = 1) -> None:
        """Count frames of ``key`` dropped before the board (rate limit, invalid) as skipped.

        While an item of ``key`` waits, the dropped frame is newer: it counts for the item after it.
        """
        with self._cond:
            self._count(self._dropped_after_item if key in self._items else self._dropped, key, count)

    def _count(self, pending: dict[Hashable, int], key: Hashable, count: int) -> None:
        pending[key] = pending.get(key, 0) + count
        self.dropped_total[key] = self.dropped_total.get(key, 0) + count

    def take_all(self, timeout_s: float | None = None) -> dict[Hashable, tuple[T, int]]:
        """Wait for at least one item and remove every stored one.

        Args:
            timeout_s: longest wait, s; None waits until an item arrives or :meth:`close`.

        Returns:
            key -> ``(item, dropped since the key's previous take)``; empty on timeout or after close.

        """
        with self._cond:
            self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout_s)
            if self._closed:
                return {}
            items, self._items = self._items, {}
            taken = {key: (item, self._dropped.pop(key, 0)) for key, item in items.items()}
            for key in items:
                after = self._dropped_after_item.pop(key, 0)
                if after:
                    self._dropped[key] = after
            return taken

    def clear(self, key: Hashable | None = None) -> None:
        """Drop the pending item of ``key`` (every key when None) uncounted; restart its skipped count."""
        with self._cond:
            keys = list(self._items) + list(self._dropped) if key is None else [key]
            for k in keys:
                self._items.pop(k, None)
                self._dropped.pop(k, None)
                self._dropped_after_item.pop(k, None)

    def close(self) -> None:
        """Wake and stop the consumer; later takes return empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LatestSlot(Generic[T]):
    """Thread-safe one-item buffer: a new item replaces an unconsumed one, which counts as dropped.

    The producer (subscription callback) never blocks; the consumer (inference worker) waits. Memory
    holds at most one pending item however slow the consumer is. It is a :class:`FrameBoard` with one
    key, so the two count dropped frames by the same rules.
    """

    _KEY = None

    def __init__(self) -> None:
        self._board: FrameBoard[T] = FrameBoard()

    @property
    def dropped_total(self) -> int:
        """Items replaced before being consumed, or counted with :meth:`count_dropped`."""
        return self._board.dropped_total.get(self._KEY, 0)

    def put(self, item: T) -> bool:
        """Store ``item``; returns True if it replaced an unconsumed item (counted as dropped)."""
        return self._board.put(self._KEY, item)

    def count_dropped(self, count: int = 1) -> None:
        """Count frames dropped before reaching the slot (rate limit), as skipped for the next item.

        A frame dropped while an item waits is newer than that item, so it is skipped before the item
        after it, not before the waiting one.
        """
        self._board.count_dropped(self._KEY, count)

    def take(self, timeout_s: float | None = None) -> tuple[T, int] | None:
        """Wait for an item and remove it.

        Args:
            timeout_s: longest wait, s; None waits until an item arrives or :meth:`close`.

        Returns:
            ``(item, dropped)``: ``dropped`` counts items dropped since the previous take; None on
            timeout or after :meth:`close`.

        """
        return self._board.take_all(timeout_s).get(self._KEY)

    def clear(self) -> None:
        """Drop a pending item without counting it, and restart the skipped count."""
        self._board.clear(self._KEY)

    def close(self) -> None:
        """Wake and stop every waiting consumer; later takes return None."""
        self._board.close()
