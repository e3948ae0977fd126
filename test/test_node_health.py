# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Node-level stamp handling and diagnostics: max_rate pairs, zero stamps reported, restarts explained."""

import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from fake_estimators import DisFlowStandIn
from rclpy.parameter import Parameter
from ros_fixtures import Graph, Probe, wait_for

from lfn2_ros.node.conversions import time_to_ns
from lfn2_ros.node.flow_node import FlowNode
from lfn2_ros.node.synthetic_camera import MovingTexture

S = 1_000_000_000
T0 = 1_700_000_000 * S
SCENE = MovingTexture(48, 64, motion_px=(1.0, 0.5), seed=3)


def _rig(overrides=()):
    graph = Graph(num_threads=4)
    node = FlowNode(estimator_factory=lambda p: DisFlowStandIn(), context=graph.context,
                    parameter_overrides=[Parameter('input_qos', value='reliable'), *overrides])
    node.autostart()
    graph.add(node)
    probe = graph.add(Probe(graph.context))
    assert wait_for(lambda: probe.image_pub.get_subscription_count() == 1)
    return graph, node, probe


def _stream(probe, count, stamp, pace_s):
    for k in range(count):
        probe.image_pub.publish(probe.image(SCENE.frame(k), stamp(k)))
        time.sleep(pace_s)


def test_low_max_rate_still_pairs_at_that_rate():
    """2 Hz on a 10 Hz stamp sequence with the default max_pair_gap 0.5 s (it used to give no flow)."""
    graph, node, probe = _rig([Parameter('max_rate', value=2)])
    try:
        # Stamps say 10 Hz; sent faster than real time: the limit works on stamps, not arrival.
        _stream(probe, 60, lambda k: T0 + k * S // 10, 0.02)
        assert wait_for(lambda: len(probe.flows) >= 8, 10.0), len(probe.flows)
        for msg in probe.flows:
            gap_s = (time_to_ns(msg.header.stamp) - time_to_ns(msg.previous_stamp)) / 1e9
            assert 0.5 <= gap_s <= 0.75, gap_s
            assert msg.frames_skipped == round(gap_s * 10) - 1  # received and dropped by the limit
    finally:
        graph.close()


@pytest.mark.slow
def test_zero_stamps_give_a_warning_with_the_reason():
    graph, node, probe = _rig()
    try:
        _stream(probe, 45, lambda k: 0, 0.1)
        assert wait_for(lambda: any(s.level == DiagnosticStatus.WARN and 'stamps are zero' in s.message
                                    for d in probe.diagnostics for s in d.status), 5.0), \
            [s.message for d in probe.diagnostics for s in d.status]
        assert not probe.flows and node.cameras[''].health.totals['zero_stamps'] >= 30
    finally:
        graph.close()


@pytest.mark.slow
def test_pairing_restarts_are_explained():
    graph, node, probe = _rig()
    try:
        _stream(probe, 45, lambda k: T0 + k * S, 0.1)  # 1 s apart: every gap exceeds max_pair_gap
        assert wait_for(lambda: any(s.level == DiagnosticStatus.WARN and 'exceeds max_pair_gap' in s.message
                                    for d in probe.diagnostics for s in d.status), 5.0), \
            [s.message for d in probe.diagnostics for s in d.status]
        assert not probe.flows
    finally:
        graph.close()


def test_images_larger_than_max_input_size_are_refused_with_the_reason():
    graph, node, probe = _rig([Parameter('max_input_size', value=32)])
    try:
        probe.image_pub.publish(probe.image(SCENE.frame(0), T0))
        camera = node.cameras['']
        assert wait_for(lambda: camera.health.totals['invalid'] >= 1, 10.0)
        assert 'exceeds max_input_size 32 px' in camera.health._last_invalid  # noqa: SLF001
    finally:
        graph.close()
