# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The shared argument types, and the Farneback baseline against zero flow."""

import argparse

import cv2
import numpy as np
import pytest

from lfn2_ros.cli_args import parse_size
from lfn2_ros.evaluation.accuracy import mean_endpoint_error
from lfn2_ros.evaluation.baselines import farneback_flow


def test_parse_size():
    assert parse_size('320x448') == (320, 448)
    assert parse_size('48X64') == (48, 64)
    for bad in ('320', '320x', 'ax4', '0x64', '1x2x3'):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)


def test_farneback_recovers_a_shift_better_than_zero_flow():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (0, 0), 2.0)
    img1, img2 = texture[8:72, 8:104], texture[8:72, 6:102]  # frame 2 shows frame 1 moved 2 px right
    gt = np.zeros((64, 96, 2), np.float32)
    gt[..., 0] = 2.0
    flow = farneback_flow(img1, img2)
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    inner = np.zeros((64, 96), bool)
    inner[16:-16, 16:-16] = True
    assert mean_endpoint_error(flow, gt, inner) < 0.25 * mean_endpoint_error(np.zeros_like(gt), gt, inner)
