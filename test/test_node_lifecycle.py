# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""flow_node as a managed node, driven through its lifecycle services over real DDS (as Nav2 does)."""

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from fake_estimators import DisFlowStandIn
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import GetParameters, ListParameters
from rclpy.parameter import Parameter
from ros_fixtures import Graph, Probe, wait_for

from lfn2_ros.node.flow_node import FlowNode
from lfn2_ros.node.parameters import PARAMETERS
from lfn2_ros.node.synthetic_camera import MovingTexture

S = 1_000_000_000
T0 = 1_700_000_000 * S
SCENE = MovingTexture(64, 96, motion_px=(2.0, 1.0), seed=3)


class Managed:
    """A flow node with autostart false, and a probe that plays the lifecycle manager."""

    def __init__(self, factory=None, overrides=()):
        self.graph = Graph(num_threads=4)
        self.loads = 0
        self.estimator = DisFlowStandIn()

        def default_factory(params):
            self.loads += 1
            return self.estimator

        self.node = self.graph.add(FlowNode(
            estimator_factory=factory or default_factory, context=self.graph.context,
            parameter_overrides=[Parameter('autostart', value=False), *overrides]))
        self.probe = self.graph.add(Probe(self.graph.context))
        self._change = self.probe.create_client(ChangeState, '/flow_node/change_state')
        self._get = self.probe.create_client(GetState, '/flow_node/get_state')
        # Discovery is usually sub-second; one full-suite run on the 2-core machine missed 10 s once.
        assert self._change.wait_for_service(timeout_sec=30.0)
        assert self._get.wait_for_service(timeout_sec=30.0)

    def call(self, client, request):
        future = client.call_async(request)
        assert wait_for(future.done, 30.0)
        return future.result()

    def change(self, transition: int) -> bool:
        return self.call(self._change, ChangeState.Request(transition=Transition(id=transition))).success

    def state(self) -> int:
        return self.call(self._get, GetState.Request()).current_state.id

    def stream(self, flows: int, frames: int = 50) -> bool:
        """Publish frames at 10 Hz until ``flows`` flows arrived (the first may precede DDS matching)."""
        start = len(self.probe.flows)
        for k in range(frames):
            self.probe.image_pub.publish(self.probe.image(SCENE.frame(k), T0 + k * S // 10))
            if wait_for(lambda: len(self.probe.flows) - start >= flows, 0.1):
                return True
        return False

    def diagnostics_level(self, level):
        return wait_for(lambda: any(s.level == level for d in self.probe.diagnostics[-2:] for s in d.status),
                        5.0)

    def close(self):
        self.graph.close()


def test_transitions_create_load_subscribe_and_free():
    m = Managed()
    try:
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert m.probe.image_pub.get_subscription_count() == 0
        assert m.change(Transition.TRANSITION_CONFIGURE) and m.state() == State.PRIMARY_STATE_INACTIVE
        camera = m.node.cameras['']
        assert wait_for(lambda: camera.flow_pub.get_subscription_count() >= 1)  # publishers exist
        assert m.loads == 0 and m.probe.image_pub.get_subscription_count() == 0  # no model, no input yet
        assert m.diagnostics_level(DiagnosticStatus.OK)  # inactive is OK, not "no input"

        assert m.change(Transition.TRANSITION_ACTIVATE) and m.state() == State.PRIMARY_STATE_ACTIVE
        assert m.loads == 1 and wait_for(lambda: m.probe.image_pub.get_subscription_count() == 1)
        assert m.stream(flows=2)

        assert m.change(Transition.TRANSITION_DEACTIVATE) and m.state() == State.PRIMARY_STATE_INACTIVE
        assert m.node.worker.model_name == 'none' and m.node.worker.model.state == 'unloaded'
        assert wait_for(lambda: m.probe.image_pub.get_subscription_count() == 0)  # unsubscribed
        assert m.change(Transition.TRANSITION_ACTIVATE) and m.loads == 2  # reloaded on activation
        assert m.change(Transition.TRANSITION_DEACTIVATE)

        assert m.change(Transition.TRANSITION_CLEANUP) and m.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert m.node.cameras == {}
        assert wait_for(lambda: m.probe.count_publishers('/optical_flow') == 0)  # publishers destroyed
        assert m.change(Transition.TRANSITION_CONFIGURE) and m.change(Transition.TRANSITION_ACTIVATE)
        assert m.change(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert m.state() == State.PRIMARY_STATE_FINALIZED
        assert m.node.worker.model_name == 'none'
        assert wait_for(lambda: m.probe.count_publishers('/optical_flow') == 0)
    finally:
        m.close()


def test_failed_configure_and_activate_are_reported():
    m = Managed(overrides=[Parameter('input_qos', value='bogus')])
    try:
        assert not m.change(Transition.TRANSITION_CONFIGURE)
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED and 'input_qos' in m.node.last_error
    finally:
        m.close()

    def missing(params):
        raise FileNotFoundError('weights file not found: /nope.pth')

    m = Managed(factory=missing)
    try:
        assert m.change(Transition.TRANSITION_CONFIGURE)
        assert not m.change(Transition.TRANSITION_ACTIVATE)
        assert m.state() == State.PRIMARY_STATE_INACTIVE
        assert m.diagnostics_level(DiagnosticStatus.ERROR)
        status = next(s for d in reversed(m.probe.diagnostics) for s in d.status)
        assert '/nope.pth' in status.message
    finally:
        m.close()


def test_every_parameter_can_be_read_back():
    """``ros2 param dump`` and ``get`` use these services: every parameter must have a value."""
    m = Managed(overrides=[Parameter('max_rate', value=5)])
    try:
        names = m.call(m.probe.create_client(ListParameters, '/flow_node/list_parameters'),
                       ListParameters.Request()).result.names
        assert {spec.name for spec in PARAMETERS} <= set(names)
        values = m.call(m.probe.create_client(GetParameters, '/flow_node/get_parameters'),
                        GetParameters.Request(names=list(names))).values
        by_name = dict(zip(names, values, strict=True))
        assert [n for n, v in by_name.items() if v.type == 0] == []  # 0 = PARAMETER_NOT_SET
        assert by_name['max_rate'].double_value == 5.0
        assert list(by_name['network_size'].integer_array_value) == [0, 0]
    finally:
        m.close()


@pytest.mark.parametrize('transition', ['sigterm-like shutdown from inactive'])
def test_shutdown_from_inactive(transition):
    m = Managed()
    try:
        assert m.change(Transition.TRANSITION_CONFIGURE)
        assert m.change(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert m.state() == State.PRIMARY_STATE_FINALIZED
    finally:
        m.close()


def test_slow_model_load_is_reported_and_services_answer_meanwhile():
    import threading

    from std_srvs.srv import Trigger

    loading, release = threading.Event(), threading.Event()

    def slow_factory(params):
        loading.set()
        release.wait(20.0)  # a model load (or an extension build) that takes a while
        return DisFlowStandIn()

    m = Managed(factory=slow_factory)
    try:
        assert m.change(Transition.TRANSITION_CONFIGURE)
        activate = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_ACTIVATE))
        future = m._change.call_async(activate)
        assert loading.wait(10.0)
        assert wait_for(lambda: any('loading the model' in s.message and s.level == DiagnosticStatus.WARN
                                    for d in m.probe.diagnostics for s in d.status), 5.0)
        reset = m.probe.create_client(Trigger, '/flow_node/reset')
        assert reset.wait_for_service(timeout_sec=10.0)
        answer = reset.call_async(Trigger.Request())
        assert wait_for(answer.done, 5.0) and not future.done()  # answered while activation still loads
        release.set()
        assert wait_for(future.done, 20.0) and future.result().success
    finally:
        release.set()
        m.close()
