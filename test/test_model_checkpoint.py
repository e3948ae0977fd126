# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of lfn2_ros/model/checkpoint.py: strict mmflow-format loading and every error message."""

import collections
import json
import os
from pathlib import Path

import pytest
import torch

from lfn2_ros.model import (
    CheckpointError,
    build_liteflownet2,
    detect_variant,
    load_checkpoint,
    save_checkpoint,
)
from lfn2_ros.model.upsample import upsampling_kernel

torch.set_num_threads(1)

KEYS_DIR = Path(__file__).parent / 'data' / 'mmflow_keys'


def mmflow_state(name, seed=0):
    """A state dict with mmflow's keys, order and shapes (from the stored JSON) and random values."""
    gen = torch.Generator().manual_seed(seed)
    keys = json.loads((KEYS_DIR / f'{name}.json').read_text())
    state = collections.OrderedDict()
    for key, shape in keys.items():
        if key.endswith(('upflow_layer.weight', 'corr_up.weight')):
            state[key] = upsampling_kernel(shape[0])
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.01
    return state


def write_mmflow(path, state, **meta):
    torch.save({'state_dict': state, 'meta': {'mmcv_version': '1.7.2', **meta}}, path)
    return path


FULL = 'liteflownet2_pre_M3S3R3_8x1_flyingchairs_320x448'
SMALL = 'liteflownet2_pre_M6S6R6_8x1_flyingchairs_320x448'


def assert_loaded(model, state):
    loaded = model.state_dict()
    assert list(loaded) == list(build_liteflownet2(model.variant).state_dict())
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_strict_load_with_buffer_keys(tmp_path):
    state = mmflow_state(FULL)
    model = load_checkpoint(write_mmflow(tmp_path / 'ckpt.pth', state))
    assert model.variant.alias == 'pre_M3S3R3'
    assert not model.training
    assert_loaded(model, state)


def test_load_without_buffer_keys_regenerates_them(tmp_path):
    state = mmflow_state(FULL)
    stripped = collections.OrderedDict(
        (k, v) for k, v in state.items() if not k.endswith(('upflow_layer.weight', 'corr_up.weight')))
    assert len(stripped) == len(state) - 4
    model = load_checkpoint(write_mmflow(tmp_path / 'ckpt.pth', stripped))
    assert_loaded(model, state)  # buffers: docs/model.md#fixed-upsampling-kernel


def test_module_prefix_and_bare_state_dict(tmp_path):
    state = mmflow_state(SMALL)
    prefixed = collections.OrderedDict(('module.' + k, v) for k, v in state.items())
    write_mmflow(tmp_path / 'ddp.pth', prefixed)
    assert_loaded(load_checkpoint(tmp_path / 'ddp.pth'), state)
    torch.save(state, tmp_path / 'bare.pth')
    model = load_checkpoint(str(tmp_path / 'bare.pth'))
    assert model.variant.alias == 'pre_M6S6R6'
    assert_loaded(model, state)


@pytest.mark.parametrize('name', sorted(p.stem for p in KEYS_DIR.glob('*.json')))
def test_detect_variant_from_keys(name):
    keys = json.loads((KEYS_DIR / f'{name}.json').read_text())
    variant = detect_variant(dict.fromkeys(keys, torch.zeros(1)))
    reference = build_liteflownet2(name).variant
    assert (variant.end_level, variant.regularized_end) == (reference.end_level, reference.regularized_end)


def test_full_variant_refined_from_file_name_and_meta(tmp_path):
    state = mmflow_state(FULL)
    path = write_mmflow(tmp_path / 'liteflownet2_ft_4x1_600k_sintel_kitti_320x768_20211014-abc.pth', state)
    assert load_checkpoint(path).variant.alias == 'sintel_kitti'
    path = write_mmflow(tmp_path / 'weights.pth', state, exp_name='liteflownet2_ft_4x1_500k_kitti_320x896.py')
    assert load_checkpoint(path).variant.alias == 'kitti'
    assert load_checkpoint(path, variant='things').variant.alias == 'things'


def test_save_and_load_round_trip(tmp_path):
    model = build_liteflownet2('sintel_kitti')
    path = tmp_path / 'sub' / 'ours.pth'
    save_checkpoint(model, path, meta={'note': 'test', 'iter': 3})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {'state_dict', 'meta'}
    assert raw['meta']['variant'] == 'liteflownet2_ft_4x1_600k_sintel_kitti_320x768'
    assert raw['meta']['note'] == 'test'
    loaded = load_checkpoint(path)
    assert loaded.variant.alias == 'sintel_kitti'
    assert_loaded(loaded, model.state_dict())


def test_error_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match='checkpoint file not found: .*nothing.pth'):
        load_checkpoint(tmp_path / 'nothing.pth')


