# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import csv
import math

import numpy as np
import pytest
import torch

from lfn2_ros.model import build_liteflownet2, load_checkpoint
from lfn2_ros.model.checkpoint import read_checkpoint
from lfn2_ros.train import main
from lfn2_ros.training.config import StageConfig, TrainConfig, stage_names
from lfn2_ros.training.motion import PairConfig
from lfn2_ros.training.trainer import load_matching, make_optimizer, run_training, zero_flow_heads

CROP = (64, 96)
SMALL = PairConfig(obj_count=(0, 2), max_translation_px=8.0, typical_translation_px=2.0)


def _cfg(tmp_path, stages, **kwargs):
    kwargs.setdefault('val_count', 1)
    kwargs.setdefault('val_size', CROP)
    kwargs.setdefault('data', SMALL)
    kwargs.setdefault('use_photos', False)
    return TrainConfig(out_dir=tmp_path, stages=stages, log_every=1, val_every=2, checkpoint_every=1,
                       progress=False, **kwargs)


def _rows(tmp_path):
    with (tmp_path / 'log.csv').open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_two_stages_run_and_write_log(tmp_path):
    stages = [StageConfig('pre_M6S6', 2, 1e-4, CROP, 2), StageConfig('pre_M5S5R5', 2, 1e-4, CROP, 2)]
    final = run_training(_cfg(tmp_path, stages))
    assert final == tmp_path / 'pre_M5S5R5' / 'final.pth'
    rows = _rows(tmp_path)
    assert [r['stage'] for r in rows] == ['pre_M6S6'] * 2 + ['pre_M5S5R5'] * 2
    assert [int(r['global_step']) for r in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(float(r['loss'])) and float(r['loss']) > 0 for r in rows)
    assert rows[-1]['val_epe'] and math.isfinite(float(rows[-1]['val_epe']))
    assert rows[-1]['health'] == 'ok'
    # every level of the stage's architecture gets gradient
    assert all(float(rows[-1][f'grad_L{level}']) > 0 for level in range(1, 7))
    assert (tmp_path / 'training.png').stat().st_size > 0
    assert load_checkpoint(final).variant.alias == 'pre_M5S5R5'
    assert load_checkpoint(tmp_path / 'pre_M6S6' / 'final.pth').variant.alias == 'pre_M6S6'


def _state(path):
    return read_checkpoint(path)[0]


def test_resume_equals_running_straight_through(tmp_path):
    stage = [StageConfig('pre_M5S5R5', 4, 1e-4, CROP, 2)]
    straight = run_training(_cfg(tmp_path / 'a', stage, val_count=0))
    # the same run in two sessions of 2 and 2 steps
    assert run_training(_cfg(tmp_path / 'b', stage, val_count=0, max_steps=2)) is None
    meta = read_checkpoint(tmp_path / 'b' / 'pre_M5S5R5' / 'latest.pth')[1]
    assert meta['iteration'] == 2 and meta['data_index'] == 2
    resumed = run_training(_cfg(tmp_path / 'b', stage, val_count=0))
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert [r['loss'] for r in _rows(tmp_path / 'a')] == [r['loss'] for r in _rows(tmp_path / 'b')]


def test_finished_stage_is_skipped(tmp_path):
    stages = [StageConfig('pre_M6S6', 2, 1e-4, CROP, 1)]
    final = run_training(_cfg(tmp_path, stages, val_count=0))
    assert run_training(_cfg(tmp_path, [StageConfig('pre_M6S6', 5, 1e-4, CROP, 1)], val_count=0)) == final
    assert len(_rows(tmp_path)) == 2


def test_load_matching_is_non_strict():
    coarse = build_liteflownet2('pre_M6S6R6')
    full = build_liteflownet2('pre_M3S3R3')
    loaded, total = load_matching(full, coarse.state_dict())
    assert 0 < loaded < total
    key = 'encoder.layers.0.layers.0.conv.weight'
    torch.testing.assert_close(full.state_dict()[key], coarse.state_dict()[key])


