# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""launch_testing: two_cameras.launch.py, two synthetic cameras into one flow_node (cameras left, right).

Skips where launch_testing is missing (the PyPI wheel environment); test_node_services.py covers two
cameras on one model there. The FlowEstimator is the OpenCV DIS stand-in (standin_sitecustomize.py)
unless LFN2_TEST_WEIGHTS names a checkpoint.
"""

import os
import shutil
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip('launch_testing', reason='launch_testing is not installed; see test_node_services.py')
pytest.importorskip('launch_ros', reason='launch_ros is not installed')

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from lfn2_msgs.msg import OpticalFlow  # noqa: E402

TEST_DIR = Path(__file__).resolve().parent
MOTIONS = {'left': (2.0, 1.0), 'right': (-1.0, 2.0)}  # as in two_cameras.launch.py


@pytest.mark.launch_test
def generate_test_description():
    weights = os.environ.get('LFN2_TEST_WEIGHTS', '')
    if not weights:
        site = tempfile.mkdtemp(prefix='lfn2_standin_')
        shutil.copy(TEST_DIR / 'standin_sitecustomize.py', Path(site) / 'sitecustomize.py')
        os.environ['PYTHONPATH'] = os.pathsep.join([site, os.environ.get('PYTHONPATH', '')])
        os.environ['LFN2_TEST_STANDIN_DIR'] = str(TEST_DIR)
    two = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory('lfn2_ros'), 'launch',
                                                   'two_cameras.launch.py')),
        launch_arguments={'width': '96', 'height': '64', 'rate': '10.0', 'weights': weights}.items())
    return launch.LaunchDescription([two, launch_testing.actions.ReadyToTest()])


class TestTwoCameras(unittest.TestCase):

    def test_each_camera_gets_its_own_flow(self):
        rclpy.init()
        node = rclpy.create_node('two_camera_probe')
        flows = {name: [] for name in MOTIONS}
        for name in MOTIONS:
            node.create_subscription(OpticalFlow, f'/{name}/optical_flow', flows[name].append, 10)
        try:
            deadline = time.monotonic() + 90.0
            while min(len(f) for f in flows.values()) < 3 and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
            for name, (dx, dy) in MOTIONS.items():
                self.assertGreaterEqual(len(flows[name]), 3, name)
                for msg in flows[name]:
                    self.assertEqual(msg.header.frame_id, f'{name}_optical')
                    field = np.frombuffer(msg.flow.data, np.float32).reshape(
                        msg.flow.height, msg.flow.width, 2)
                    steps = msg.frames_skipped + 1
                    self.assertAlmostEqual(float(np.median(field[..., 0])), dx * steps, delta=0.5)
                    self.assertAlmostEqual(float(np.median(field[..., 1])), dy * steps, delta=0.5)
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_clean_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])
