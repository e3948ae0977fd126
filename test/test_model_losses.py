# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of lfn2_ros/model/losses.py (docs/model.md#training)."""

import math

import pytest
import torch
import torch.nn.functional as F

from lfn2_ros.model import build_liteflownet2
from lfn2_ros.model.losses import (
    MultiLevelCharbonnier,
    MultiLevelEPE,
    build_loss,
    charbonnier,
    endpoint_error,
)

torch.set_num_threads(1)


def constant_flow(batch, h, w, u, v):
    flow = torch.empty(batch, 2, h, w)
    flow[:, 0], flow[:, 1] = u, v
    return flow


def test_endpoint_error_and_charbonnier_maps():
    pred = torch.zeros(2, 2, 3, 4)
    target = constant_flow(2, 3, 4, 3.0, 4.0)
    assert torch.equal(endpoint_error(pred, target), torch.full((2, 3, 4), 5.0))
    assert torch.equal(endpoint_error(pred, target, p=1), torch.full((2, 3, 4), 7.0))
    torch.testing.assert_close(charbonnier(pred, target), torch.full((2, 3, 4), (25.0 + 0.01) ** 0.2))
    with pytest.raises(ValueError, match='does not match'):
        endpoint_error(pred, target[:, :, :2])


def test_multilevel_epe_value():
    # GT (3, 4) px -> 0.25 normalised EPE per pixel; sum over pixels / batch, weighted per level.
    loss = MultiLevelEPE(level_weights={'level6': 0.32, 'level5': 0.08})
    preds = {'level6': torch.zeros(2, 2, 2, 3), 'level5': torch.zeros(2, 2, 4, 6)}
    value = loss(preds, constant_flow(2, 64, 96, 3.0, 4.0))
    torch.testing.assert_close(value, torch.tensor(0.25 * 6 * 0.32 + 0.25 * 24 * 0.08))


def test_multilevel_epe_downsamples_gt_and_mask():
    target = torch.randn(1, 2, 8, 8) * 10
    valid = torch.ones(1, 8, 8)
    valid[:, :4] = 0  # top half invalid
    loss = MultiLevelEPE(level_weights={'level4': 1.0})
    pred = F.adaptive_avg_pool2d(target / 20.0, [2, 2])
    pred[:, :, 1] += 1.0  # error only where valid
    expected = math.sqrt(2.0) * 2  # two valid pixels (bottom row) with error sqrt(1 + 1)
    torch.testing.assert_close(loss({'level4': pred}, target, valid), torch.tensor(expected))
    # adaptive max pooling: a level pixel with any valid GT pixel counts
    valid_sparse = torch.zeros(1, 8, 8)
    valid_sparse[0, 0, 0] = 1
    torch.testing.assert_close(loss({'level4': pred}, target, valid_sparse), torch.tensor(0.0))


def test_level0_is_upsampled_end_level():
    loss = MultiLevelEPE(level_weights={'level3': 0.01, 'level0': 6.25e-4})
    target = constant_flow(1, 16, 16, 2.0, 0.0)
    pred = constant_flow(1, 4, 4, 0.1, 0.0)  # exactly GT / 20 -> zero loss at both levels
    assert float(loss({'level3': pred}, target)) == pytest.approx(0.0, abs=1e-7)
    pred = torch.zeros(1, 2, 4, 4)
    want = 0.1 * 16 * 0.01 + 0.1 * 256 * 6.25e-4
    torch.testing.assert_close(loss({'level3': pred}, target), torch.tensor(want))


def test_charbonnier_upsamples_predictions():
    loss = MultiLevelCharbonnier(level_weights={'level6': 0.32})
    target = constant_flow(2, 8, 8, 20.0, 0.0)  # 1.0 normalised
    pred = torch.zeros(2, 2, 2, 2)
    want = (1.0 + 0.01) ** 0.2 * 64 * 0.32  # per image: 64 full-size pixels; / batch
    torch.testing.assert_close(loss({'level6': pred}, target), torch.tensor(want))
    valid = torch.zeros(2, 8, 8)
    valid[:, 0, 0] = 1.0
    torch.testing.assert_close(loss({'level6': pred}, target, valid), torch.tensor((1.01 ** 0.2) * 0.32))


def test_build_loss_per_variant():
    assert isinstance(build_loss('pre_M6S6'), MultiLevelEPE)
    assert isinstance(build_loss('things'), MultiLevelEPE)
    kitti = build_loss('kitti')
    assert isinstance(kitti, MultiLevelCharbonnier)
    assert (kitti.q, kitti.eps, kitti.resize_flow, kitti.reduction) == (0.2, 0.01, 'upsample', 'sum')
    assert build_loss('sintel_kitti').level_weights['level0'] == 6.25e-4
    assert 'level0' not in build_loss('pre_M4S4R4').level_weights
    epe = build_loss('pre_M3S3R3')
    assert (epe.p, epe.resize_flow, epe.reduction, epe.flow_div) == (2, 'downsample', 'sum', 20.0)


def test_missing_level_is_an_error():
    with pytest.raises(ValueError, match='lack weighted levels'):
        loss = MultiLevelEPE(level_weights={'level5': 1.0})
        loss({'level6': torch.zeros(1, 2, 1, 1)}, torch.zeros(1, 2, 32, 32))


@pytest.mark.parametrize('alias', ['pre_M6S6', 'pre_M6S6R6', 'kitti', 'things'])
def test_gradients_reach_every_parameter(alias):
    torch.manual_seed(0)
    model = build_liteflownet2(alias).train()
    img1, img2 = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    target = torch.randn(1, 2, 64, 64) * 4
    loss = build_loss(alias)(model(img1, img2), target, torch.ones(1, 64, 64))
    loss.backward()
    assert torch.isfinite(loss)
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert dead == []
