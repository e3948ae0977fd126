# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""synthetic_camera's frames follow its clock: a late tick loses frames, and the stamps show it.

The node's timer is stopped and its ticks are driven by hand on a fake clock, so the check does not
depend on how loaded the machine is: the stamps and the content of every published frame must agree
with each other and with what the flow node's stamp rules (:class:`FramePeriod`) conclude.
"""

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter

from lfn2_ros.node.conversions import image_to_bgr8, time_to_ns
from lfn2_ros.node.stamps import FramePeriod
from lfn2_ros.node.synthetic_camera import MovingTexture, SyntheticCamera

RATE_HZ, WIDTH, HEIGHT, MOTION = 10.0, 48, 32, (3.0, -1.0)
PERIOD_NS = round(1e9 / RATE_HZ)


class _Clock:
    def __init__(self, ns: int) -> None:
        self.ns = ns

    def now(self):
        return rclpy.time.Time(nanoseconds=self.ns)


@pytest.fixture
def camera():
    """A SyntheticCamera whose timer is stopped: each test ticks it by hand on a fake clock."""
    context = rclpy.Context()
    rclpy.init(context=context)
    params = [Parameter('rate', value=RATE_HZ), Parameter('width', value=WIDTH),
              Parameter('height', value=HEIGHT), Parameter('motion_x', value=MOTION[0]),
              Parameter('motion_y', value=MOTION[1])]
    node = SyntheticCamera(context=context, parameter_overrides=params)
    node._timer.cancel()
    node.sent = []
    node._pub.publish = node.sent.append
    node.fake_clock = _Clock(node._start_ns)
    node.get_clock = lambda: node.fake_clock
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_late_tick_loses_frames_and_the_stamps_count_them(camera):
    start = camera._start_ns
    # On time (one tick slightly late), then 2.6 periods late: frames 5 and 6 never exist. FramePeriod
    # trusts its period after 4 intervals, so the late tick comes after those.
    for offset in (0, PERIOD_NS + PERIOD_NS // 10, 2 * PERIOD_NS, 3 * PERIOD_NS, 4 * PERIOD_NS,
                   7 * PERIOD_NS + 6 * PERIOD_NS // 10, 8 * PERIOD_NS, 9 * PERIOD_NS + 1):
        camera.fake_clock.ns = start + offset
        camera._tick()
    stamps = [time_to_ns(msg.header.stamp) for msg in camera.sent]
    indices = [(stamp - start) // PERIOD_NS for stamp in stamps]
    assert indices == [0, 1, 2, 3, 4, 7, 8, 9]
    assert all((stamp - start) % PERIOD_NS == 0 for stamp in stamps)  # on the camera's grid
    assert camera.frames_published == 8
    scene = MovingTexture(HEIGHT, WIDTH, MOTION)
    for frame, index in zip(map(image_to_bgr8, camera.sent), indices, strict=True):
        np.testing.assert_array_equal(frame, scene.frame(index))  # the content of the stamp's time
    period = FramePeriod()
    for stamp in stamps:
        period.observe(stamp)
    between = [period.frames_between(a, b) for a, b in zip(stamps, stamps[1:], strict=False)]
    lost = [b - a - 1 for a, b in zip(indices, indices[1:], strict=False)]
    assert between == lost == [0, 0, 0, 0, 2, 0, 0]
    # A second tick at the same grid time publishes nothing, so no frame is sent twice.
    camera._tick()
    assert camera.frames_published == 8


def test_the_clock_going_back_starts_the_sequence_again(camera):
    start = camera._start_ns
    for offset in (5 * PERIOD_NS, PERIOD_NS, 2 * PERIOD_NS):  # back after the first: a bag loop, sim time
        camera.fake_clock.ns = start + offset
        camera._tick()
    stamps = [time_to_ns(msg.header.stamp) for msg in camera.sent]
    assert stamps == [start + 5 * PERIOD_NS, start + PERIOD_NS, start + 2 * PERIOD_NS]
    scene = MovingTexture(HEIGHT, WIDTH, MOTION)
    frames = [image_to_bgr8(msg) for msg in camera.sent]
    np.testing.assert_array_equal(frames[0], scene.frame(5))
    np.testing.assert_array_equal(frames[1], scene.frame(0))
    np.testing.assert_array_equal(frames[2], scene.frame(1))


def test_frames_stay_exact_after_a_long_run():
    # Hours at 30 Hz are millions of frames: the shift must not lose precision. The texture repeats with
    # its size (2x the frame), so with whole-pixel motions frame k and frame k + one full period are equal.
    scene = MovingTexture(16, 24, (2.0, 1.0))
    period = 96  # x repeats every 48 / 2 = 24 frames, y every 32 / 1 = 32: both every 96
    far = 10**7 * period
    np.testing.assert_array_equal(scene.frame(far + 5), scene.frame(5))
    # a sub-pixel motion: the far frame is still the texture shifted by exactly index x motion
    sub = MovingTexture(16, 24, (0.25, 0.5))
    np.testing.assert_array_equal(sub.frame(far + 3), sub.frame(3))
