# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import cv2
import numpy as np
import pytest

from lfn2_ros.evaluation.visualize import flow_to_color, make_color_wheel


def _single(u, v, max_magnitude=None):
    return flow_to_color(np.array([[[u, v]]], np.float32), max_magnitude)[0, 0]


def test_wheel_shape_and_primaries():
    wheel = make_color_wheel()
    assert wheel.shape == (55, 3)
    np.testing.assert_array_equal(wheel[0], [255, 0, 0])  # red
    np.testing.assert_array_equal(wheel[15], [255, 255, 0])  # yellow
    np.testing.assert_array_equal(wheel[21], [0, 255, 0])  # green
    np.testing.assert_array_equal(wheel[25], [0, 255, 255])  # cyan
    np.testing.assert_array_equal(wheel[36], [0, 0, 255])  # blue
    np.testing.assert_array_equal(wheel[49], [255, 0, 255])  # magenta
    assert wheel.min() >= 0 and wheel.max() <= 255


def test_zero_flow_is_white():
    img = flow_to_color(np.zeros((3, 4, 2), np.float32))
    assert img.shape == (3, 4, 3) and img.dtype == np.uint8
    assert (img == 255).all()


def test_centre_of_radial_field_is_white():
    ys, xs = np.mgrid[-5:6, -5:6].astype(np.float32)
    img = flow_to_color(np.dstack([xs, ys]))
    assert (img[5, 5] == 255).all()
    assert img[0, 0].min() < 200  # corners saturated


def test_directions_have_distinct_hues():
    colours = {name: _single(u, v) for name, (u, v) in
               {'right': (1, 0), 'left': (-1, 0), 'down': (0, 1), 'up': (0, -1)}.items()}
    hues = {name: int(cv2.cvtColor(c[None, None], cv2.COLOR_BGR2HSV)[0, 0, 0]) for name, c in colours.items()}
    assert len(set(hues.values())) == 4
    # BGR output: rightward motion is red, leftward cyan (Middlebury convention).
    b, g, r = colours['right']
    assert r == 255 and g < 10 and b < 10
    b, g, r = colours['left']
    assert r < 10 and g > 150 and b == 255


def test_magnitude_controls_saturation():
    weak = _single(1, 0, max_magnitude=4)
    strong = _single(4, 0, max_magnitude=4)
    beyond = _single(8, 0, max_magnitude=4)
    assert weak[1] > strong[1]  # less saturated (more green/blue) at low magnitude
    assert beyond[2] < strong[2]  # dimmed beyond the normalising magnitude


def test_nan_and_unknown_are_black():
    flow = np.ones((2, 3, 2), np.float32)
    flow[0, 0, 0] = np.nan
    flow[1, 2, 1] = 1e10
    img = flow_to_color(flow)
    assert (img[0, 0] == 0).all() and (img[1, 2] == 0).all()
    assert (img[0, 1] > 0).any()


def test_bad_shape():
    with pytest.raises(ValueError, match=r'\(H, W, 2\)'):
        flow_to_color(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match='max_magnitude'):
        flow_to_color(np.zeros((3, 3, 2), np.float32), max_magnitude=0)
