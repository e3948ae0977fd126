# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``synthetic_camera``: a textured scene moving with a known motion, for demos and tests.

The scene is a seeded, periodic, smooth random texture (blurred noise, many corners and no
aperture problem); frame k shows it translated by k x (motion_x, motion_y) px with bilinear
sub-pixel sampling, so the true flow between frames j < k is (k - j) x (motion_x, motion_y)
everywhere (image_tools' burger_mode idea: tests and demos need no camera).

Like a free-running camera, the node's frame index follows its clock: frame k is stamped
``start + k / rate``, and a timer tick that runs late (a loaded machine) publishes the frame of its
time, so the frames it missed are lost, as from a real driver that falls behind. The stamps then show
the gap, the flow node's ``frames_skipped`` counts it, and stamps and content never disagree.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from lfn2_ros.node.conversions import array_to_image, ns_to_time
from lfn2_ros.node.qos import PUBLISHER_QOS
from lfn2_ros.node.runner import spin_node

__all__ = ['MovingTexture', 'SyntheticCamera', 'main']


class MovingTexture:
    """Frames of a periodic texture translating by a constant displacement per frame.

    Args:
        height: frame height in px (>= 1).
        width: frame width in px (>= 1).
        motion_px: (dx, dy) displacement per frame in px (+x right, +y down).
        seed: texture seed.

    """

    def __init__(
        self, height: int, width: int, motion_px: tuple[float, float] = (2.0, 1.0), seed: int = 0
    ) -> None:
        if height < 1 or width < 1:
            raise ValueError(f'height and width must be >= 1 px, got {height}x{width}')
        self.height, self.width = int(height), int(width)
        self.motion_px = (float(motion_px[0]), float(motion_px[1]))
        rng = np.random.default_rng(seed)
        # Twice the frame size, so content leaving one edge is not the content entering the other.
        size = (2 * self.height, 2 * self.width)
        layers = []
        for sigma in (1.5, 4.0):
            noise = rng.random(size + (3,), dtype=np.float32)
            # Blur a wrapped copy and crop it back: a periodic texture has no seam under BORDER_WRAP.
            pad = int(4 * sigma) + 1
            padded = cv2.copyMakeBorder(noise, pad, pad, pad, pad, cv2.BORDER_WRAP)
            layers.append(cv2.GaussianBlur(padded, (0, 0), sigma)[pad:-pad, pad:-pad])
        texture = layers[0] + layers[1]
        texture -= texture.min()
        self.texture = (255.0 * texture / max(float(texture.max()), 1e-6)).astype(np.uint8)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index``: the texture shifted by ``index * motion_px``.

        Args:
            index: frame number (>= 0).

        Returns:
            (height, width, 3) uint8 BGR; pixel x shows texture(x - index * motion).

        """
        # The texture is periodic with its own size, so the shift is taken modulo that period, in float64:
        # a raw index * motion passed to warpAffine as float32 would lose sub-pixel precision after hours
        # of frames (at 2 px per frame, 0.25 px steps past a million frames).
        period_y, period_x = self.texture.shape[:2]
        dx = math.fmod(index * self.motion_px[0], period_x)
        dy = math.fmod(index * self.motion_px[1], period_y)
        # warpAffine maps dst(x) = src(M^-1 x) = src(x - t): content moves by +t.
        matrix = np.float32([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        return cv2.warpAffine(self.texture, matrix, (self.width, self.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_WRAP)


class SyntheticCamera(Node):
    """Publishes :class:`MovingTexture` frames on ``image`` (bgr8), stamped with the node clock.

    Parameters: ``rate`` (Hz), ``width``, ``height`` (px), ``motion_x``, ``motion_y`` (px per frame),
    ``seed``, ``frame_id``, ``num_frames`` (0 = unlimited).

    Args:
        **kwargs: passed to ``rclpy.node.Node``.

    """

    def __init__(self, **kwargs) -> None:
        super().__init__('synthetic_camera', **kwargs)

        def declare(name, default, description, **ranges):
            # Floats accept integers too (motion_x:=3 from a launch file).
            floating = isinstance(default, float)
            value = self.declare_parameter(name, default, ParameterDescriptor(
                description=description, read_only=True, dynamic_typing=floating, **ranges)).value
            return float(value) if floating else value

        rate = declare('rate', 30.0, 'publication rate in Hz',
                       floating_point_range=[FloatingPointRange(from_value=0.1, to_value=1000.0)])
        size_range = [IntegerRange(from_value=8, to_value=8192, step=1)]
        width = declare('width', 320, 'image width in px', integer_range=size_range)
        height = declare('height', 240, 'image height in px', integer_range=size_range)
        motion = (declare('motion_x', 2.0, 'displacement per frame along +x (right) in px'),
                  declare('motion_y', 1.0, 'displacement per frame along +y (down) in px'))
        seed = declare('seed', 0, 'texture seed')
        self._frame_id = declare('frame_id', 'camera_optical_frame', 'frame_id of the published images')
        self._num_frames = declare('num_frames', 0, 'frames to publish, then stop; 0 = unlimited',
                                   integer_range=[IntegerRange(from_value=0, to_value=2**31 - 1, step=1)])
        self._scene = MovingTexture(height, width, motion, seed)
        self._period_ns = round(1e9 / rate)
        self._published = 0
        self._last_index = -1
        # REP-2003: drivers publish reliable; best-effort subscribers match it too.
        qos = PUBLISHER_QOS['reliable']
        self._pub = self.create_publisher(Image, 'image', qos)
        # Frame 0 falls on the timer's first tick, which fires one period after it is created.
        self._start_ns = self.get_clock().now().nanoseconds + self._period_ns
        self._timer = self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(f'{width}x{height} at {rate} Hz, motion {motion} px/frame on '
                               f'{self.resolve_topic_name("image")}')

    @property
    def frames_published(self) -> int:
        """Frames published so far (late ticks lose frames, so the last index may be larger)."""
        return self._published

    def _tick(self) -> None:
        if self._num_frames and self._published >= self._num_frames:
            self._timer.cancel()
            return
        now_ns = self.get_clock().now().nanoseconds
        index = (now_ns - self._start_ns) // self._period_ns
        if index < self._last_index:  # the clock went back (a bag loop under use_sim_time): start over
            self._start_ns, index = now_ns, 0
        elif index == self._last_index:  # a tick early on the grid: never publish a frame twice
            return
        self._last_index = index
        stamp = ns_to_time(self._start_ns + index * self._period_ns)
        header = Header(stamp=stamp, frame_id=self._frame_id)
        self._pub.publish(array_to_image(self._scene.frame(index), header))
        self._published += 1


def main(args: list[str] | None = None) -> int:
    """Run ``synthetic_camera`` until shutdown.

    Args:
        args: command-line arguments; None = ``sys.argv``.

    Returns:
        0.

    """
    return spin_node(SyntheticCamera, args)


if __name__ == '__main__':
    raise SystemExit(main())