def test_coupled_decay_kills_an_unused_weight_and_decoupled_does_not(tmp_path):
    # a weight with no loss gradient: Adam normalises the coupled L2 gradient, so it shrinks by ~lr per
    # step whatever the decay factor; AdamW shrinks it by the factor (1 - lr * wd) per step
    steps, lr = 300, 1e-3
    left = {}
    for decoupled in (False, True):
        model = torch.nn.Linear(1, 1)
        torch.nn.init.constant_(model.weight, 0.2)
        cfg = TrainConfig(out_dir=tmp_path, stages=[], decoupled_decay=decoupled, weight_decay=4e-4)
        opt = make_optimizer(model, cfg, lr)
        for _ in range(steps):
            opt.zero_grad()
            (model.bias * 0.0 + model.weight.sum() * 0.0).backward()
            opt.step()
        left[decoupled] = float(model.weight.detach().abs().max())
    assert left[False] < 0.2 * 0.1
    assert left[True] > 0.2 * 0.99


@pytest.mark.slow
def test_cli_runs_and_exports(tmp_path):
    out = tmp_path / 'run'
    rc = main(['--out', str(out), '--stages', 'pre_M6S6', '--iters', '2', '--crop', '64x96', '--batch', '1',
               '--val-count', '1', '--val-size', '64x96', '--no-progress', '--no-photos',
               '--max-motion', '8', '--export', str(tmp_path / 'w.pth')])
    assert rc == 0
    assert [r['iteration'] for r in _rows(out)] == ['2']  # --log-every 10: the last iteration is logged
    model = load_checkpoint(tmp_path / 'w.pth')
    assert model.variant.alias == 'pre_M6S6'
    meta = read_checkpoint(tmp_path / 'w.pth')[1]
    assert meta['name'] == 'lfn2_ros_default_v4' and 'LiteFlowNet2' in meta['architecture']
    assert meta['dtype'] in ('float16', 'float32')


def test_cli_session_budget_stops_and_resumes(tmp_path, capsys):
    argv = ['--out', str(tmp_path), '--stages', 'pre_M6S6', '--iters', '3', '--crop', '64x96', '--batch', '1',
            '--val-count', '0', '--no-photos', '--log-every', '1', '--num-threads', '1']
    assert main([*argv, '--session-minutes', '0']) == 0
    assert 'rerun the same command' in capsys.readouterr().out
    assert main(argv) == 0
    assert [r['iteration'] for r in _rows(tmp_path)] == ['1', '2', '3']
    # the progress bar is on by default but stays silent when stderr is not a terminal (pytest's capture)
    assert '\r' not in capsys.readouterr().err


def test_zero_flow_heads_start_at_zero_flow():
    model = build_liteflownet2('pre_M3S3R3').eval()
    assert zero_flow_heads(model) == 8  # NetM and NetS at levels 3..6
    img = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        outputs = model(img, torch.roll(img, 3, dims=3))
    for flow in outputs.values():
        assert torch.count_nonzero(flow) == 0


def test_repeated_variant_gets_own_stage_directory(tmp_path):
    stages = [StageConfig('pre_M6S6', 1, 1e-4, CROP, 1), StageConfig('pre_M6S6', 1, 1e-4, CROP, 1)]
    assert stage_names(stages) == ['pre_M6S6', 'pre_M6S6.2']
    final = run_training(_cfg(tmp_path, stages, val_count=0))
    assert final == tmp_path / 'pre_M6S6.2' / 'final.pth'
    assert [r['stage'] for r in _rows(tmp_path)] == ['pre_M6S6', 'pre_M6S6.2']


def test_bf16_autocast_step_runs(tmp_path):
    stages = [StageConfig('pre_M5S5R5', 1, 1e-4, CROP, 1)]
    final = run_training(_cfg(tmp_path, stages, val_count=0, amp='bf16'))
    state = _state(final)
    assert all(v.dtype == torch.float32 for v in state.values())
    assert np.isfinite(float(_rows(tmp_path)[0]['loss']))


