# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""node/pairing.py: pairing rules and the latest-frame slot."""

import threading

import numpy as np
import pytest

from lfn2_ros.node.pairing import Frame, FrameBoard, FramePairer, LatestSlot

S = 1_000_000_000


def frame(t_s: float, shape=(4, 6, 3), encoding='bgr8') -> Frame:
    return Frame(np.zeros(shape, np.uint8), int(t_s * S), encoding)


def test_consecutive_frames_pair():
    pairer = FramePairer(0.5)
    a, b, c = frame(1.0), frame(1.1), frame(1.2)
    assert pairer.next(a).previous is None and pairer.next(a).reason  # duplicate stamp restarts too
    pairer.reset()
    assert pairer.next(a).reason == 'first frame'
    assert pairer.next(b).previous is a
    assert pairer.next(c).previous is b


@pytest.mark.parametrize('second, word', [
    (frame(0.5), 'stamp'),                        # bag loop: stamp goes backwards
    (frame(1.0), 'stamp'),                        # stamp does not advance
    (frame(1.6), 'max_pair_gap'),                 # gap too long
    (frame(1.1, shape=(8, 6, 3)), 'size'),        # size change
    (frame(1.1, encoding='rgb8'), 'encoding'),    # encoding change
])
def test_restart_rules(second, word):
    pairer = FramePairer(0.5)
    pairer.next(frame(1.0))
    decision = pairer.next(second)
    assert decision.previous is None and word in decision.reason
    assert pairer.previous is second  # the new frame starts the next pair
    assert pairer.next(Frame(second.image, second.stamp_ns + S // 10, second.encoding)).previous is second


def test_gap_is_live_and_validated():
    pairer = FramePairer(0.5)
    pairer.next(frame(1.0))
    pairer.max_pair_gap_s = 2.0
    assert pairer.next(frame(2.5)).previous is not None
    with pytest.raises(ValueError):
        pairer.max_pair_gap_s = 0.0


def test_slot_keeps_latest_and_counts_drops():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    slot.count_dropped(3)  # newer than the waiting 2: skipped before the item after it
    assert slot.take(0.0) == (2, 1)
    assert slot.take(0.0) is None
    slot.put(5)
    assert slot.take(0.0) == (5, 3)
    assert slot.dropped_total == 4
    slot.count_dropped(1)  # nothing waits: before the next item
    slot.put(6)
    slot.count_dropped(2)
    slot.put(7)  # 6, and the 2 dropped after it, come before 7
    assert slot.take(0.0) == (7, 4)
    slot.put(6)
    slot.clear()
    assert slot.take(0.0) is None


def test_board_counts_drops_newer_than_the_waiting_frame_for_the_next_one():
    board = FrameBoard()
    board.count_dropped('a', 2)
    board.put('a', 'f1')
    board.count_dropped('a', 3)  # a rate-limited frame stamped after f1, before the worker took f1
    board.put('b', 'g1')
    assert board.take_all(0.0) == {'a': ('f1', 2), 'b': ('g1', 0)}
    board.put('a', 'f2')
    board.put('a', 'f3')
    assert board.take_all(0.0) == {'a': ('f3', 4)}
    assert board.dropped_total == {'a': 6}


def test_slot_wakes_consumer_and_close():
    slot = LatestSlot()
    got = []
    thread = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    thread.start()
    slot.put('x')
    thread.join(5.0)
    assert got == [('x', 0)]
    thread = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    thread.start()
    slot.close()
    thread.join(5.0)
    assert got[-1] is None and not thread.is_alive()


def test_frame_period_counts_frames_lost_before_the_node():
    from lfn2_ros.node.stamps import FramePeriod

    period = FramePeriod()
    assert period.frames_between(0, 300) == 0  # unknown period: nothing claimed
    for stamp in (0, 100, 200, 500, 600, 700, 1100):  # 10 Hz-like, some frames lost in transport
        period.observe(stamp)
    assert period.period_ns == 100
    assert period.frames_between(700, 1100) == 3
    assert period.frames_between(600, 700) == 0
    period.observe(50)  # bag loop: the estimate restarts
    assert period.period_ns is None
