# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of lfn2_ros/model/upsample.py: the fixed x2 kernel of docs/model.md#fixed-upsampling-kernel."""

import torch

from lfn2_ros.model.upsample import FixedUpsample, upsampling_kernel

torch.set_num_threads(1)

SPEC_TABLE = torch.tensor([
    [0.062500, 0.281250, 0.375000, 0.156250],
    [0.187500, 0.656250, 0.750000, 0.218750],
    [0.187500, 0.468750, 0.375000, 0.093750],
    [0.062500, 0.093750, 0.000000, -0.031250],
])


def test_kernel_equals_spec_table():
    kernel = upsampling_kernel(3)
    assert kernel.shape == (3, 1, 4, 4)
    assert kernel.dtype == torch.float32
    for channel in range(3):
        assert torch.equal(kernel[channel, 0], SPEC_TABLE)
    assert float(kernel[0].sum()) == 3.9375


def test_kernel_is_not_the_separable_bilinear_filter():
    separable = torch.outer(torch.tensor([0.25, 0.75, 0.75, 0.25]), torch.tensor([0.25, 0.75, 0.75, 0.25]))
    assert not torch.equal(upsampling_kernel(1)[0, 0], separable)


def test_upsample_doubles_size_and_constant_field_phases():
    up = FixedUpsample(channels=2)
    out = up(torch.ones(1, 2, 5, 6))
    assert out.shape == (1, 2, 10, 12)
    interior = out[0, 0, 2:8, 2:10]
    # the four stride phases of the kernel sum to 1, 1, 1, 0.9375 (docs/model.md#fixed-upsampling-kernel)
    assert sorted({round(float(v), 6) for v in interior.flatten()}) == [0.9375, 1.0]


def test_kernel_is_a_persistent_buffer():
    up = FixedUpsample(channels=49)
    assert list(up.state_dict()) == ['weight']
    assert list(up.parameters()) == []
    assert up.state_dict()['weight'].shape == (49, 1, 4, 4)


def test_upsample_keeps_dtype():
    out = FixedUpsample(channels=2)(torch.ones(1, 2, 3, 3, dtype=torch.float64))
    assert out.dtype == torch.float64
