# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""lfn2_ros.processing: the input-size rule, normalisation and the flow post-processing of mmflow."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lfn2_ros import processing


def test_network_input_size_rounds_each_side_up():
    assert processing.network_input_size(50, 70, 6) == (64, 128)
    assert processing.network_input_size(64, 128, 6) == (64, 128)
    assert processing.network_input_size(40, 60, 4) == (48, 64)


def test_check_input_size_needs_every_decoded_level_even():
    processing.check_input_size(64, 96, 3)
    processing.check_input_size(48, 48, 6)  # only level 6 is decoded: no constraint
    # 48: level 5 is 3 px, odd; the hint names the next multiple of 32.
    with pytest.raises(ValueError, match=r'48x64 is not supported.*level 5 would be 3x4.*64x64'):
        processing.check_input_size(48, 64, 3)
    for height in range(1, 80):
        odd = any(processing.level_size(height, level) % 2 for level in range(3, 6))
        if odd:
            with pytest.raises(ValueError):
                processing.check_input_size(height, 64, 3)
        else:
            processing.check_input_size(height, 64, 3)


def test_normalise_is_mmcv_float64_division_rounded():
    values = np.arange(256, dtype=np.uint8)
    mmcv = (values.astype(np.float64) / 255.0).astype(np.float32)
    np.testing.assert_array_equal(processing.normalise(values), mmcv)
    np.testing.assert_array_equal(processing.normalisation_table(), mmcv)
    assert processing.normalisation_table().dtype == np.float32


def test_end_level_flow_px_upsamples_and_scales():
    end = torch.randn(2, 2, 4, 6, generator=torch.Generator().manual_seed(0))
    flow = processing.end_level_flow_px({'level3': end}, 3, 20.0, (16, 24))
    expected = F.interpolate(end, size=(16, 24), mode='bilinear', align_corners=False) * 20.0
    assert torch.equal(flow, expected)
    with pytest.raises(RuntimeError, match='level2'):
        processing.end_level_flow_px({'level3': end}, 2, 20.0, (16, 24))


def test_flow_to_image_size_divides_by_float32_scale():
    flow = np.random.default_rng(0).standard_normal((64, 128, 2)).astype(np.float32)
    out = processing.flow_to_image_size(flow, (50, 70))
    resized = cv2.resize(flow, (70, 50), interpolation=cv2.INTER_LINEAR)
    assert out.shape == (50, 70, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 0], resized[..., 0] / np.float32(128 / 70))
    np.testing.assert_array_equal(out[..., 1], resized[..., 1] / np.float32(64 / 50))
    same = processing.flow_to_image_size(flow, (64, 128))
    np.testing.assert_array_equal(same, flow)


def test_resize_to_network_is_cv2_bilinear_on_uint8():
    image = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    assert processing.resize_to_network(image, (50, 70)) is image
    np.testing.assert_array_equal(processing.resize_to_network(image, (64, 128)),
                                  cv2.resize(image, (128, 64), interpolation=cv2.INTER_LINEAR))
