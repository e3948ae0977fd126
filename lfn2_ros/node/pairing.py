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
        frames_skipped: frames dropped after the previously consumed frame; set by :class:`LatestSlot`.

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


class LatestSlot(Generic[T]):
    """Thread-safe one-item buffer: a new item replaces an unconsumed one, which counts as dropped.

    The producer (subscription callback) never blocks; the consumer (inference worker) waits. Memory
    holds at most one pending item however slow the consumer is.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._dropped_since_take = 0
        # Frames dropped while an item waits came after it: they count for the item after it.
        self._dropped_after_item = 0
        self._closed = False
        self.dropped_total = 0
        """Items replaced before being consumed, or counted with :meth:`count_dropped`."""

    def put(self, item: T) -> bool:
        """Store ``item``; returns True if it replaced an unconsumed item (counted as dropped)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self._count(1)
                self._dropped_since_take += self._dropped_after_item
                self._dropped_after_item = 0
            self._item = item
            self._cond.notify()
            return replaced

    def count_dropped(self, count: int = 1) -> None:
        """Count frames dropped before reaching the slot (rate limit), as skipped for the next item.

        A frame dropped while an item waits is newer than that item, so it is skipped before the item
        after it, not before the waiting one.
        """
        with self._cond:
            if self._item is None:
                self._count(count)
            else:
                self._dropped_after_item += count
                self.dropped_total += count

    def _count(self, count: int) -> None:
        self._dropped_since_take += count
        self.dropped_total += count

    def take(self, timeout_s: float | None = None) -> tuple[T, int] | None:
        """Wait for an item and remove it.

        Args:
            timeout_s: longest wait, s; None waits until an item arrives or :meth:`close`.

        Returns:
            ``(item, dropped)``: ``dropped`` counts items dropped since the previous take; None on
            timeout or after :meth:`close`.

        """
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout_s)
            if self._item is None or self._closed:
                return None
            item, self._item = self._item, None
            dropped, self._dropped_since_take = self._dropped_since_take, self._dropped_after_item
            self._dropped_after_item = 0
            return item, dropped

    def clear(self) -> None:
        """Drop a pending item without counting it, and restart the skipped count."""
        with self._cond:
            self._item = None
            self._dropped_since_take = self._dropped_after_item = 0

    def close(self) -> None:
        """Wake and stop every waiting consumer; later takes return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class FrameBoard(Generic[T]):
    """One :class:`LatestSlot` per camera behind one condition: the worker takes every ready frame at once.

    Frames of several cameras that arrived while the model was busy are taken together, so they go
    through one batched forward pass.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: dict[Hashable, T] = {}
        self._dropped: dict[Hashable, int] = {}
        self._dropped_after_item: dict[Hashable, int] = {}  # as in LatestSlot: newer than the waiting item
        self._closed = False
        self.dropped_total: dict[Hashable, int] = {}
        """Per key: items replaced before being consumed, or counted with :meth:`count_dropped`."""

    def put(self, key: Hashable, item: T) -> bool:
        """Store ``item`` for ``key``; returns True if it replaced an unconsumed item (counted dropped)."""
        with self._cond:
            replaced = key in self._items
            if replaced:
                self._count(key, 1)
                self._dropped[key] += self._dropped_after_item.pop(key, 0)
            self._items[key] = item
            self._cond.notify()
            return replaced

    def count_dropped(self, key: Hashable, count: int = 1) -> None:
        """Count frames of ``key`` dropped before the board (rate limit, invalid) as skipped.

        While an item of ``key`` waits, the dropped frame is newer: it counts for the item after it.
        """
        with self._cond:
            if key in self._items:
                self._dropped_after_item[key] = self._dropped_after_item.get(key, 0) + count
                self.dropped_total[key] = self.dropped_total.get(key, 0) + count
            else:
                self._count(key, count)

    def _count(self, key: Hashable, count: int) -> None:
        self._dropped[key] = self._dropped.get(key, 0) + count
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
