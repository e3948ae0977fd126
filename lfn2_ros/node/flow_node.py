# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``flow_node``: camera images in, LiteFlowNet2 optical flow out.

Parameters (node/parameters.py) -> FlowEstimator (inference.py) -> conversions (node/conversions.py)
-> publish. The subscription callback only decodes and drops the frame into a one-slot buffer; a
worker thread runs the model on the newest frame, so a slow model skips frames instead of queueing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import SetBool, Trigger

from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary
from lfn2_ros.evaluation.consistency import fb_confidence
from lfn2_ros.evaluation.stats import flow_stats
from lfn2_ros.node import conversions as conv
from lfn2_ros.node.pairing import Frame, FramePairer, FramePeriod, LatestSlot
from lfn2_ros.node.parameters import declare_parameters, validate_parameters, validate_values
from lfn2_ros.node.qos import DIAGNOSTICS_QOS, input_qos, output_qos
from lfn2_ros.node.runner import spin_node

__all__ = ['FlowNode', 'StartupError', 'build_estimator', 'main']

EstimatorFactory = Callable[[dict[str, Any]], Any]


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

    return FlowEstimator(
        weights=params['weights'] or None,
        variant=params['variant'],
        device=params['device'],
        dtype=params['precision'],
        network_size=list(params['network_size']) if params['network_size'] else None,
        num_threads=params['num_threads'] or None,
        allow_fallback=not params['require_device'],
        channels_last=params['channels_last'],
    )


