# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of lfn2_ros/ops/reference.py and lfn2_ros/ops/warp.py against brute-force definitions."""

import numpy as np
import pytest
import torch

from lfn2_ros.ops.reference import correlation_output_size, correlation_reference
from lfn2_ros.ops.warp import warp

torch.set_num_threads(1)


def brute_force_correlation(f1, f2, md, stride, dil, slope=0.1):
    """mmcv Correlation(kernel_size=1, padding=0) per pixel, leaky ReLU (docs/extension.md#definition)."""
    a, b = f1.numpy(), f2.numpy()
    n, _, h, w = a.shape
    p = 2 * md + 1
    oh, ow = -(-h // stride), -(-w // stride)
    out = np.zeros((n, p * p, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y, x = i * stride, j * stride
            for ph in range(p):
                for pw in range(p):
                    y2, x2 = y + (ph - md) * dil, x + (pw - md) * dil
                    if 0 <= y2 < h and 0 <= x2 < w:
                        out[:, ph * p + pw, i, j] = (a[:, :, y, x] * b[:, :, y2, x2]).sum(axis=1)
    return torch.from_numpy(np.where(out >= 0, out, out * slope))


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize(('stride', 'dil'), [(1, 1), (2, 2), (1, 2), (2, 1)])
def test_reference_matches_brute_force(seed, stride, dil):
    gen = torch.Generator().manual_seed(seed)
    h, w = (int(v) * 2 + 1 for v in torch.randint(2, 6, (2,), generator=gen))  # random odd sizes
    md = 2 if seed == 2 else 3
    f1 = torch.randn(2, 3, h, w, dtype=torch.float64, generator=gen)
    f2 = torch.randn(2, 3, h, w, dtype=torch.float64, generator=gen)
    got = correlation_reference(f1, f2, max_displacement=md, stride=stride, dilation_patch=dil)
    want = brute_force_correlation(f1, f2, md, stride, dil)
    out_hw = (correlation_output_size(h, stride), correlation_output_size(w, stride))
    assert got.shape == (2, (2 * md + 1) ** 2, *out_hw)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_reference_with_flow_warps_first():
    gen = torch.Generator().manual_seed(3)
    f1 = torch.randn(1, 4, 9, 11, generator=gen)
    f2 = torch.randn(1, 4, 9, 11, generator=gen)
    flow = torch.randn(1, 2, 9, 11, generator=gen) * 2
    for stride in (1, 2):
        got = correlation_reference(f1, f2, flow, stride=stride, dilation_patch=stride)
        want = correlation_reference(f1, warp(f2, flow), stride=stride, dilation_patch=stride)
        assert torch.equal(got, want)


def test_reference_shift_peak_moves_with_flow():
    # f2 is f1 moved one px to the right: the match of f1(p) is at p + (1, 0).
    gen = torch.Generator().manual_seed(4)
    f1 = torch.randn(1, 16, 9, 9, generator=gen)
    f2 = torch.zeros_like(f1)
    f2[..., 1:] = f1[..., :-1]
    corr = correlation_reference(f1, f2)
    assert int(corr[0, :, 4, 4].argmax()) == 3 * 7 + 4  # (dy, dx) = (0, +1)
    flow = torch.zeros(1, 2, 9, 9)
    flow[:, 0] = 1.0  # warp by +1 level px in x undoes the shift
    corr = correlation_reference(f1, f2, flow)
    assert int(corr[0, :, 4, 4].argmax()) == 3 * 7 + 3  # (0, 0)


def test_reference_gradients():
    gen = torch.Generator().manual_seed(5)
    f1 = torch.randn(1, 2, 5, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    f2 = torch.randn(1, 2, 5, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: correlation_reference(a, b, max_displacement=1, stride=2, dilation_patch=2), (f1, f2))


def test_reference_rejects_bad_shapes():
    with pytest.raises(ValueError, match='same shape'):
        correlation_reference(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match='flow must be'):
        correlation_reference(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 3, 4))


def test_warp_integer_shift_and_border_mask():
    x = torch.arange(2 * 4 * 5, dtype=torch.float32).view(1, 2, 4, 5)
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 1.0  # +1 px in x: out(x, y) = in(x + 1, y)
    out = warp(x, flow)
    assert torch.equal(out[..., :-1], x[..., 1:])
    assert torch.equal(out[..., -1], torch.zeros_like(out[..., -1]))  # tap outside the image -> 0
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 1] = -1.0  # -1 px in y: out(x, y) = in(x, y - 1)
    out = warp(x, flow)
    assert torch.equal(out[:, :, 1:], x[:, :, :-1])
    assert torch.equal(out[:, :, 0], torch.zeros_like(out[:, :, 0]))


def test_warp_fractional_and_partial_taps():
    x = torch.arange(6, dtype=torch.float32).view(1, 1, 1, 6) * torch.ones(1, 1, 3, 1)
    flow = torch.zeros(1, 2, 3, 6)
    flow[:, 0] = 0.25
    out = warp(x, flow)
    torch.testing.assert_close(out[..., :-1], x[..., :-1] + 0.25)  # bilinear, exact pixel centres
    assert torch.equal(out[..., -1], torch.zeros(1, 1, 3))  # a tap beyond the last column -> masked
    flow[:, 0] = -0.5
    assert torch.equal(warp(x, flow)[..., 0], torch.zeros(1, 1, 3))  # half outside -> 0, not 0.5 * value


def test_warp_zero_flow_is_identity_and_keeps_dtype():
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    out = warp(x, torch.zeros(2, 2, 5, 7, dtype=torch.float64))
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x)  # [-1, 1] normalisation round trip: equal up to rounding
    with pytest.raises(ValueError, match='flow'):
        warp(x, torch.zeros(2, 2, 5, 6, dtype=torch.float64))
