# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of lfn2_ros/model/variants.py and the module layout: keys and shapes equal mmflow's."""

import json
from pathlib import Path

import pytest
import torch

from lfn2_ros.model import VARIANTS, Variant, build_liteflownet2, get_variant

torch.set_num_threads(1)

KEYS_DIR = Path(__file__).parent / 'data' / 'mmflow_keys'

# docs/model.md#variants: state_dict keys and learned parameters per config
SPEC_COUNTS = {
    'pre_M6S6': (44, 1_725_156),
    'pre_M6S6R6': (58, 2_238_541),
    'pre_M5S5R5': (97, 3_697_466),
    'pre_M4S4R4': (140, 5_101_701),
    'pre_M3S3R3': (184, 6_428_112),
    'things': (184, 6_428_112),
    'sintel_kitti': (184, 6_428_112),
    'kitti': (184, 6_428_112),
}


@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_state_dict_equals_mmflow_keys(name):
    expected = json.loads((KEYS_DIR / f'{name}.json').read_text())
    state = build_liteflownet2(name).state_dict()
    assert list(state) == list(expected)  # same keys in the same order
    for key, shape in expected.items():
        assert list(state[key].shape) == shape, key
        assert state[key].dtype == torch.float32


@pytest.mark.parametrize('alias', sorted(SPEC_COUNTS))
def test_parameter_counts(alias):
    model = build_liteflownet2(alias)
    keys, params = SPEC_COUNTS[alias]
    assert len(model.state_dict()) == keys
    assert sum(p.numel() for p in model.parameters()) == params
    assert sum(p.numel() for p in model.encoder.parameters()) == 558_432


def test_unit_parameter_counts():
    levels = build_liteflownet2('kitti').decoder.decoders

    def count(module):
        return sum(p.numel() for p in module.parameters())

    def counts(unit, lvls=(3, 4, 5, 6)):
        return [count(levels[f'level{lv}'][unit]) for lv in lvls]

    assert counts('NetM') == [390_274, 390_274, 389_250, 389_250]
    assert counts('NetS') == [483_586, 557_314, 630_018, 777_474]
    assert counts('NetR') == [444_231, 444_231, 439_657, 513_385]
    assert counts('rfeat_layer', (3, 4)) == [8_320, 12_416]


def test_buffers_per_variant():
    expected = {'pre_M6S6': 0, 'pre_M6S6R6': 0, 'pre_M5S5R5': 32, 'pre_M4S4R4': 64, 'kitti': 880}
    for alias, values in expected.items():
        assert sum(b.numel() for b in build_liteflownet2(alias).buffers()) == values


def test_variant_table():
    assert len(VARIANTS) == 8
    aliases = [v.alias for v in VARIANTS.values()]
    assert aliases == ['pre_M6S6', 'pre_M6S6R6', 'pre_M5S5R5', 'pre_M4S4R4', 'pre_M3S3R3', 'things',
                       'sintel_kitti', 'kitti']
    for v in VARIANTS.values():
        assert v.input_exponent == (4 if v.alias == 'sintel_kitti' else 6)
        assert v.loss == ('charbonnier' if v.alias in ('sintel_kitti', 'kitti') else 'epe')
        assert v.flow_div == 20.0
        assert v.regularized_end == (v.alias != 'pre_M6S6')
        assert v.extra_training_loss == (v.end_level == 3)
    assert dict(get_variant('pre_M5S5R5').level_weights) == {'level6': 0.32, 'level5': 0.08}
    assert dict(get_variant('things').level_weights) == {
        'level6': 0.32, 'level5': 0.08, 'level4': 0.02, 'level3': 0.01, 'level0': 6.25e-4}
    assert [get_variant(a).end_level for a in aliases] == [6, 6, 5, 4, 3, 3, 3, 3]


def test_get_variant_lookup():
    kitti = get_variant('kitti')
    assert isinstance(kitti, Variant)
    assert get_variant('liteflownet2_ft_4x1_500k_kitti_320x896') is kitti
    assert get_variant('KITTI') is kitti
    assert get_variant('liteflownet2_ft_4x1_500k_kitti_320x896.py') is kitti
    assert get_variant(kitti) is kitti
    assert get_variant('pre_m3s3r3').alias == 'pre_M3S3R3'
    with pytest.raises(ValueError, match='unknown LiteFlowNet2 variant .*sintel_kitti'):
        get_variant('raft')
    with pytest.raises(TypeError):
        get_variant(3)
    assert hash(kitti) == hash(get_variant('kitti'))
