# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lfn2_ros.io import flow_files
from lfn2_ros.predict import main

torch.set_num_threads(1)

SMALL = 'liteflownet2_pre_M6S6_8x1_flyingchairs_320x448'
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    from lfn2_ros.model import build_liteflownet2, save_checkpoint

    root = tmp_path_factory.mktemp('predict')
    torch.manual_seed(0)
    save_checkpoint(build_liteflownet2(SMALL), root / 'w.pth')
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (40, 64, 3), dtype=np.uint8), (5, 5), 1.5)
    cv2.imwrite(str(root / 'a.png'), base[:, :56])
    cv2.imwrite(str(root / 'b.png'), base[:, 3:59])
    cv2.imwrite(str(root / 'c.png'), base[:32, :32])
    # Files cut short: OpenCV decodes both without an error (libjpeg only prints a warning).
    jpeg = cv2.imencode('.jpg', base[:, :56])[1].tobytes()
    (root / 'cut.jpg').write_bytes(jpeg[: len(jpeg) * 2 // 3])
    assert cv2.imread(str(root / 'cut.jpg')) is not None
    png = (root / 'a.png').read_bytes()
    (root / 'cut.png').write_bytes(png[:-20])
    return root


def _args(root, out, *extra):
    return ['--weights', str(root / 'w.pth'), '--img1', str(root / 'a.png'), '--img2', str(root / 'b.png'),
            '--out', str(out), '--device', 'cpu', '--num-threads', '1', *extra]


@pytest.mark.parametrize('ext', ['.flo', '.npy', '.png'])
def test_writes_flow_and_viz(files, tmp_path, capsys, ext):
    out, viz = tmp_path / f'flow{ext}', tmp_path / 'viz.png'
    assert main(_args(files, out, '--viz', str(viz))) == 0
    flow = flow_files.read_flow(out)
    assert flow.shape == (40, 56, 2) and np.isfinite(flow).all()
    image = cv2.imread(str(viz))
    assert image.shape == (40, 56, 3)
    assert SMALL in capsys.readouterr().out


def test_matches_estimator(files, tmp_path):
    from lfn2_ros.inference import FlowEstimator

    out = tmp_path / 'f.flo'
    assert main(_args(files, out, '--network-size', '32', '64')) == 0
    est = FlowEstimator(files / 'w.pth', device='cpu', network_size=(32, 64))
    expected = est(cv2.imread(str(files / 'a.png')), cv2.imread(str(files / 'b.png')))
    np.testing.assert_array_equal(flow_files.read_flow(out), expected)


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'--img1': 'missing.png'}, 'image file not found'),
        ({'--weights': 'missing.pth'}, 'weights file not found'),
        ({'--out': 'flow.txt'}, 'unsupported extension'),
        ({'--out': 'no_dir/flow.flo'}, 'output directory does not exist'),
        ({'--img2': 'c.png'}, 'same size'),
        ({'--img1': 'w.pth'}, 'not an image OpenCV can decode'),
        ({'--img1': 'cut.jpg'}, 'truncated JPEG'),
        ({'--img2': 'cut.png'}, 'truncated PNG'),
        ({'--out': 'a_directory'}, 'is a directory'),
        ({'--variant': 'no_such_variant'}, ''),
    ],
)
def test_user_errors(files, tmp_path, capsys, change, message):
    args = _args(files, tmp_path / 'f.flo')
    (tmp_path / 'a_directory').mkdir()
    for flag, value in change.items():
        if flag == '--variant':
            args += [flag, value]
        else:
            args[args.index(flag) + 1] = str((tmp_path if flag == '--out' else files) / value)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith('predict: error:') and message in err
    assert 'Traceback' not in err


def test_debug_prints_the_traceback_before_the_line(tmp_path, capsys):
    argv = ['--img1', str(tmp_path / 'missing.png'), '--img2', str(tmp_path / 'missing.png'),
            '--out', str(tmp_path / 'f.flo')]
    assert main(argv) == 1
    assert 'Traceback' not in capsys.readouterr().err
    assert main([*argv, '--debug']) == 1
    err = capsys.readouterr().err
    assert 'Traceback (most recent call last)' in err
    assert err.strip().splitlines()[-1].startswith('predict: error: --img1: image file not found')


def test_fp16_on_cpu_is_a_user_error(files, tmp_path, capsys):
    assert main(_args(files, tmp_path / 'f.flo', '--dtype', 'float16')) == 1
    assert 'CUDA' in capsys.readouterr().err


def test_module_entry_point(files, tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'lfn2_ros.predict', '--img1', str(files / 'nope.png'), '--img2',
         str(files / 'b.png'), '--out', str(tmp_path / 'f.flo')],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={'OMP_NUM_THREADS': '1', 'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(REPO)},
    )
    assert result.returncode == 1
    assert 'image file not found' in result.stderr and 'Traceback' not in result.stderr