class FlowNode(Node):
    """Dense optical flow from a camera stream.

    Subscribes ``image`` (sensor_msgs/Image, or CompressedImage on ``image/compressed``). Publishes
    ``optical_flow`` (lfn2_msgs/OpticalFlow), ``optical_flow/flow`` (32FC2, same header),
    ``optical_flow/visualization`` (bgr8, only with subscribers), ``optical_flow/summary`` and
    ``/diagnostics`` (1 Hz). Services ``~/enable`` (SetBool) and ``~/reset`` (Trigger). Parameters:
    node/parameters.py.

    Args:
        estimator_factory: builds the estimator from the parameter values; tests inject stand-ins
            here. It must provide ``push``, ``reset``, ``__call__``, ``model_name`` and ``device``.
        **kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``, ``namespace``...).

    Raises:
        StartupError: invalid parameters, or the estimator cannot be built (message from the loader).

    """

    def __init__(self, *, estimator_factory: EstimatorFactory = build_estimator, **kwargs: Any) -> None:
        super().__init__('flow_node', **kwargs)
        self._factory = estimator_factory
        self._lock = threading.Lock()  # guards the estimator and the pairer
        try:
            try:
                self._params = declare_parameters(self)
            except ParameterException as exc:
                raise StartupError(f'invalid parameter: {exc}') from exc
            errors = validate_values(self._params)
            if errors:
                raise StartupError('invalid parameters: ' + '; '.join(errors))
            qos = input_qos(self._params['input_qos'])
            self._estimator = self._load_estimator()
        except BaseException:
            super().destroy_node()
            raise
        self._pairer = FramePairer(self._params['max_pair_gap'])
        self._period = FramePeriod()
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._stats_lock = threading.Lock()
        self._window = self._empty_window()
        self._totals = {'received': 0, 'invalid': 0, 'errors': 0}
        self._last_error = ''
        self._last_accept = 0.0

        overrides = QoSOverridingOptions.with_default_policies()
        self._flow_pub = self.create_publisher(OpticalFlow, 'optical_flow', output_qos(),
                                               qos_overriding_options=overrides)
        self._plain_pub = self.create_publisher(Image, 'optical_flow/flow', output_qos(),
                                                qos_overriding_options=overrides)
        self._vis_pub = self.create_publisher(Image, 'optical_flow/visualization', output_qos(),
                                              qos_overriding_options=overrides)
        self._summary_pub = self.create_publisher(OpticalFlowSummary, 'optical_flow/summary', output_qos(5),
                                                  qos_overriding_options=overrides)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', DIAGNOSTICS_QOS)
        if self._params['image_transport'] == 'compressed':
            topic = self.resolve_topic_name('image') + '/compressed'
            self.create_subscription(CompressedImage, topic, self._on_image, qos)
        else:
            self.create_subscription(Image, 'image', self._on_image, qos)
        self.create_service(SetBool, '~/enable', self._on_enable)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self.add_on_set_parameters_callback(validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.create_timer(1.0, self._publish_diagnostics)

        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name='flow_worker', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'{self.model_name()} on {self.device_name()}; subscribed to {self.resolve_topic_name("image")} '
            f'({self._params["image_transport"]}, {self._params["input_qos"]})'
        )

    # ------------------------------------------------------------------------------ model

    def _load_estimator(self) -> Any:
        try:
            estimator = self._factory(self._params)
        except (FileNotFoundError, ValueError, ImportError, RuntimeError) as exc:
            raise StartupError(f'cannot load the flow model: {exc}') from exc
        wanted = self._params['device']
        if wanted.startswith('cuda') and not str(estimator.device).startswith('cuda'):
            self.get_logger().warning(f'device {wanted!r} requested but not available; running on the CPU')
        return estimator

    def model_name(self) -> str:
        """Name of the loaded model, or 'none' while disabled."""
        return self._estimator.model_name if self._estimator is not None else 'none'

    def device_name(self) -> str:
        """Device the model runs on, or 'none' while disabled."""
        return str(self._estimator.device) if self._estimator is not None else 'none'

    @property
    def frames_received(self) -> int:
        """Input messages that reached the image callback since start."""
        with self._stats_lock:
            return self._totals['received']

    # -------------------------------------------------------------------------- callbacks

    def _on_image(self, msg: Image | CompressedImage) -> None:
        received_ns = time.monotonic_ns()
        arrival_ns = self.get_clock().now().nanoseconds
        with self._stats_lock:
            self._window['received'] += 1
            self._totals['received'] += 1
        stamp_ns = conv.time_to_ns(msg.header.stamp)
        self._period.observe(stamp_ns)
        if self._estimator is None:
            return
        max_rate = self._params['max_rate']
        now = time.monotonic()
        if max_rate > 0 and now - self._last_accept < 1.0 / max_rate:
            self._slot.count_dropped()
            return
        try:
            if isinstance(msg, CompressedImage):
                image = conv.compressed_to_bgr8(msg)
            else:
                image = conv.image_to_bgr8(msg)
        except conv.ImageError as exc:
            with self._stats_lock:
                self._totals['invalid'] += 1
            self.get_logger().warning(f'skipping input frame: {exc}', throttle_duration_sec=5.0)
            return
        self._last_accept = now
        encoding = getattr(msg, 'encoding', None) or f'compressed:{msg.format}'
        self._slot.put(Frame(image, stamp_ns, encoding, msg.header, received_ns, arrival_ns - stamp_ns))

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if request.data and self._estimator is None:
            try:
                estimator = self._load_estimator()
            except StartupError as exc:
                response.success, response.message = False, str(exc)
                return response
            with self._lock:
                self._estimator = estimator
        elif not request.data and self._estimator is not None:
            with self._lock:
                device, self._estimator = str(self._estimator.device), None
                self._pairer.reset()
            self._slot.clear()
            if device.startswith('cuda'):  # give the cached blocks back to the driver
                import torch

                torch.cuda.empty_cache()
        response.success = True
        response.message = 'processing enabled' if request.data else 'processing disabled, model unloaded'
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._slot.clear()
        with self._lock:
            self._pairer.reset()
            if self._estimator is not None:
                self._estimator.reset()
        response.success, response.message = True, 'stored frame dropped'
        return response

    def _apply_parameters(self, params: list) -> None:
        for param in params:
            if param.name in self._params:
                self._params[param.name] = param.value
            if param.name == 'max_pair_gap':
                self._pairer.max_pair_gap_s = param.value

    # ----------------------------------------------------------------------------- worker

    def _run(self) -> None:
        while not self._stop.is_set():
            taken = self._slot.take(timeout_s=0.1)
            if taken is not None:
                frame, frame.frames_skipped = taken[0], taken[1]
                self._process(frame)

    def _process(self, frame: Frame) -> None:
        queue_time_s = (time.monotonic_ns() - frame.received_ns) / 1e9
        confidence = None
        with self._lock:
            estimator = self._estimator
            if estimator is None:
                return
            decision = self._pairer.next(frame)
            if decision.previous is not None:
                # Frames lost before the callback (best-effort input) show only in the stamp gap.
                frame.frames_skipped = max(frame.frames_skipped, self._period.frames_between(
                    decision.previous.stamp_ns, frame.stamp_ns))
            if decision.previous is None:
                estimator.reset()
                self.get_logger().debug(f'pairing restarts: {decision.reason}')
            start = time.perf_counter()
            try:
                flow = estimator.push(frame.image)
                if flow is not None and not np.isfinite(flow).all():
                    raise FloatingPointError('the model returned NaN or infinite flow')
                if flow is not None and self._params['compute_confidence']:
                    backward = estimator(frame.image, decision.previous.image)
                    confidence = fb_confidence(flow, backward)
            except (RuntimeError, FloatingPointError, ValueError) as exc:  # CUDA OOM is a RuntimeError
                estimator.reset()
                self._pairer.reset()
                self._report_error(f'inference failed, frame skipped: {exc}')
                return
            inference_s = time.perf_counter() - start
        if flow is None or decision.previous is None:
            return
        self._publish(frame, decision.previous, flow, confidence, inference_s, queue_time_s,
                      estimator.model_name)

    def _publish(self, frame: Frame, previous: Frame, flow: np.ndarray, confidence: np.ndarray | None,
                 inference_s: float, queue_time_s: float, model: str) -> None:
        prev_stamp = previous.header.stamp
        msg = conv.build_optical_flow(frame.header, prev_stamp, flow, input_width=frame.image.shape[1],
                                      model=model, frames_skipped=frame.frames_skipped, confidence=confidence)
        self._flow_pub.publish(msg)
        self._plain_pub.publish(msg.flow)
        if self._params['publish_visualization'] and self._vis_pub.get_subscription_count() > 0:
            from lfn2_ros.evaluation.visualize import flow_to_color

            self._vis_pub.publish(conv.array_to_image(flow_to_color(flow), frame.header))
        latency_s = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e9
        self._summary_pub.publish(conv.build_summary(
            frame.header, prev_stamp, flow_stats(flow), inference_time_s=inference_s, latency_s=latency_s,
            receive_latency_s=frame.receive_latency_ns / 1e9, queue_time_s=queue_time_s,
            frames_skipped=frame.frames_skipped))
        with self._stats_lock:
            self._window['published'] += 1
            self._window['inference_s'] += inference_s
            self._window['latency_s'] += latency_s

    # ------------------------------------------------------------------------ diagnostics

    def _report_error(self, message: str) -> None:
        self.get_logger().error(message, throttle_duration_sec=5.0)
        with self._stats_lock:
            self._totals['errors'] += 1
            self._window['errors'] += 1
            self._last_error = message

    @staticmethod
    def _empty_window() -> dict[str, Any]:
        return {'start': time.monotonic(), 'received': 0, 'published': 0, 'errors': 0,
                'inference_s': 0.0, 'latency_s': 0.0}

    def _publish_diagnostics(self) -> None:
        with self._stats_lock:
            window, self._window = self._window, self._empty_window()
            totals, last_error = dict(self._totals), self._last_error
        window['elapsed_s'] = time.monotonic() - window['start']
        level, message, values = conv.flow_status(
            window, dropped=self._slot.dropped_total, invalid=totals['invalid'], errors=totals['errors'],
            last_error=last_error, enabled=self._estimator is not None, device=self.device_name(),
            model=self.model_name())
        self._diag_pub.publish(conv.build_diagnostics(
            self.get_clock().now().to_msg(), f'{self.get_name()}: optical flow', self.device_name(), level,
            message, values))

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the node."""
        self._stop.set()
        self._slot.close()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run ``flow_node`` until shutdown (jazzy demos' main pattern).

    Args:
        args: command-line arguments (ROS arguments included); None = ``sys.argv``.

    Returns:
        0 after a clean shutdown, 1 on a start-up error (the reason is logged).

    """
    return spin_node(FlowNode, args, fatal=(StartupError,), logger_name='flow_node')


if __name__ == '__main__':
    raise SystemExit(main())
