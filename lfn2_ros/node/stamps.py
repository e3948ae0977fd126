# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the input stamps say: the camera period, the stamp-based rate limit, skipped frames, pair gaps.

Pure Python on integer nanosecond stamps (no ROS types, no wall clock), so the rules are tested with
made-up stamp sequences: jitter, bursts, losses and bag loops.
"""

from __future__ import annotations

import threading
from collections import deque

__all__ = ['FramePeriod', 'RateLimiter', 'effective_pair_gap', 'frames_skipped']

_MIN_INTERVALS = 4
"""Intervals needed before the period is trusted."""


class FramePeriod:
    """Camera frame period and a frame index for every received stamp.

    Frames a best-effort subscription loses before the callback never reach the node, so only the
    stamps show them. The period is the median of the recent stamp intervals: one jittered
    interval, a burst shorter than half the window, or losses in fewer than half of the intervals do
    not move it. Each received frame gets an index, advanced by the number of periods since the frame
    before it, at least 1; an interval that follows a short one (< half a period: an early stamp, or
    a burst) is measured from the frame before that, so an early stamp followed by an on-time one
    does not look like a lost frame. Index differences count the frames between two stamps.

    Thread-safe: the subscription callback observes, the worker asks.

    Args:
        window: number of recent intervals kept (>= 4).

    """

    def __init__(self, window: int = 100) -> None:
        if window < _MIN_INTERVALS:
            raise ValueError(f'window must be >= {_MIN_INTERVALS}, got {window}')
        self._lock = threading.Lock()
        self._intervals: deque[int] = deque(maxlen=window)
        self._recent: deque[tuple[int, int, int]] = deque(maxlen=256)  # (stamp, index, steps)

    def observe(self, stamp_ns: int) -> None:
        """Record the stamp of a received frame (ns); a stamp going backwards restarts the estimate."""
        with self._lock:
            if self._recent and stamp_ns < self._recent[-1][0]:
                self._intervals.clear()
                self._recent.clear()
            if not self._recent:
                self._recent.append((stamp_ns, 0, 1))
                return
            last_stamp, last_index, last_steps = self._recent[-1]
            if stamp_ns == last_stamp:
                return
            self._intervals.append(stamp_ns - last_stamp)
            steps = self._steps(stamp_ns, last_stamp, last_steps)
            self._recent.append((stamp_ns, last_index + steps, steps))

    def _steps(self, stamp_ns: int, last_stamp: int, last_steps: int) -> int:
        period = self._median()
        if period is None:
            return 1
        if len(self._recent) >= 2 and last_stamp - self._recent[-2][0] < period / 2:
            return max(1, round((stamp_ns - self._recent[-2][0]) / period) - last_steps)
        return max(1, round((stamp_ns - last_stamp) / period))

    def _median(self) -> int | None:
        if len(self._intervals) < _MIN_INTERVALS:
            return None
        intervals = sorted(self._intervals)
        return intervals[len(intervals) // 2]

    def reset(self) -> None:
        """Forget every interval and index."""
        with self._lock:
            self._intervals.clear()
            self._recent.clear()

    @property
    def period_ns(self) -> int | None:
        """Estimated frame period, ns; None until 4 intervals were seen."""
        with self._lock:
            return self._median()

    def frames_between(self, previous_ns: int, current_ns: int) -> int:
        """Frames the camera produced strictly between two received stamps (0 while unknown)."""
        with self._lock:
            period = self._median()
            if period is None or current_ns <= previous_ns:
                return 0
            index = {stamp: i for stamp, i, _ in self._recent}
            if previous_ns in index and current_ns in index:
                return max(0, index[current_ns] - index[previous_ns] - 1)
            return max(0, round((current_ns - previous_ns) / period) - 1)


def frames_skipped(received_between: int, period: FramePeriod, previous_ns: int, current_ns: int) -> int:
    """Input frames between the two frames of a pair that got no flow of their own.

    Args:
        received_between: frames that reached the node between the two and were dropped (model busy,
            ``max_rate``, invalid); exact, whatever the stamps do.
        period: the camera's period estimate.
        previous_ns: stamp of the pair's first frame, ns.
        current_ns: stamp of the pair's second frame, ns.

    Returns:
        The larger of what the node saw and what the stamps prove: a burst of closely stamped frames
        counts what arrived, a loss in transport counts from the stamp gap.

    """
    return max(int(received_between), period.frames_between(previous_ns, current_ns))


class RateLimiter:
    """``max_rate`` on the input stamps: keeps frames at least ``1 / max_rate`` apart in stamp time.

    Stamps, not the arrival clock, so a 30 Hz camera limited to 2 Hz gives every 15th frame exactly
    (arrival jitter does not make it every 16th), and so a bag replayed fast is limited in its own
    time. Half a camera period of tolerance absorbs stamp jitter. A stamp that does not advance is
    passed on: pairing restarts on it and diagnostics report it.

    Args:
        max_rate_hz: limit in Hz; 0 = no limit.

    """

    def __init__(self, max_rate_hz: float = 0.0) -> None:
        self.max_rate_hz = max_rate_hz
        self._last_ns: int | None = None

    @property
    def max_rate_hz(self) -> float:
        """Limit in Hz (0 = none)."""
        return self._max_rate_hz

    @max_rate_hz.setter
    def max_rate_hz(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f'max_rate must be >= 0 Hz, got {value!r}')
        self._max_rate_hz = float(value)

    def accept(self, stamp_ns: int, period_ns: int | None = None) -> bool:
        """Whether the frame stamped ``stamp_ns`` passes; an accepted frame restarts the interval.

        Args:
            stamp_ns: the frame's stamp, ns.
            period_ns: the camera period if known (tolerance of half of it), ns.

        Returns:
            True to process the frame, False to drop it (count it as skipped).

        """
        if self._max_rate_hz > 0 and self._last_ns is not None and stamp_ns > self._last_ns:
            tolerance = (period_ns or 0) // 2
            if stamp_ns - self._last_ns < 1e9 / self._max_rate_hz - tolerance:
                return False
        self._last_ns = stamp_ns
        return True

    def reset(self) -> None:
        """The next frame passes."""
        self._last_ns = None


def effective_pair_gap(max_pair_gap_s: float, max_rate_hz: float) -> float:
    """Longest pair interval actually allowed, s.

    ``max_rate`` keeps processed frames ``1 / max_rate`` apart, so a ``max_pair_gap`` shorter than
    that would refuse every pair (a 1 Hz limit with the default 0.5 s gap gave no flow at all). With a
    rate limit, pairs up to 1.5 / max_rate apart are allowed: one limit interval plus up to half of
    it for the camera period by which the next accepted frame comes late.

    Args:
        max_pair_gap_s: the ``max_pair_gap`` parameter, s.
        max_rate_hz: the ``max_rate`` parameter, Hz (0 = no limit).

    Returns:
        ``max(max_pair_gap_s, 1.5 / max_rate_hz)``, or ``max_pair_gap_s`` without a limit.

    """
    if max_rate_hz <= 0:
        return float(max_pair_gap_s)
    return max(float(max_pair_gap_s), 1.5 / max_rate_hz)
