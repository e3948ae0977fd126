# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``flow_node``: camera images in, LiteFlowNet2 optical flow out; a managed (lifecycle) node.

Lifecycle: configure reads and validates the parameters and creates the publishers, services and the
diagnostics timer; activate loads the model, starts the worker and subscribes; deactivate
unsubscribes, stops the worker and frees the model (and CUDA's cached memory); cleanup destroys what
configure made. With ``autostart`` (default) the node configures and activates itself, so ``ros2 run``
works without a lifecycle manager. Cameras: node/camera.py; inference: node/worker.py; health:
node/diagnostics.py; parameters: node/parameters.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Header
from std_srvs.srv import SetBool, Trigger

from lfn2_ros.node.camera import CameraPipeline
from lfn2_ros.node.pairing import FrameBoard
from lfn2_ros.node.parameters import (
    coerce_parameters,
    declare_parameters,
    validate_parameters,
    validate_values,
)
from lfn2_ros.node.python_logs import forward_library_logs
from lfn2_ros.node.qos import DIAGNOSTICS_QOS, input_qos
from lfn2_ros.node.runner import spin_node
from lfn2_ros.node.worker import InferenceWorker, ModelLoadError

__all__ = ['FlowNode', 'StartupError', 'build_estimator', 'main']

EstimatorFactory = Callable[[dict[str, Any]], Any]
_OK, _FAIL = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class StartupError(RuntimeError):
    """A configuration problem the user can fix (weights, variant, device); the node exits non-zero."""


def build_estimator(params: dict[str, Any]) -> Any:
    """Build the FlowEstimator the parameters ask for (the node's only model).

    Args:
        params: parameter name -> value (node/parameters.py).

    Returns:
        A ``lfn2_ros.inference.FlowEstimator``.

    """
    from lfn2_ros.inference import FlowEstimator  # torch loads only when a model is needed

    size = list(params['network_size'])
    return FlowEstimator(
        weights=params['weights'] or None,
        variant=params['variant'],
        device=params['device'],
        dtype=params['precision'],
        network_size=size if any(size) else None,
        num_threads=params['num_threads'] or None,
        allow_fallback=not params['require_device'],
        channels_last=params['channels_last'],
    )


class FlowNode(LifecycleNode):
    """Dense optical flow from one or several cameras, one model for all of them.

    Per camera (README "Topics"): subscribes ``[NAME/]image`` (or ``image/compressed``), publishes
    ``[NAME/]optical_flow`` (lfn2_msgs/OpticalFlow), ``.../flow`` (32FC2, same header),
    ``.../visualization`` (bgr8, only with subscribers), ``.../summary``; one status per camera on
    ``/diagnostics`` (1 Hz). Services ``~/enable`` (SetBool) and ``~/reset`` (Trigger).

    Args:
        estimator_factory: builds the estimator from the parameter values; tests inject stand-ins.
        **kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``, ``namespace``...).

    Raises:
        StartupError: an override of the wrong type (values are validated at configure).

    """

    def __init__(self, *, estimator_factory: EstimatorFactory = build_estimator, **kwargs: Any) -> None:
        super().__init__('flow_node', **kwargs)
        forward_library_logs(self.get_logger())  # e.g. the extension loader's "compiling" warning
        self._factory = estimator_factory
        try:
            self._params = declare_parameters(self)
        except ParameterException as exc:
            super().destroy_node()
            raise StartupError(f'invalid parameter: {exc}') from exc
        self.add_pre_set_parameters_callback(coerce_parameters)
        self.add_on_set_parameters_callback(validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.cameras: dict[str, CameraPipeline] = {}
        self.worker: InferenceWorker | None = None
        self.last_error = ''
        self._board: FrameBoard = FrameBoard()
        self._configured: list[Any] = []  # services, timer, publisher made by configure
        self._service_group = MutuallyExclusiveCallbackGroup()  # never blocked by the worker
        self._active = False

    # ---------------------------------------------------------------------------- lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters; create publishers, services and the diagnostics timer."""
        errors = validate_values(self._params)
        if errors:
            return self._fail('invalid parameters: ' + '; '.join(errors))
        self._board = FrameBoard()
        names = self._params['cameras'] or ['']
        self.cameras = {name: CameraPipeline(self, name, self._params, self._board) for name in names}
        self.worker = InferenceWorker(self._factory, self._params, self._board, self.cameras,
                                      self.get_logger())
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', DIAGNOSTICS_QOS)
        self._configured = [
            self._diag_pub,
            self.create_service(SetBool, '~/enable', self._on_enable, callback_group=self._service_group),
            self.create_service(Trigger, '~/reset', self._on_reset, callback_group=self._service_group),
            self.create_timer(1.0, self._publish_diagnostics,
                              callback_group=MutuallyExclusiveCallbackGroup()),
        ]
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model, start the worker, subscribe."""
        self.worker.model.active = self.worker.model.enabled = True  # diagnostics: 'loading the model'
        try:
            self.worker.load()
        except ModelLoadError as exc:
            self.worker.model.active = False
            return self._fail(str(exc))
        self.worker.start()
        qos = input_qos(self._params['input_qos'])
        for camera in self.cameras.values():
            camera.subscribe(qos)
        self._active = True
        topics = ', '.join(c.input_topic for c in self.cameras.values())
        self.get_logger().info(f'{self.worker.model_name} on {self.worker.device_name}; '
                               f'subscribed to {topics} '
                               f'({self._params["image_transport"]}, {self._params["input_qos"]})')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe, stop the worker, free the model."""
        self._deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what configure created."""
        self._cleanup()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Deactivate and clean up from any state."""
        self._deactivate()
        self._cleanup()
        return _OK

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """An exception in a transition: release everything, back to unconfigured."""
        self._deactivate()
        self._cleanup()
        return _OK

    def _fail(self, message: str) -> TransitionCallbackReturn:
        self.last_error = message
        self.get_logger().error(message)
        return _FAIL

    def _deactivate(self) -> None:
        self._active = False
        for camera in self.cameras.values():
            camera.unsubscribe()
        if self.worker is not None:
            self.worker.unload()
            self.worker.model.active = False
        self._board.clear()

    def _cleanup(self) -> None:
        for camera in self.cameras.values():
            camera.destroy()
        self.cameras = {}
        for entity in self._configured:
            {'Publisher': self.destroy_publisher, 'Service': self.destroy_service,
             'Timer': self.destroy_timer}[type(entity).__name__](entity)
        self._configured = []

    def autostart(self) -> None:
        """Configure and activate when the ``autostart`` parameter is true (no lifecycle manager).

        Raises:
            StartupError: a transition failed; the message says why.

        """
        if not self._params['autostart']:
            self.get_logger().info('autostart is false: waiting for lifecycle transitions')
            return
        for trigger in (self.trigger_configure, self.trigger_activate):
            if trigger() != _OK:
                raise StartupError(self.last_error or f'{trigger.__name__} failed')

    def model_name(self) -> str:
        """Name of the loaded model, or 'none' while inactive or disabled."""
        return self.worker.model_name if self.worker is not None else 'none'

    @property
    def frames_received(self) -> int:
        """Input messages that reached the image callbacks of every camera since configure."""
        return sum(camera.health.totals['received'] for camera in self.cameras.values())

    def device_name(self) -> str:
        """Device the model runs on, or 'none' while inactive or disabled."""
        return self.worker.device_name if self.worker is not None else 'none'

    # ------------------------------------------------------------------------- services

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if not self._active:
            response.success, response.message = False, 'the node is not active (lifecycle)'
            return response
        self.worker.model.enabled = request.data
        if request.data and self.worker.model.state in ('unloaded', 'failed'):
            self.worker.request_load()
            message = 'processing enabled, model loading'
        elif not request.data:
            self.worker.request_unload()
            message = 'processing disabled, model unloading'
        else:
            message = 'processing enabled'
        for camera in self.cameras.values():
            camera.health.restart_stall_timer()
        response.success, response.message = True, message
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._board.clear()
        for camera in self.cameras.values():
            camera.reset_requested = True  # applied by the worker between rounds
            camera.health.restart_stall_timer()
        response.success, response.message = True, 'stored frames dropped'
        return response

    def _apply_parameters(self, params: list) -> None:
        for param in params:
            if param.name in self._params:
                self._params[param.name] = param.value
        for camera in self.cameras.values():
            camera.apply_parameters()

    # ---------------------------------------------------------------------- diagnostics

    def _publish_diagnostics(self) -> None:
        worker = self.worker
        statuses = [camera.diagnostic_status(worker.model, worker.device_name, worker.model_name)
                    for camera in list(self.cameras.values())]
        self._diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                               status=statuses))

    def stop(self) -> None:
        """Stop the worker (before the context goes: it publishes nothing afterwards)."""
        if self.worker is not None:
            self.worker.stop(timeout_s=10.0)  # within launch's SIGTERM escalation for a CPU inference

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the node."""
        self.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run ``flow_node`` until SIGINT/SIGTERM; 0 after a clean shutdown, 1 on a start-up error.

    Args:
        args: command-line arguments (ROS arguments included); None = ``sys.argv``.

    Returns:
        The exit code.

    """
    return spin_node(FlowNode, args, fatal=(StartupError,), logger_name='flow_node',
                     start=FlowNode.autostart,
                     # threads for each camera's decoding, the services, timer and lifecycle callbacks
                     executor=lambda: MultiThreadedExecutor(num_threads=max(4, os.cpu_count() or 1)))


if __name__ == '__main__':
    raise SystemExit(main())
