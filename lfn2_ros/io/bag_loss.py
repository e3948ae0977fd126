# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Messages a bag records but does not return: where the frames were lost (docs/node.md#pairing-rules).

Some corruptions inside an mcap chunk make the storage library return fewer messages than the bag's
metadata counts, with no error. Pairing what is left would silently pair frames across the hole. The
reader compares the two counts; when frames are missing, the consecutive frames whose bag-time interval
is much longer than the topic's median frame period are where they went, and those pairs are not formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ['GAP_FACTOR', 'FrameLoss', 'find_frame_loss']

GAP_FACTOR = 1.5
"""A bag-time interval longer than this many median frame periods is a hole where frames were lost."""


@dataclass
class FrameLoss:
    """Frames of a topic that the bag records but did not return.

    Attributes:
        recorded: messages on the topic according to the bag's metadata.
        read: messages actually returned.
        gap_pairs: pair index ``p`` (frames p, p + 1) -> interval in ns, for each interval over
            :data:`GAP_FACTOR` median periods.
        median_period_ns: median bag-time interval between consecutive frames, ns.

    """

    recorded: int
    read: int
    gap_pairs: dict[int, int] = field(default_factory=dict)
    median_period_ns: float = 0.0

    @property
    def lost(self) -> int:
        """Number of frames missing."""
        return self.recorded - self.read

    def summary(self) -> str:
        """One sentence: how many frames are missing, of how many."""
        return (f'{self.lost} of the {self.recorded} messages the bag records on this topic could not be '
                'read (the storage returned fewer, with no error: a corrupt chunk?)')

    def gap_reason(self, p: int) -> str:
        """Why pair ``p`` (one of :attr:`gap_pairs`) is not formed."""
        gap = self.gap_pairs[p]
        return (f'{self.summary()}, and the bag-time interval between these frames ({gap / 1e9:.3f} s, '
                f'{gap / self.median_period_ns:.1f} median frame periods) is where they are missing')

    def unlocated(self) -> str:
        """The warning when no interval stands out (the loss is at an end, or the rate is irregular)."""
        return (f'{self.summary()}; no interval between the remaining frames is over {GAP_FACTOR:g} median '
                'frame periods, so the loss is at the start or end of the range or the frame rate is '
                'irregular: pairs that span it cannot be told apart and are evaluated')


def find_frame_loss(bag_times_ns: Sequence[int], recorded: int | None) -> FrameLoss | None:
    """Compare the frames read with the bag's count and locate the holes.

    Args:
        bag_times_ns: bag receive time of every frame read, ns, in bag order.
        recorded: the topic's message count in the bag's metadata (None when the bag does not say).

    Returns:
        None when nothing is missing (or the bag has no count), else the :class:`FrameLoss`.

    """
    read = len(bag_times_ns)
    if not recorded or recorded <= read:
        return None
    loss = FrameLoss(recorded=int(recorded), read=read)
    if read >= 3:
        intervals = np.diff(np.asarray(bag_times_ns, dtype=np.int64))
        median = float(np.median(intervals))
        if median > 0:
            loss.median_period_ns = median
            loss.gap_pairs = {int(p): int(d) for p, d in enumerate(intervals) if d > GAP_FACTOR * median}
    return loss
