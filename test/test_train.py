# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import csv
import math

import numpy as np
import pytest
import torch

from lfn2_ros.model import build_liteflownet2, load_checkpoint
from lfn2_ros.train import main
from lfn2_ros.training.trainer import (
    StageConfig,
    TrainConfig,
    export_fp16,
    load_matching,
    run_training,
    stage_names,
    train_stage,
    zero_flow_heads,
)

CROP = (64, 96)


def _cfg(tmp_path, stages, **kwargs):
    kwargs.setdefault('val_count', 1)
    kwargs.setdefault('val_size', CROP)
    return TrainConfig(out_dir=tmp_path, stages=stages, log_every=1, val_every=2, checkpoint_every=1,
                       progress=False, **kwargs)


def _rows(tmp_path):
    with (tmp_path / 'log.csv').open() as f:
        return list(csv.DictReader(f))


def test_two_stages_run_and_write_log(tmp_path):
    stages = [StageConfig('pre_M6S6', 2, 1e-4, CROP, 2), StageConfig('pre_M5S5R5', 2, 1e-4, CROP, 2)]
    final = run_training(_cfg(tmp_path, stages))
    assert final == tmp_path / 'pre_M5S5R5' / 'final.pth'
    rows = _rows(tmp_path)
    assert [r['stage'] for r in rows] == ['pre_M6S6'] * 2 + ['pre_M5S5R5'] * 2
    assert [int(r['global_step']) for r in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(float(r['loss'])) and float(r['loss']) > 0 for r in rows)
    assert rows[-1]['val_epe'] and math.isfinite(float(rows[-1]['val_epe']))
    assert (tmp_path / 'training.png').stat().st_size > 0
    model = load_checkpoint(final)
    assert model.variant.alias == 'pre_M5S5R5'
    first = load_checkpoint(tmp_path / 'pre_M6S6' / 'final.pth')
    assert first.variant.alias == 'pre_M6S6'


def test_stage_resumes_from_latest(tmp_path):
    cfg = _cfg(tmp_path, [], val_count=0)
    final = train_stage(StageConfig('pre_M6S6', 2, 1e-4, CROP, 1), cfg, None)
    latest = torch.load(tmp_path / 'pre_M6S6' / 'latest.pth', weights_only=True)
    assert latest['meta']['iteration'] == 2 and latest['meta']['data_index'] == 2
    assert (tmp_path / 'pre_M6S6' / 'latest.optim.pt').exists()
    # a finished stage is skipped; an interrupted one (no final.pth) continues where it stopped
    assert train_stage(StageConfig('pre_M6S6', 5, 1e-4, CROP, 1), cfg, None) == final
    assert len(_rows(tmp_path)) == 2
    final.unlink()
    train_stage(StageConfig('pre_M6S6', 3, 1e-4, CROP, 1), cfg, None)
    rows = _rows(tmp_path)
    assert [int(r['iteration']) for r in rows] == [1, 2, 3]
    meta = torch.load(final, weights_only=True)['meta']
    assert meta['iteration'] == 3 and meta['data_index'] == 3


def test_load_matching_is_non_strict():
    coarse = build_liteflownet2('pre_M6S6R6')
    full = build_liteflownet2('pre_M3S3R3')
    loaded, total = load_matching(full, coarse.state_dict())
    assert 0 < loaded < total
    key = 'encoder.layers.0.layers.0.conv.weight'
    torch.testing.assert_close(full.state_dict()[key], coarse.state_dict()[key])


def test_export_fp16_loads_as_float32(tmp_path):
    stages = [StageConfig('pre_M3S3R3', 1, 1e-4, CROP, 1)]
    final = run_training(_cfg(tmp_path, stages, val_count=0))
    size = export_fp16(final, tmp_path / 'w16.pth')
    assert size <= 15_000_000
    state = torch.load(tmp_path / 'w16.pth', weights_only=True)['state_dict']
    assert state['encoder.layers.0.layers.0.conv.weight'].dtype == torch.float16
    model = load_checkpoint(tmp_path / 'w16.pth')
    ref = load_checkpoint(final)
    assert model.variant.alias == 'pre_M3S3R3'
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters(), strict=True):
        assert p.dtype == torch.float32, name
        torch.testing.assert_close(p, q, rtol=2e-3, atol=1e-4)


