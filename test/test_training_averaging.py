# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Weight averaging of checkpoints (training/averaging.py, scripts/average_checkpoints.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lfn2_ros.model import build_liteflownet2, load_checkpoint, save_checkpoint
from lfn2_ros.model.checkpoint import CheckpointError
from lfn2_ros.training.averaging import average_checkpoints, write_average

REPO = Path(__file__).resolve().parents[1]


def _saved(tmp_path, name, seed, iteration, variant='pre_M6S6'):
    torch.manual_seed(seed)
    model = build_liteflownet2(variant)
    path = tmp_path / name
    save_checkpoint(model, path, meta={'iteration': iteration})
    return path, model


def test_average_is_the_elementwise_mean(tmp_path):
    (a, ma), (b, mb), (c, mc) = (_saved(tmp_path, f'{i}.pth', i, 10 * i) for i in range(3))
    state, metas = average_checkpoints([a, b, c])
    for key, value in ma.state_dict().items():
        if value.is_floating_point():
            expected = (value.double() + mb.state_dict()[key].double() + mc.state_dict()[key].double()) / 3
            torch.testing.assert_close(state[key], expected.float())
    assert [m['iteration'] for m in metas] == [0, 10, 20]


def test_written_average_loads_and_records_its_sources(tmp_path):
    (a, _), (b, _) = _saved(tmp_path, 'a.pth', 0, 100), _saved(tmp_path, 'b.pth', 1, 150)
    meta = write_average([a, b], tmp_path / 'avg.pth')
    assert meta['averaged_from'] == [{'file': 'a.pth', 'iteration': 100}, {'file': 'b.pth', 'iteration': 150}]
    model = load_checkpoint(tmp_path / 'avg.pth')
    assert model.variant.alias == 'pre_M6S6'


def test_non_finite_and_mismatched_checkpoints_are_refused(tmp_path):
    a, _ = _saved(tmp_path, 'a.pth', 0, 1)
    other, _ = _saved(tmp_path, 'other.pth', 0, 1, variant='pre_M5S5R5')
    with pytest.raises(CheckpointError, match='other keys'):
        average_checkpoints([a, other])
    torch.manual_seed(0)
    model = build_liteflownet2('pre_M6S6')
    with torch.no_grad():
        next(model.parameters())[0].fill_(float('nan'))
    save_checkpoint(model, tmp_path / 'nan.pth')
    with pytest.raises(CheckpointError, match='NaN or inf'):
        average_checkpoints([a, tmp_path / 'nan.pth'])
    with pytest.raises(CheckpointError, match='no checkpoint'):
        average_checkpoints([])


def test_script_writes_the_average_and_errors_in_one_line(tmp_path):
    (a, _), (b, _) = _saved(tmp_path, 'a.pth', 0, 5), _saved(tmp_path, 'b.pth', 1, 6)
    script = [sys.executable, str(REPO / 'scripts' / 'average_checkpoints.py')]
    proc = subprocess.run([*script, '--out', str(tmp_path / 'avg.pth'), str(a), str(b)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and 'iterations [5, 6]' in proc.stdout, proc.stderr
    proc = subprocess.run([*script, '--out', str(tmp_path / 'x.pth'), str(a), str(tmp_path / 'missing.pth')],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.count('\n') == 1 and 'error' in proc.stderr, proc.stderr
