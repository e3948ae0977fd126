# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tiny Sintel, KITTI 2012/2015 and FlyingChairs layouts made in tmp_path."""

import cv2
import numpy as np
import pytest

from lfn2_ros.io import datasets, flow_files

H, W = 8, 12


def _img(seed):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _flow(value):
    f = np.zeros((H, W, 2), np.float32)
    f[...] = value
    return f


def make_sintel(root, scenes=('alley_1', 'bamboo_2'), frames=3):
    train = root / 'training'
    for s_i, scene in enumerate(scenes):
        for pass_name in ('clean', 'final'):
            d = train / pass_name / scene
            d.mkdir(parents=True)
            for k in range(1, frames + 1):
                seed = 100 * s_i + k + (50 if pass_name == 'final' else 0)
                cv2.imwrite(str(d / f'frame_{k:04d}.png'), _img(seed))
        (train / 'flow' / scene).mkdir(parents=True)
        (train / 'occlusions' / scene).mkdir(parents=True)
        for k in range(1, frames):  # Sintel: no flow for the last frame of a scene
            flow_files.write_flo(train / 'flow' / scene / f'frame_{k:04d}.flo', _flow((k, -s_i)))
            occ = np.zeros((H, W), np.uint8)
            occ[:, :3] = 255
            cv2.imwrite(str(train / 'occlusions' / scene / f'frame_{k:04d}.png'), occ)
    return root


def make_kitti(root, image_dir='image_2', n=2):
    train = root / 'training'
    for d in (image_dir, 'flow_occ', 'flow_noc'):
        (train / d).mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(train / image_dir / f'{i:06d}_10.png'), _img(i))
        cv2.imwrite(str(train / image_dir / f'{i:06d}_11.png'), _img(i + 10))
        valid = np.ones((H, W), bool)
        valid[0] = False
        flow_files.write_kitti_png(train / 'flow_occ' / f'{i:06d}_10.png', _flow((1.5, 0.25)), valid)
        noc = valid.copy()
        noc[:, :4] = False
        flow_files.write_kitti_png(train / 'flow_noc' / f'{i:06d}_10.png', _flow((1.5, 0.25)), noc)
    return root


def make_chairs(root, n=3, split_file=True):
    data = root / 'data'
    data.mkdir(parents=True)
    for i in range(1, n + 1):
        cv2.imwrite(str(data / f'{i:05d}_img1.ppm'), _img(i))
        cv2.imwrite(str(data / f'{i:05d}_img2.ppm'), _img(i + 7))
        flow_files.write_flo(data / f'{i:05d}_flow.flo', _flow((i, 0)))
    if split_file:
        (root / 'FlyingChairs_train_val.txt').write_text('\n'.join(['1'] * (n - 1) + ['2']) + '\n')
    return root


def test_sintel(tmp_path):
    root = make_sintel(tmp_path / 'Sintel')
    assert datasets.detect_layout(root) == 'sintel'
    refs = datasets.list_samples(root)
    # 2 scenes x 2 pairs x 2 passes
    assert len(refs) == 8
    assert [r.split for r in refs[:4]] == ['sintel_clean'] * 4
    assert refs[0].name == 'alley_1/frame_0001'
    s = datasets.load_sample(refs[1])
    assert s.name == 'alley_1/frame_0002'
    np.testing.assert_array_equal(s.img1, _img(2))
    np.testing.assert_array_equal(s.img2, _img(3))
    np.testing.assert_allclose(s.flow, _flow((2, 0)))
    assert s.valid.all()
    assert not s.noc[:, :3].any() and s.noc[:, 3:].all()
    final = [datasets.load_sample(r) for r in datasets.list_samples(root / 'training', ['sintel_final'])]
    assert len(final) == 4 and {x.split for x in final} == {'sintel_final'}
    np.testing.assert_array_equal(final[0].img1, _img(51))


@pytest.mark.parametrize(('image_dir', 'split'), [('image_2', 'kitti2015'), ('colored_0', 'kitti2012')])
def test_kitti(tmp_path, image_dir, split):
    root = make_kitti(tmp_path / 'kitti', image_dir)
    assert datasets.detect_layout(root) == 'kitti'
    samples = [datasets.load_sample(r) for r in datasets.list_samples(root)]
    assert [s.name for s in samples] == ['000000_10', '000001_10']
    s = samples[0]
    assert s.split == split
    np.testing.assert_allclose(s.flow[1:], _flow((1.5, 0.25))[1:])
    assert not s.valid[0].any() and s.valid[1:].all()
    assert s.noc.sum() == (H - 1) * (W - 4)


def test_chairs_with_and_without_split_file(tmp_path):
    root = make_chairs(tmp_path / 'chairs')
    refs = datasets.list_samples(root)
    assert [(r.split, r.name) for r in refs] == [
        ('chairs_train', '00001'), ('chairs_train', '00002'), ('chairs_val', '00003')]
    s = datasets.load_sample(refs[2])
    assert s.noc is None and s.valid.all()
    np.testing.assert_allclose(s.flow, _flow((3, 0)))
    assert len(datasets.list_samples(root, ['chairs_val'])) == 1
    plain = make_chairs(tmp_path / 'plain', n=2, split_file=False) / 'data'
    assert {r.split for r in datasets.list_samples(plain)} == {'chairs'}


def test_errors(tmp_path):
    with pytest.raises(datasets.DatasetError, match='not found'):
        datasets.detect_layout(tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(datasets.DatasetError, match='not a known dataset layout'):
        datasets.list_samples(tmp_path / 'empty')
    root = make_chairs(tmp_path / 'chairs', n=2, split_file=False)
    with pytest.raises(datasets.DatasetError, match=r"splits found: \['chairs'\]"):
        datasets.list_samples(root, ['sintel_final'])
    # Ground truth of another size than the images.
    flow_files.write_flo(root / 'data' / '00001_flow.flo', np.zeros((H + 1, W, 2), np.float32))
    with pytest.raises(datasets.DatasetError, match=f'is {W}x{H + 1} but the images are {W}x{H}'):
        datasets.load_sample(datasets.list_samples(root)[0])
    (root / 'data' / '00002_img2.ppm').write_bytes(b'garbage')
    with pytest.raises(datasets.DatasetError, match='cannot read image'):
        datasets.load_sample(datasets.list_samples(root)[1])


def test_sintel_never_pairs_across_a_missing_frame_and_reports_it(tmp_path):
    root = make_sintel(tmp_path / 'Sintel', scenes=('alley_1',), frames=5)
    train = root / 'training'
    (train / 'clean' / 'alley_1' / 'frame_0003.png').unlink()  # frames 1, 2, 4, 5 are left
    (train / 'flow' / 'alley_1' / 'frame_0004.flo').unlink()
    skipped = []
    refs = datasets.list_samples(root, ['sintel_clean'], skipped=skipped)
    pairs = [(r.img1.stem, r.img2.stem) for r in refs]
    assert pairs == [('frame_0001', 'frame_0002')]  # never (2, 4); (4, 5) has no flow file
    reasons = {s['pair']: s['reason'] for s in skipped}
    assert set(reasons) == {'alley_1/frame_0002', 'alley_1/frame_0004'}
    assert 'frame 3 is missing' in reasons['alley_1/frame_0002']
    assert 'flow file missing' in reasons['alley_1/frame_0004']
