# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fine-tuning surgery: revived dead units, levels trained alone, later stages keeping the init's levels."""

import numpy as np
import pytest
import torch

from lfn2_ros.default_weights import default_weights_path
from lfn2_ros.io.photos import load_photo
from lfn2_ros.model import build_liteflownet2
from lfn2_ros.model.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from lfn2_ros.model.liteflownet2 import init_weights
from lfn2_ros.training.config import StageConfig, TrainConfig
from lfn2_ros.training.health import check_state_dict
from lfn2_ros.training.metrics import predict_flow
from lfn2_ros.training.motion import PairConfig
from lfn2_ros.training.surgery import freeze_except, parse_trainable, reinit_dead_units
from lfn2_ros.training.trainer import make_optimizer, run_training

# The conv layers that were exactly zero in the v1 default weights: the level-6 encoder, the
# level-6 NetM, NetS and NetR, and level-5 NetS layers 0-2. The shipped v2 weights are healthy, so the
# tests kill the same layers in them to get trained weights with v1's dead units.
V1_DEAD_CONVS = (
    'encoder.layers.5.layers.0.conv', 'decoder.decoders.level5.NetS.layers.0.conv',
    'decoder.decoders.level5.NetS.layers.1.conv', 'decoder.decoders.level5.NetS.layers.2.conv',
    'decoder.decoders.level6.NetM.layers.1.conv', 'decoder.decoders.level6.NetS.layers.0.conv',
    'decoder.decoders.level6.NetS.layers.1.conv', 'decoder.decoders.level6.NetS.layers.2.conv',
    'decoder.decoders.level6.NetR.layers.0.conv', 'decoder.decoders.level6.NetR.layers.1.conv',
)


@pytest.fixture
def dead_weights(tmp_path):
    """The shipped weights with v1's dead conv layers zeroed, as a checkpoint file."""
    model = load_checkpoint(default_weights_path()).float()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.rsplit('.', 1)[0] in V1_DEAD_CONVS:
                param.zero_()
    path = tmp_path / 'dead_levels.pth'
    save_checkpoint(model, path)
    return path


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    photo = load_photo('astronaut')

    def crop(y: int, x: int) -> torch.Tensor:
        window = np.ascontiguousarray(photo[y:y + 128, x:x + 160])
        return torch.from_numpy(window).permute(2, 0, 1)[None] / 255.0

    return crop(0, 0).float(), crop(3, 6).float()


@torch.no_grad()
def test_revived_units_start_near_the_loaded_output(dead_weights):
    img1, img2 = _pair()
    shipped = load_checkpoint(dead_weights).float().eval()
    dead_before = check_state_dict(shipped.state_dict()).dead
    assert dead_before, 'the fixture has dead convs (docs/model.md#fine-tuning-surgery)'
    before = predict_flow(shipped, img1, img2)
    revived = load_checkpoint(dead_weights).float().eval()
    units = reinit_dead_units(revived)
    assert 'decoder.decoders.level6.NetM' in units and 'encoder.layers.5' in units
    # what is still zero is the revived units' flow heads, which the first step makes non-zero
    assert set(check_state_dict(revived.state_dict()).dead) == {
        f'{u}.pred_flow.weight' for u in units if u.endswith(('NetM', 'NetS'))}
    change = float((predict_flow(revived, img1, img2) - before).abs().mean())
    # the baseline: the same units re-initialised without zeroing their flow heads
    plain = load_checkpoint(dead_weights).float().eval()
    modules = dict(plain.named_modules())
    for name in units:
        init_weights(modules[name])
    plain_change = float((predict_flow(plain, img1, img2) - before).abs().mean())
    assert change < plain_change / 2


def test_reinit_leaves_a_healthy_model_alone():
    model = build_liteflownet2('pre_M5S5R5')
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert reinit_dead_units(model) == []
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_freeze_except_trains_only_the_chosen_levels():
    model = build_liteflownet2('pre_M6S6R6')
    prefixes = parse_trainable('level6')
    count = freeze_except(model, prefixes)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == count and all(n.startswith(prefixes) for n in trainable)
    assert any(n.startswith('encoder.layers.5.') for n in trainable)
    assert not any(n.startswith('encoder.layers.4.') for n in trainable)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    cfg = TrainConfig(out_dir='unused', stages=[], weight_decay=0.5)
    optimizer = make_optimizer(model, cfg, 1e-2)
    assert sum(len(g['params']) for g in optimizer.param_groups) == count
    out = model(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96))
    out['level6'].square().mean().backward()
    optimizer.step()  # decoupled weight decay would shrink a frozen weight if the optimizer held it
    assert all(torch.equal(frozen[n], p) for n, p in model.named_parameters() if n in frozen)
    assert parse_trainable('all') is None
    assert parse_trainable('level5+level6') == ('encoder.layers.4.', 'decoder.decoders.level5.',
                                                'encoder.layers.5.', 'decoder.decoders.level6.')
    for bad in ('level7', 'coarse', 'level6+'):
        with pytest.raises(ValueError):
            parse_trainable(bad)


@pytest.mark.slow
def test_a_coarse_stage_then_the_full_model_keeps_the_init_levels(tmp_path, dead_weights):
    """pre_M6S6R6 has no level 3-5 decoders; the full-model stage after it must get them from --init."""
    init_state = read_checkpoint(dead_weights)[0]
    stages = [StageConfig('pre_M6S6R6', 1, 1e-4, (64, 96), 1, trainable=parse_trainable('level6')),
              StageConfig('pre_M3S3R3', 1, 1e-12, (64, 96), 1)]
    cfg = TrainConfig(out_dir=tmp_path, stages=stages, init=dead_weights, reinit_dead=True,
                      val_count=0, progress=False, use_photos=False,
                      data=PairConfig(obj_count=(0, 1), max_translation_px=8.0, typical_translation_px=2.0))
    final_state = read_checkpoint(run_training(cfg))[0]
    key = 'decoder.decoders.level3.NetM.pred_flow.weight'
    torch.testing.assert_close(final_state[key], init_state[key].float(), rtol=1e-4, atol=1e-6)
    first = read_checkpoint(tmp_path / 'pre_M6S6R6' / 'final.pth')[0]
    # the encoder below level 6 stayed frozen in the first stage
    torch.testing.assert_close(first['encoder.layers.4.layers.0.conv.weight'],
                               init_state['encoder.layers.4.layers.0.conv.weight'].float())
    # after one step at lr 1e-12 only the zeroed flow head of the revived level-5 NetS is still zero
    assert check_state_dict(final_state).dead == ['decoder.decoders.level5.NetS.pred_flow.weight']
