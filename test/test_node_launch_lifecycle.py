# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""launch_testing: flow.launch.py with autostart:=false, driven through its lifecycle like a manager would.

Skips where launch_testing is missing (the PyPI wheel environment); test_node_lifecycle.py covers the
transitions there. The FlowEstimator is the OpenCV DIS stand-in (standin_sitecustomize.py) unless
LFN2_TEST_WEIGHTS names a checkpoint.
"""

import os
import shutil
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip('launch_testing', reason='launch_testing is not installed; see test_node_lifecycle.py')
pytest.importorskip('launch_ros', reason='launch_ros is not installed')

import launch  # noqa: E402
import launch_ros.actions  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402

from lfn2_msgs.msg import OpticalFlow  # noqa: E402

TEST_DIR = Path(__file__).resolve().parent


def _standin_env() -> tuple[str, dict]:
    weights = os.environ.get('LFN2_TEST_WEIGHTS', '')
    if weights:
        return weights, {}
    site = tempfile.mkdtemp(prefix='lfn2_standin_')
    shutil.copy(TEST_DIR / 'standin_sitecustomize.py', Path(site) / 'sitecustomize.py')
    return '', {'PYTHONPATH': os.pathsep.join([site, os.environ.get('PYTHONPATH', '')]),
                'LFN2_TEST_STANDIN_DIR': str(TEST_DIR)}


@pytest.mark.launch_test
def generate_test_description():
    weights, env = _standin_env()
    os.environ.update(env)  # inherited by the launched processes
    camera = launch_ros.actions.Node(
        package='lfn2_ros', executable='synthetic_camera', name='synthetic_camera',
        parameters=[{'width': 96, 'height': 64, 'rate': 10.0}], remappings=[('image', '/cam/image_raw')])
    flow = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory('lfn2_ros'), 'launch',
                                                   'flow.launch.py')),
        launch_arguments={'camera': '/cam/image_raw', 'weights': weights, 'autostart': 'false'}.items())
    return launch.LaunchDescription([camera, flow, launch_testing.actions.ReadyToTest()])


class TestManagedByHand(unittest.TestCase):

    def _call(self, node, client, request):
        self.assertTrue(client.wait_for_service(timeout_sec=30.0))
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=60.0)
        self.assertTrue(future.done())
        return future.result()

    def test_configure_activate_flow_deactivate(self):
        rclpy.init()
        node = rclpy.create_node('launch_lifecycle_manager')
        flows = []
        node.create_subscription(OpticalFlow, '/optical_flow', flows.append, 10)
        change = node.create_client(ChangeState, '/flow_node/change_state')
        get = node.create_client(GetState, '/flow_node/get_state')
        try:
            state = self._call(node, get, GetState.Request()).current_state.id
            self.assertEqual(state, State.PRIMARY_STATE_UNCONFIGURED)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:  # no flow before activation
                rclpy.spin_once(node, timeout_sec=0.1)
            self.assertEqual(flows, [])
            for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
                self.assertTrue(self._call(node, change, ChangeState.Request(
                    transition=Transition(id=transition))).success)
            deadline = time.monotonic() + 60.0
            while len(flows) < 3 and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
            self.assertGreaterEqual(len(flows), 3)
            self.assertTrue(self._call(node, change, ChangeState.Request(
                transition=Transition(id=Transition.TRANSITION_DEACTIVATE))).success)
            state = self._call(node, get, GetState.Request()).current_state.id
            self.assertEqual(state, State.PRIMARY_STATE_INACTIVE)
        finally:
            node.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_clean_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])
