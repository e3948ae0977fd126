# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SIGINT and SIGTERM stop flow_node and synthetic_camera cleanly: exit 0, no traceback, no abort.

Real subprocesses of this source tree (``python -m``), the flow node with the OpenCV DIS stand-in
(standin_sitecustomize.py) and busy: the signal arrives while flows are being computed and published.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rclpy.node import Node
from ros_fixtures import Graph, wait_for

from lfn2_msgs.msg import OpticalFlow

ROOT = Path(__file__).resolve().parents[1]
BAD_WORDS = ('Traceback', 'terminate called', 'RCLError', 'context is invalid', 'KeyboardInterrupt')


class Proc:
    """A node process whose combined output is collected by a thread."""

    def __init__(self, module, *ros_args, env):
        self.proc = subprocess.Popen([sys.executable, '-m', module, '--ros-args', *ros_args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def output(self) -> str:
        return ''.join(self.lines)

    def stop(self, sig) -> int:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        return code


@pytest.fixture
def env(tmp_path):
    shutil.copy(Path(__file__).with_name('standin_sitecustomize.py'), tmp_path / 'sitecustomize.py')
    env = dict(os.environ, LFN2_TEST_STANDIN_DIR=str(Path(__file__).parent), OMP_NUM_THREADS='1',
               RCUTILS_COLORIZED_OUTPUT='0')
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), str(ROOT), env.get('PYTHONPATH', '')])
    return env


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_stops_busy_nodes_cleanly(env, sig):
    camera = Proc('lfn2_ros.node.synthetic_camera', '-p', 'width:=96', '-p', 'height:=64', '-p', 'rate:=30.0',
                  env=env)
    flow = Proc('lfn2_ros.node.flow_node', '-p', 'input_qos:=reliable', env=env)
    graph = Graph()
    flows = []
    try:
        probe = graph.add(Node('shutdown_probe', context=graph.context))
        probe.create_subscription(OpticalFlow, 'optical_flow', flows.append, 10)
        assert wait_for(lambda: len(flows) >= 3, 60.0), (camera.output(), flow.output())
        codes = {'flow_node': flow.stop(sig), 'synthetic_camera': camera.stop(sig)}
    finally:
        graph.close()
        for p in (flow, camera):
            if p.proc.poll() is None:
                p.proc.kill()
    outputs = {'flow_node': flow.output(), 'synthetic_camera': camera.output()}
    for name, code in codes.items():
        assert code == 0, (name, code, outputs[name])
        assert not [w for w in BAD_WORDS if w in outputs[name]], outputs[name]
    assert '\x1b[' not in outputs['flow_node']  # plain logs when not on a terminal


def test_signal_during_startup_and_before_activation(env):
    """A manager-less node waiting in unconfigured state also stops cleanly."""
    flow = Proc('lfn2_ros.node.flow_node', '-p', 'autostart:=false', env=env)
    assert wait_for(lambda: 'waiting for lifecycle transitions' in flow.output(), 60.0), flow.output()
    code = flow.stop(signal.SIGINT)
    assert code == 0 and 'Traceback' not in flow.output(), flow.output()
