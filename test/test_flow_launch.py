# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""launch_testing: demo scenario (synthetic camera + flow_node through flow.launch.py) on a real ROS install.

Skips where launch_testing is missing (the PyPI wheel environment); test_flow_processes.py covers
the same scenario there. Without trained weights (LFN2_TEST_WEIGHTS unset and no embedded default),
the flow node's FlowEstimator is the OpenCV DIS stand-in injected by standin_sitecustomize.py.
"""

import os
import shutil
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip(
    'launch_testing', reason='launch_testing is not installed (PyPI ROS wheels); see test_flow_processes.py')
pytest.importorskip('launch_ros', reason='launch_ros is not installed')

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from lfn2_msgs.msg import OpticalFlow  # noqa: E402

MOTION = (3.0, -1.0)
TEST_DIR = Path(__file__).resolve().parent


def _env():
    weights = os.environ.get('LFN2_TEST_WEIGHTS', '')
    if weights:
        return weights, {}
    site = tempfile.mkdtemp(prefix='lfn2_standin_')
    shutil.copy(TEST_DIR / 'standin_sitecustomize.py', Path(site) / 'sitecustomize.py')
    path = os.pathsep.join([site, os.environ.get('PYTHONPATH', '')])
    return '', {'PYTHONPATH': path, 'LFN2_TEST_STANDIN_DIR': str(TEST_DIR)}


@pytest.mark.launch_test
def generate_test_description():
    weights, env = _env()
    for key, value in env.items():
        os.environ[key] = value  # inherited by the launched processes
    camera = launch_ros.actions.Node(
        package='lfn2_ros', executable='synthetic_camera', name='synthetic_camera',
        parameters=[{'width': 96, 'height': 64, 'rate': 10.0, 'motion_x': MOTION[0], 'motion_y': MOTION[1]}],
        remappings=[('image', '/cam/image_raw')])
    flow = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory('lfn2_ros'), 'launch',
                                                   'flow.launch.py')),
        launch_arguments={'camera': '/cam/image_raw', 'namespace': 'front', 'weights': weights}.items())
    return launch.LaunchDescription([camera, flow, launch_testing.actions.ReadyToTest()])


class TestFlowOutput(unittest.TestCase):

    def test_flow_arrives_with_stamps_and_direction(self):
        rclpy.init()
        node = rclpy.create_node('launch_probe')
        flows = []
        node.create_subscription(OpticalFlow, '/front/optical_flow', flows.append, 10)
        try:
            deadline = time.monotonic() + 60.0
            while len(flows) < 3 and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
            self.assertGreaterEqual(len(flows), 3)
            for msg in flows:
                stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                previous = msg.previous_stamp.sec * 10**9 + msg.previous_stamp.nanosec
                self.assertLess(previous, stamp)
                self.assertEqual(msg.flow.encoding, '32FC2')
                field = np.frombuffer(msg.flow.data, np.float32).reshape(msg.flow.height, msg.flow.width, 2)
                steps = msg.frames_skipped + 1
                self.assertAlmostEqual(float(np.median(field[..., 0])), MOTION[0] * steps, delta=0.5)
                self.assertAlmostEqual(float(np.median(field[..., 1])), MOTION[1] * steps, delta=0.5)
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])  # clean stop on SIGINT
