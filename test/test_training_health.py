# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
from pathlib import Path

import torch

from lfn2_ros.model import build_liteflownet2, load_checkpoint
from lfn2_ros.training.health import check_model, check_state_dict, cost_volume_spread

WEIGHTS = Path(__file__).resolve().parents[1] / 'lfn2_ros' / 'weights' / 'liteflownet2_default.pth'


def _photo():
    import cv2
    import skimage.data as skimage

    img = cv2.resize(skimage.coffee()[:, :, ::-1], (256, 192))
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255.0


def _kill_level6(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(('encoder.layers.5.', 'decoder.decoders.level6.')):
                p.zero_()
    return model


def test_fresh_model_is_healthy():
    torch.manual_seed(0)
    report = check_model(build_liteflownet2('pre_M3S3R3'), _photo())
    assert report.healthy, report.summary()
    assert not report.dead and not report.collapsed and report.cost_spread > 0.1


def test_dead_level_is_found():
    torch.manual_seed(0)
    model = _kill_level6(build_liteflownet2('pre_M3S3R3'))
    report = check_model(model, _photo())
    assert not report.healthy
    assert 'encoder.layers.5.layers.0.conv.weight' in report.dead
    assert any(k.startswith('decoder.decoders.level6.NetM') for k in report.dead)
    assert report.cost_spread == 0.0
    assert report.zero_fraction > 0.1
    assert 'UNHEALTHY' in report.summary()


def test_collapsed_layer_is_found():
    state = build_liteflownet2('pre_M6S6').state_dict()
    key = 'decoder.decoders.level6.NetS.layers.1.conv.weight'
    state[key] = torch.full_like(state[key], 0.01)
    report = check_state_dict(state)
    assert report.collapsed == [key] and not report.dead


def test_fp16_state_dict_is_read():
    state = {k: v.half() for k, v in build_liteflownet2('pre_M6S6').state_dict().items()}
    assert check_state_dict(state).healthy


def test_cost_volume_varies_on_a_real_photo():
    torch.manual_seed(0)
    assert cost_volume_spread(build_liteflownet2('pre_M6S6'), _photo()) > 0.1


def test_shipped_weights_are_healthy():
    report = check_model(load_checkpoint(WEIGHTS), _photo())
    assert report.healthy, report.summary()
