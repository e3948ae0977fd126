# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The launch scenario without launch: installed synthetic_camera and flow_node as processes over DDS.

Same checks as test_flow_launch.py (which needs launch_testing): message types, stamps against the
camera's, and the flow direction for the camera's known motion. The flow node's FlowEstimator is
replaced by the OpenCV DIS stand-in through a test-only sitecustomize, so the check does not depend on
the quality of the default weights (test_default_weights.py runs the demo with them).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from ros_fixtures import Graph, flow_array, wait_for
from sensor_msgs.msg import Image

from lfn2_msgs.msg import OpticalFlow
from lfn2_ros.node.conversions import time_to_ns

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / 'install' / 'lfn2_ros' / 'lib' / 'lfn2_ros'
MOTION = (3.0, -1.0)

pytestmark = pytest.mark.skipif(not (BIN / 'flow_node').exists(), reason=f'{BIN} not built (run make setup)')


def _start(executable, *ros_args, env):
    return subprocess.Popen([sys.executable, str(BIN / executable), '--ros-args', *ros_args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read()


@pytest.fixture
def standin_env(tmp_path):
    shutil.copy(Path(__file__).with_name('standin_sitecustomize.py'), tmp_path / 'sitecustomize.py')
    env = dict(os.environ, LFN2_TEST_STANDIN_DIR=str(Path(__file__).parent), OMP_NUM_THREADS='1')
    # This source tree first: the installed scripts then run the code under test, not the install space's.
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), str(ROOT), env.get('PYTHONPATH', '')])
    return env


@pytest.mark.slow
def test_camera_and_flow_node_processes(standin_env):
    camera = _start('synthetic_camera', '-r', 'image:=/cam/image_raw', '-p', 'width:=96', '-p', 'height:=64',
                    '-p', 'rate:=10.0', '-p', f'motion_x:={MOTION[0]}', '-p', f'motion_y:={MOTION[1]}',
                    '-p', 'frame_id:=cam_optical', env=standin_env)
    flow = _start('flow_node', '-r', '__ns:=/front', '-r', 'image:=/cam/image_raw', env=standin_env)
    graph = Graph()
    try:
        probe = graph.add(Node('process_probe', context=graph.context))
        images, flows, plain, diags = {}, [], [], []
        probe.create_subscription(Image, '/cam/image_raw', lambda m: images.__setitem__(
            time_to_ns(m.header.stamp), m.header.frame_id), 50)
        probe.create_subscription(OpticalFlow, '/front/optical_flow', flows.append, 50)
        probe.create_subscription(Image, '/front/optical_flow/flow', plain.append, 50)
        probe.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 50)

        def probe_saw_pair(msg):
            # The probe may match the camera after its first frames (DDS discovery on a loaded machine):
            # check flows whose two frames it received. Stamps not from the camera (now()) never qualify.
            return time_to_ns(msg.header.stamp) in images and time_to_ns(msg.previous_stamp) in images

        assert wait_for(lambda: sum(map(probe_saw_pair, flows)) >= 5 and len(plain) >= 5 and diags,
                        timeout_s=60.0), (_stop(flow), _stop(camera))
        checked = [msg for msg in flows if probe_saw_pair(msg)][:5]
        for msg in checked:
            stamp, previous = time_to_ns(msg.header.stamp), time_to_ns(msg.previous_stamp)
            assert previous < stamp  # the camera's stamps (probe_saw_pair), in order
            assert msg.header.frame_id == 'cam_optical' and msg.flow.encoding == '32FC2'
            field = flow_array(msg.flow)
            assert field.shape == (64, 96, 2)
            steps = msg.frames_skipped + 1
            assert np.median(field[..., 0]) == pytest.approx(MOTION[0] * steps, abs=0.3)
            assert np.median(field[..., 1]) == pytest.approx(MOTION[1] * steps, abs=0.3)
        plain_stamps = {time_to_ns(m.header.stamp) for m in plain}
        assert {time_to_ns(m.header.stamp) for m in checked[:4]} <= plain_stamps  # both topics: each pair
        status = diags[-1].status[0]
        assert status.name == 'flow_node: optical flow'
        assert {kv.key for kv in status.values} >= {'input rate (Hz)', 'output rate (Hz)', 'frames dropped',
                                                    'invalid frames', 'device', 'model', 'model state'}
    finally:
        graph.close()
        _stop(flow)
        _stop(camera)


@pytest.mark.slow
def test_flow_node_without_weights_exits_non_zero(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT), env.get('PYTHONPATH', '')])
    missing = tmp_path / 'missing.pth'
    proc = subprocess.run([sys.executable, str(BIN / 'flow_node'), '--ros-args', '-p', f'weights:={missing}'],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the loader logs the reason at FATAL
    assert "not found" in proc.stdout + proc.stderr
