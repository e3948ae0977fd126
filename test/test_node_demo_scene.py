# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The demo scene's true flow explains its frames (photos, camera motion, independently moving objects)."""

import cv2
import numpy as np
import pytest

from lfn2_ros.node.demo_scene import PhotoScene


def _warp_error(scene, first, second):
    """Mean |frame(second) sampled at x + flow - frame(first)| on the interior, and with zero flow."""
    a, b = scene.frame(first).astype(np.float32), scene.frame(second)
    flow, _ = scene.flow(first, second)
    gx, gy = np.meshgrid(np.arange(scene.width, dtype=np.float32), np.arange(scene.height, dtype=np.float32))
    warped = cv2.remap(b, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR).astype(np.float32)
    inner = (slice(24, -24), slice(24, -24))
    return np.abs(warped - a)[inner].mean(), np.abs(b.astype(np.float32) - a)[inner].mean()


@pytest.mark.parametrize('first, second', [(0, 1), (3, 7)])
def test_true_flow_warps_one_frame_onto_the_other(first, second):
    scene = PhotoScene(120, 160, camera_motion=(3.0, 1.5))
    with_flow, zero = _warp_error(scene, first, second)
    assert with_flow < 0.3 * zero, (with_flow, zero)  # only occlusion edges remain


def test_objects_move_on_their_own():
    scene = PhotoScene(120, 160, camera_motion=(3.0, 1.5), object_motions=((-2.5, 1.0), (1.5, -2.0)))
    flow, on_object = scene.flow(2, 4)
    assert 0.03 < on_object.mean() < 0.4
    background = flow[~on_object]
    np.testing.assert_array_equal(background, np.broadcast_to([6.0, 3.0], background.shape))
    motions = {tuple(v) for v in flow[on_object].reshape(-1, 2)}
    assert motions == {(-5.0, 2.0), (3.0, -4.0)}
    assert scene.frame(0).shape == (120, 160, 3) and scene.frame(0).dtype == np.uint8
