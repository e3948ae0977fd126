# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Services and parameter changes answer while an inference runs; several cameras share one model."""

import time

from fake_estimators import SlowFakeEstimator
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from ros_fixtures import Graph, Probe, wait_for
from std_srvs.srv import SetBool, Trigger

from lfn2_ros.node.conversions import time_to_ns
from lfn2_ros.node.flow_node import FlowNode
from lfn2_ros.node.synthetic_camera import MovingTexture

S = 1_000_000_000
T0 = 1_700_000_000 * S
SCENE = MovingTexture(48, 64, motion_px=(2.0, 1.0), seed=3)


def _node(graph, estimator, overrides=()):
    loads = []

    def factory(params):
        loads.append(1)
        return estimator

    node = FlowNode(estimator_factory=factory, context=graph.context, parameter_overrides=list(overrides))
    node.autostart()
    return graph.add(node), loads


def _timed_call(probe, srv_type, name, request):
    client = probe.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=10.0)
    sent = time.monotonic()
    future = client.call_async(request)
    assert wait_for(future.done, 30.0)
    return future.result(), sent, time.monotonic()


def test_services_and_parameters_answer_while_an_inference_runs():
    estimator = SlowFakeEstimator(delay_s=2.0)
    graph = Graph(num_threads=4)
    try:
        node, _ = _node(graph, estimator)
        probe = graph.add(Probe(graph.context))
        for client in (('reset', Trigger), ('enable', SetBool)):  # discovery before the clock starts
            assert probe.create_client(client[1], f'/flow_node/{client[0]}').wait_for_service(
                timeout_sec=10.0)
        k = 0
        while not estimator.started.is_set() and k < 100:  # the first frames may precede DDS matching
            probe.image_pub.publish(probe.image(SCENE.frame(k), T0 + k * S // 10))
            k += 1
            wait_for(estimator.started.is_set, 0.1)
        assert estimator.started.is_set()
        replies = {
            'reset': _timed_call(probe, Trigger, '/flow_node/reset', Trigger.Request()),
            'enable': _timed_call(probe, SetBool, '/flow_node/enable', SetBool.Request(data=True)),
            'set max_rate': _timed_call(
                probe, SetParameters, '/flow_node/set_parameters',
                SetParameters.Request(parameters=[Parameter('max_rate', value=5).to_parameter_msg()])),
        }
        assert wait_for(lambda: len(estimator.spans) >= 1, 10.0)
        start, end = estimator.spans[0]
        for name, (_, sent, answered) in replies.items():
            # Answered before the running inference finished: nothing waited for the model.
            assert answered < end, (name, answered - start, end - start)
            print(f'{name}: answered in {1e3 * (answered - sent):.1f} ms '
                  f'during a {end - start:.2f} s inference')
        assert replies['reset'][0].success and replies['enable'][0].success
        assert replies['set max_rate'][0].results[0].successful  # an integer for a double parameter
        assert node.get_parameter('max_rate').value == 5.0
    finally:
        graph.close()


def test_two_cameras_share_one_model_and_batch():
    estimator = SlowFakeEstimator(delay_s=0.3)
    graph = Graph(num_threads=4)
    try:
        node, loads = _node(graph, estimator, [Parameter('cameras', value=['left', 'right']),
                                               Parameter('input_qos', value='reliable')])
        probes = {name: graph.add(Probe(graph.context, image_topic=f'{name}/image', prefix=f'{name}/',
                                        name=f'probe_{name}')) for name in ('left', 'right')}
        assert wait_for(lambda: all(p.image_pub.get_subscription_count() == 1
                                    and node.cameras[n].flow_pub.get_subscription_count() >= 1
                                    for n, p in probes.items()))
        offsets = {'left': 0, 'right': S // 20}  # distinct stamps: pairs never mix cameras
        stamps = {name: set() for name in probes}
        for k in range(60):
            for name, probe in probes.items():
                stamp = T0 + k * S // 10 + offsets[name]
                stamps[name].add(stamp)
                probe.image_pub.publish(probe.image(SCENE.frame(k), stamp, frame_id=f'{name}_optical'))
            if all(len(p.flows) >= 4 for p in probes.values()):
                break
            time.sleep(0.1)
        assert all(len(p.flows) >= 4 for p in probes.values())
        assert len(loads) == 1  # one model in memory for both cameras
        assert max(estimator.batches) == 2  # frames ready together went through one forward
        for name, probe in probes.items():
            for msg in probe.flows:
                assert msg.header.frame_id == f'{name}_optical'
                assert time_to_ns(msg.header.stamp) in stamps[name]
                assert time_to_ns(msg.previous_stamp) in stamps[name]
        assert wait_for(lambda: any(len(d.status) == 2 for d in probes['left'].diagnostics), 5.0)
        names = {s.name for d in probes['left'].diagnostics for s in d.status}
        assert {'flow_node: optical flow left', 'flow_node: optical flow right'} <= names
    finally:
        graph.close()
