# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One camera of the flow node: its topics, decoding, rate limit, pairing, stamps, outputs and health.

Camera NAME reads ``NAME/image`` (or ``NAME/image/compressed``) and publishes ``NAME/optical_flow``
with its sub-topics; the unnamed camera ('' : the ``cameras`` parameter is empty) uses ``image`` and
``optical_flow``. The subscription callback only decodes and posts the frame on the shared
:class:`~lfn2_ros.node.pairing.FrameBoard`; the worker (node/worker.py) pairs and infers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode
from rclpy.qos import QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image

from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary
from lfn2_ros.evaluation.stats import flow_stats
from lfn2_ros.node import conversions as conv
from lfn2_ros.node.bridge import ImageBridge
from lfn2_ros.node.diagnostics import CameraHealth, ModelState
from lfn2_ros.node.pairing import Frame, FrameBoard, FramePairer, PairDecision
from lfn2_ros.node.qos import output_qos
from lfn2_ros.node.stamps import FramePeriod, RateLimiter, effective_pair_gap, frames_skipped

__all__ = ['CameraPipeline']


class CameraPipeline:
    """Topics and per-camera state of one camera.

    Args:
        node: the flow node (a lifecycle node; its outputs are lifecycle publishers).
        name: camera name ('' = the single unnamed camera).
        params: the node's live parameter dict (read, never written here).
        board: the worker's frame board; this camera posts under ``name``.

    """

    def __init__(self, node: LifecycleNode, name: str, params: dict[str, Any], board: FrameBoard) -> None:
        self.node, self.name, self._params, self._board = node, name, params, board
        self.prefix = f'{name}/' if name else ''
        self.pairer = FramePairer(effective_pair_gap(params['max_pair_gap'], params['max_rate']))
        self.period = FramePeriod()
        self.limiter = RateLimiter(params['max_rate'])
        self.health = CameraHealth()
        self.bridge = ImageBridge(logger=node.get_logger())
        self.reset_requested = False
        self._subscription = None
        self._group = MutuallyExclusiveCallbackGroup()  # frames of one camera stay in order
        overrides = QoSOverridingOptions.with_default_policies()
        pub = node.create_lifecycle_publisher
        topic = f'{self.prefix}optical_flow'
        self.flow_pub = pub(OpticalFlow, topic, output_qos(), qos_overriding_options=overrides)
        self.plain_pub = pub(Image, f'{topic}/flow', output_qos(), qos_overriding_options=overrides)
        self.vis_pub = pub(Image, f'{topic}/visualization', output_qos(), qos_overriding_options=overrides)
        self.summary_pub = pub(OpticalFlowSummary, f'{topic}/summary', output_qos(5),
                               qos_overriding_options=overrides)

    @property
    def input_topic(self) -> str:
        """Resolved input topic."""
        suffix = '/compressed' if self._params['image_transport'] == 'compressed' else ''
        return self.node.resolve_topic_name(f'{self.prefix}image') + suffix

    # --------------------------------------------------------------------------- lifecycle

    def subscribe(self, qos: QoSProfile) -> None:
        """Create the image subscription (activation)."""
        msg_type = CompressedImage if self._params['image_transport'] == 'compressed' else Image
        self._subscription = self.node.create_subscription(msg_type, self.input_topic, self.on_image, qos,
                                                           callback_group=self._group)
        self.health.restart_stall_timer()

    def unsubscribe(self) -> None:
        """Destroy the image subscription (deactivation) and forget the stream."""
        if self._subscription is not None:
            self.node.destroy_subscription(self._subscription)
            self._subscription = None
        self.pairer.reset()
        self.period.reset()
        self.limiter.reset()

    def destroy(self) -> None:
        """Destroy the publishers (cleanup)."""
        self.unsubscribe()
        for pub in (self.flow_pub, self.plain_pub, self.vis_pub, self.summary_pub):
            self.node.destroy_lifecycle_publisher(pub)

    def apply_parameters(self) -> None:
        """Take live parameter changes (max_rate, max_pair_gap)."""
        self.limiter.max_rate_hz = self._params['max_rate']
        gap = effective_pair_gap(self._params['max_pair_gap'], self._params['max_rate'])
        self.pairer.max_pair_gap_s = gap

    # ------------------------------------------------------------------------ input side

    def on_image(self, msg: Image | CompressedImage) -> None:
        """Subscription callback: count, rate-limit on stamps, decode, post on the board."""
        received_ns = time.monotonic_ns()
        arrival_ns = self.node.get_clock().now().nanoseconds
        stamp_ns = conv.time_to_ns(msg.header.stamp)
        if self.health.received(stamp_ns):
            self.node.get_logger().warning(
                f'{self.input_topic}: header stamps are zero; pairing needs increasing stamps, so no flow '
                'is published for such frames (warned once)')
        self.period.observe(stamp_ns)
        if not self.limiter.accept(stamp_ns, self.period.period_ns):
            self._board.count_dropped(self.name)
            return
        try:
            image = self._decode(msg)
        except conv.ImageError as exc:
            self.health.invalid(str(exc))
            self._board.count_dropped(self.name)
            self.node.get_logger().warning(f'skipping input frame on {self.input_topic}: {exc}',
                                           throttle_duration_sec=5.0)
            return
        encoding = getattr(msg, 'encoding', None) or f'compressed:{msg.format}'
        self._board.put(self.name, Frame(image, stamp_ns, encoding, msg.header, received_ns,
                                         arrival_ns - stamp_ns))

    def _decode(self, msg: Image | CompressedImage) -> np.ndarray:
        limit = self._params['max_input_size']
        if isinstance(msg, CompressedImage):
            image = self.bridge.compressed_to_bgr8(msg)
            height, width = image.shape[:2]
        else:
            height, width = msg.height, msg.width
        if max(height, width) > limit:
            raise conv.MalformedImage(f'image {width}x{height} exceeds max_input_size {limit} px')
        return image if isinstance(msg, CompressedImage) else self.bridge.image_to_bgr8(msg)

    # ----------------------------------------------------------------------- worker side

    def pair(self, frame: Frame) -> PairDecision:
        """Pairing decision for the worker; sets ``frame.frames_skipped`` when a pair forms."""
        decision = self.pairer.next(frame)
        if decision.previous is None:
            self.health.restarted(decision.reason or '')
            self.node.get_logger().debug(f'{self.prefix}pairing restarts: {decision.reason}')
        else:
            frame.frames_skipped = frames_skipped(frame.frames_skipped, self.period,
                                                  decision.previous.stamp_ns, frame.stamp_ns)
        return decision

    def publish(self, frame: Frame, previous: Frame, flow: np.ndarray, confidence: np.ndarray | None,
                inference_s: float, model: str) -> None:
        """Publish one pair's outputs (worker thread)."""
        queue_time_s = (time.monotonic_ns() - frame.received_ns) / 1e9 - inference_s
        prev_stamp = previous.header.stamp
        msg = conv.build_optical_flow(frame.header, prev_stamp, flow, input_width=frame.image.shape[1],
                                      model=model, frames_skipped=frame.frames_skipped, confidence=confidence)
        self.flow_pub.publish(msg)
        self.plain_pub.publish(msg.flow)
        if self._params['publish_visualization'] and self.vis_pub.get_subscription_count() > 0:
            from lfn2_ros.evaluation.visualize import flow_to_color

            self.vis_pub.publish(conv.array_to_image(flow_to_color(flow), frame.header))
        latency_s = (self.node.get_clock().now().nanoseconds - frame.stamp_ns) / 1e9
        self.summary_pub.publish(conv.build_summary(
            frame.header, prev_stamp, flow_stats(flow), inference_time_s=inference_s, latency_s=latency_s,
            receive_latency_s=frame.receive_latency_ns / 1e9, queue_time_s=max(0.0, queue_time_s),
            frames_skipped=frame.frames_skipped))
        self.health.published(inference_s, latency_s)

    def diagnostic_status(self, model: ModelState, device: str, model_name: str) -> DiagnosticStatus:
        """Status of this camera for ``/diagnostics`` (starts a new period)."""
        level, message, values = self.health.status(model, self._board.dropped_total.get(self.name, 0))
        values.update({'input topic': self.input_topic, 'device': device, 'model': model_name,
                       'enabled': model.enabled})
        task = f'optical flow {self.name}' if self.name else 'optical flow'
        return conv.build_diagnostics(self.node.get_clock().now().to_msg(), f'{self.node.get_name()}: {task}',
                                      device, level, message, values).status[0]