def test_cli_runs_and_exports(tmp_path):
    out = tmp_path / 'run'
    rc = main(['--out', str(out), '--stages', 'pre_M6S6', '--iters', '2', '--crop', '64x96', '--batch', '1',
               '--val-count', '1', '--val-size', '64x96', '--no-progress',
               '--export', str(tmp_path / 'w.pth')])
    assert rc == 0
    # --log-every 10: the last iteration is always logged
    assert [r['iteration'] for r in _rows(out)] == ['2']
    assert load_checkpoint(tmp_path / 'w.pth').variant.alias == 'pre_M6S6'


def test_zero_flow_heads_start_at_zero_flow():
    model = build_liteflownet2('pre_M3S3R3').eval()
    assert zero_flow_heads(model) == 8  # NetM and NetS at levels 3..6
    img = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        outputs = model(img, torch.roll(img, 3, dims=3))
    for flow in outputs.values():
        assert torch.count_nonzero(flow) == 0


def test_repeated_variant_gets_own_stage_directory(tmp_path):
    from lfn2_ros.training.data import motion_preset

    stages = [StageConfig('pre_M6S6', 1, 1e-4, CROP, 1, motion=motion_preset('translation')),
              StageConfig('pre_M6S6', 1, 1e-4, CROP, 1)]
    assert stage_names(stages) == ['pre_M6S6', 'pre_M6S6.2']
    final = run_training(_cfg(tmp_path, stages, val_count=0, zero_flow_heads=True))
    assert final == tmp_path / 'pre_M6S6.2' / 'final.pth'
    assert [r['stage'] for r in _rows(tmp_path)] == ['pre_M6S6', 'pre_M6S6.2']
    # the second stage starts from the first: its heads are trained, not zero
    first = torch.load(tmp_path / 'pre_M6S6' / 'final.pth', weights_only=True)['state_dict']
    head = [k for k in first if k.endswith('pred_flow.weight')][0]
    assert torch.count_nonzero(first[head]) > 0


@pytest.mark.parametrize('argv, message', [
    (['--stages', 'nope'], 'unknown LiteFlowNet2 variant'),
    (['--motion', 'wobbly'], 'unknown motion preset'),
    (['--stages', 'pre_M5S5R5', '--crop', '50x96'], 'multiples of 32'),
    (['--crop', '64'], 'HxW'),
])
def test_cli_bad_arguments(tmp_path, capsys, argv, message):
    assert main(['--out', str(tmp_path), '--iters', '1', '--no-progress', *argv]) == 2
    assert message in capsys.readouterr().err


def test_finetune_on_dataset_directory(tmp_path):
    pytest.importorskip('lfn2_ros.io.datasets')
    import cv2

    from lfn2_ros.io import flow_files
    from lfn2_ros.training.data import make_pair

    data = tmp_path / 'chairs'
    data.mkdir()
    for i in range(2):
        pair = make_pair(0, i, 80, 112)
        cv2.imwrite(str(data / f'{i + 1:05d}_img1.ppm'), pair.img1)
        cv2.imwrite(str(data / f'{i + 1:05d}_img2.ppm'), pair.img2)
        flow_files.write_flo(data / f'{i + 1:05d}_flow.flo', pair.flow)
    init = tmp_path / 'init'
    run_training(_cfg(init, [StageConfig('pre_M6S6', 1, 1e-4, CROP, 1)], val_count=0))
    out = tmp_path / 'ft'
    rc = main(['--out', str(out), '--stages', 'pre_M6S6R6', '--iters', '2', '--crop', '64x96', '--batch', '2',
               '--init', str(init / 'pre_M6S6' / 'final.pth'), '--dataset', str(data), '--val-count', '0',
               '--no-progress'])
    assert rc == 0
    rows = _rows(out)
    assert [r['stage'] for r in rows] == ['pre_M6S6R6'] and np.isfinite(float(rows[0]['loss']))