@pytest.mark.parametrize('argv, message', [
    (['--stages', 'nope'], 'unknown LiteFlowNet2 variant'),
    (['--data', 'wobbly'], 'unknown data preset'),
    (['--stages', 'pre_M5S5R5', '--crop', '50x96'], 'multiples of 32'),
    (['--crop', '64'], 'HxW'),
])
def test_cli_bad_arguments(tmp_path, capsys, argv, message):
    assert main(['--out', str(tmp_path), '--iters', '1', '--no-progress', '--val-count', '0', '--no-photos',
                 *argv]) == 2
    assert message in capsys.readouterr().err


def test_finetune_on_dataset_directory(tmp_path):
    import cv2

    from lfn2_ros.io import flow_files
    from lfn2_ros.training.pairs import render_pairs

    data = tmp_path / 'chairs'
    data.mkdir()
    batch = render_pairs(0, 0, 2, 80, 112, SMALL)
    for i in range(2):
        img1, img2, flow, _ = batch.numpy_pair(i)
        cv2.imwrite(str(data / f'{i + 1:05d}_img1.ppm'), img1)
        cv2.imwrite(str(data / f'{i + 1:05d}_img2.ppm'), img2)
        flow_files.write_flo(data / f'{i + 1:05d}_flow.flo', flow)
    init = tmp_path / 'init'
    run_training(_cfg(init, [StageConfig('pre_M6S6', 1, 1e-4, CROP, 1)], val_count=0))
    out = tmp_path / 'ft'
    rc = main(['--out', str(out), '--stages', 'pre_M6S6R6', '--iters', '2', '--crop', '64x96', '--batch', '2',
               '--init', str(init / 'pre_M6S6' / 'final.pth'), '--dataset', str(data), '--val-count', '0',
               '--no-progress', '--no-photos'])
    assert rc == 0
    rows = _rows(out)
    assert [r['stage'] for r in rows] == ['pre_M6S6R6'] and np.isfinite(float(rows[0]['loss']))


def test_carry_folder_resumes_like_the_run_directory(tmp_path):
    from lfn2_ros.training.carry import pack_run, unpack_run

    stages = [StageConfig('pre_M6S6', 1, 1e-4, CROP, 1), StageConfig('pre_M5S5R5', 4, 1e-4, CROP, 1)]
    straight = run_training(_cfg(tmp_path / 'a', stages, val_count=0))
    assert run_training(_cfg(tmp_path / 'b', stages, val_count=0, max_steps=3)) is None
    size = pack_run(tmp_path / 'b', tmp_path / 'carry')
    assert sorted(p.name for p in (tmp_path / 'carry').iterdir()) == [
        'finished.json', 'log.csv', 'pre_M5S5R5.latest.pth']
    params = sum(v.numel() for v in _state(straight).values())
    assert size < 3.2 * 4 * params  # fp32 weights and two fp32 moments, little else
    unpack_run(tmp_path / 'carry', tmp_path / 'c')  # a fresh checkout: only the carry folder survived
    resumed = run_training(_cfg(tmp_path / 'c', stages, val_count=0))
    a, c = _state(straight), _state(resumed)
    for key in a:
        torch.testing.assert_close(a[key], c[key], rtol=0, atol=0, msg=key)


def test_log_rows_follow_an_existing_header(tmp_path):
    """A run resumed by a version whose log has more columns keeps the file's own columns."""
    from lfn2_ros.training.log import append_row

    path = tmp_path / 'log.csv'
    path.write_text('stage,iteration,val_epe,health\n')
    append_row(path, {'stage': 's', 'iteration': 3, 'train_photo': 0.5, 'val_epe': 1.5, 'health': 'ok'})
    assert path.read_text().splitlines()[1] == 's,3,1.5,ok'
    fresh = tmp_path / 'new.csv'
    append_row(fresh, {'stage': 's', 'train_photo': 0.5})
    with fresh.open() as f:
        assert next(csv.DictReader(f))['train_photo'] == '0.5'