def test_error_text_file(tmp_path):
    path = tmp_path / 'notes.pth'
    path.write_text('this is not a checkpoint\n')
    with pytest.raises(CheckpointError, match='not a readable PyTorch checkpoint .*liteflownet2_') as info:
        load_checkpoint(path)
    assert info.value.__cause__ is None and info.value.__suppress_context__


class Opaque:
    """A pickled object that weights_only refuses."""


def test_error_pickle_with_objects(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'state_dict': {'a': torch.zeros(1)}, 'model': Opaque()}, path)
    with pytest.raises(CheckpointError, match='weights_only=True\\) refuses') as info:
        load_checkpoint(path)
    assert 'Opaque' in str(info.value)  # the cause, not torch's advice to turn the check off
    assert 'will likely succeed' not in str(info.value)


class RunsCode:
    """A payload that would run a shell command if unpickled without weights_only."""

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_error_pickle_that_runs_code_names_the_global(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': RunsCode()}, path)
    with pytest.raises(CheckpointError, match='refusing to load') as info:
        load_checkpoint(path)
    assert 'system' in str(info.value) and 'will likely succeed' not in str(info.value)


def test_error_random_bytes_and_directory(tmp_path):
    path = tmp_path / 'noise.pth'
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(CheckpointError, match='is not a (readable )?PyTorch checkpoint'):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match='is a directory'):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_weights_are_rejected(tmp_path, bad):
    model = build_liteflownet2('pre_M6S6')
    state = model.state_dict()
    key = 'decoder.decoders.level6.NetM.pred_flow.weight'
    state[key].view(-1)[3] = bad
    torch.save({'state_dict': state}, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match=f'{key} has 1 non-finite values'):
        load_checkpoint(tmp_path / 'bad.pth')


def test_error_not_a_state_dict(tmp_path):
    torch.save({'epoch': 3, 'lr': 0.1}, tmp_path / 'plain.pth')
    with pytest.raises(CheckpointError, match='not a state dict'):
        load_checkpoint(tmp_path / 'plain.pth')
    torch.save([torch.zeros(1)], tmp_path / 'list.pth')
    with pytest.raises(CheckpointError, match='holds a list, not a checkpoint'):
        load_checkpoint(tmp_path / 'list.pth')


def test_error_other_model(tmp_path):
    torch.save({'state_dict': {'fnet.conv1.weight': torch.zeros(1)}}, tmp_path / 'raft.pth')
    with pytest.raises(CheckpointError, match='does not look like an mmflow LiteFlowNet2'):
        load_checkpoint(tmp_path / 'raft.pth')


def test_error_other_variant(tmp_path):
    path = write_mmflow(tmp_path / 'ckpt.pth', mmflow_state(SMALL))
    message = "looks like a pre_M6S6R6 checkpoint.*not kitti.*variant='pre_M6S6R6'"
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path, variant='kitti')
    with pytest.raises(CheckpointError, match='unknown LiteFlowNet2 variant'):
        load_checkpoint(path, variant='raft')


def test_error_missing_and_unexpected_keys(tmp_path):
    state = mmflow_state(SMALL)
    del state['decoder.decoders.level6.NetS.pred_flow.bias']
    state['decoder.decoders.level6.NetS.extra.weight'] = torch.zeros(1)
    write_mmflow(tmp_path / 'ckpt.pth', state)
    message = (r'1 missing keys: decoder\.decoders\.level6\.NetS\.pred_flow\.bias; '
               r'1 unexpected keys: decoder\.decoders\.level6\.NetS\.extra\.weight')
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / 'ckpt.pth')


def test_error_shape_mismatch(tmp_path):
    state = mmflow_state(SMALL)
    state['decoder.decoders.level6.NetM.pred_flow.weight'] = torch.zeros(2, 32, 5, 5)
    write_mmflow(tmp_path / 'ckpt.pth', state)
    message = (r'shape mismatch for decoder\.decoders\.level6\.NetM\.pred_flow\.weight: '
               r'expected \(2, 32, 3, 3\), got \(2, 32, 5, 5\)')
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / 'ckpt.pth')


def test_checkpoint_error_is_value_error():
    assert issubclass(CheckpointError, ValueError)


def test_ambiguous_full_model_warns_and_names_the_siblings(tmp_path):
    import warnings as _warnings

    from lfn2_ros.model import build_liteflownet2, load_checkpoint

    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': build_liteflownet2('kitti').state_dict()}, path)
    with pytest.warns(UserWarning, match='sintel_kitti'):
        assert load_checkpoint(path).variant.alias == 'pre_M3S3R3'
    with _warnings.catch_warnings():
        _warnings.simplefilter('error')
        assert load_checkpoint(path, variant='sintel_kitti').variant.alias == 'sintel_kitti'
