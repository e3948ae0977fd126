# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The workspace is a real ROS 2 install: DDS round trips, ament index, console scripts."""

import os
import pathlib
import time

import numpy as np
import pytest
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def ros_context():
    context = rclpy.context.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def _round_trip(context, msg_type, topic, message, timeout_s=20.0):
    """Publish ``message`` on ``topic`` until a subscriber in another node receives it."""
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub_node = rclpy.create_node('rt_pub', context=context)
    sub_node = rclpy.create_node('rt_sub', context=context)
    received = []
    sub_node.create_subscription(msg_type, topic, received.append, qos)
    publisher = pub_node.create_publisher(msg_type, topic, qos)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)
    deadline = time.monotonic() + timeout_s
    try:
        while not received and time.monotonic() < deadline:
            publisher.publish(message)
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()
    assert received, f'no {msg_type.__name__} received on {topic} within {timeout_s} s'
    return received[0]


def test_image_round_trip_over_dds(ros_context):
    pixels = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    msg = Image(height=6, width=4, encoding='bgr8', step=12, data=pixels.tobytes())
    msg.header.frame_id = 'camera_optical_frame'
    msg.header.stamp.sec = 42
    got = _round_trip(ros_context, Image, 'rt_image', msg)
    assert (got.height, got.width, got.encoding, got.step) == (6, 4, 'bgr8', 12)
    assert got.header.frame_id == 'camera_optical_frame' and got.header.stamp.sec == 42
    np.testing.assert_array_equal(np.frombuffer(bytes(got.data), np.uint8).reshape(6, 4, 3), pixels)


def test_custom_message_round_trip_over_dds(ros_context):
    from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary

    flow = np.full((2, 3, 2), [1.5, -0.25], dtype=np.float32)
    msg = OpticalFlow(scale=0.5, frames_skipped=3, model='liteflownet2_test')
    msg.previous_stamp.sec = 7
    msg.flow.height, msg.flow.width, msg.flow.encoding = 2, 3, '32FC2'
    msg.flow.step = 3 * 8
    msg.flow.data = flow.tobytes()
    got = _round_trip(ros_context, OpticalFlow, 'rt_flow', msg)
    assert got.scale == 0.5 and got.frames_skipped == 3 and got.model == 'liteflownet2_test'
    assert got.previous_stamp.sec == 7 and got.flow.encoding == '32FC2'
    np.testing.assert_array_equal(np.frombuffer(bytes(got.flow.data), np.float32).reshape(2, 3, 2), flow)
    summary = _round_trip(ros_context, OpticalFlowSummary, 'rt_summary',
                          OpticalFlowSummary(mean_u=1.0, valid_fraction=0.75))
    assert summary.mean_u == 1.0 and summary.valid_fraction == 0.75


def test_ament_index_finds_share_files():
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    share = pathlib.Path(get_package_share_directory('lfn2_ros'))
    assert (share / 'package.xml').is_file()
    assert sorted(p.name for p in (share / 'launch').glob('*.launch.py')) == sorted(
        p.name for p in (REPO / 'launch').glob('*.launch.py'))
    assert (share / 'config' / 'flow.yaml').is_file()
    get_package_share_directory('lfn2_msgs')
    prefix = pathlib.Path(get_package_prefix('lfn2_ros'))
    for script in ('flow_node', 'synthetic_camera', 'predict', 'evaluate', 'play_bag', 'train'):
        path = prefix / 'lib' / 'lfn2_ros' / script
        assert path.is_file() and os.access(path, os.X_OK), f'{path} is not an installed executable'
