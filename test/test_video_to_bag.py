# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""scripts/video_to_bag.py: a video becomes a camera bag that evaluate and train read like a recording."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lfn2_ros.io.bag_reader import BagSource

SCRIPT = Path(__file__).resolve().parents[1] / 'scripts' / 'video_to_bag.py'


def _video(path: Path, frames: int = 6, size=(96, 64), fps: float = 5.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
    if not writer.isOpened():
        pytest.skip('OpenCV has no MJPG writer here')
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return path


def test_frames_and_stamps(tmp_path):
    video = _video(tmp_path / 'clip.avi')
    out = tmp_path / 'bag'
    run = subprocess.run([sys.executable, str(SCRIPT), str(video), str(out), '--scale', '0.5'],
                         capture_output=True, text=True, check=True)
    summary = json.loads(run.stdout)
    assert summary['frames'] == 6 and summary['size_wxh'] == [48, 32]
    assert json.loads((tmp_path / 'bag.source.json').read_text())['video'] == 'clip.avi'
    with BagSource(out, '/camera/image_raw') as source:
        stamps = [s for _, s in source.frames]
        assert source.num_frames == 6
        pair = next(iter(source.iter_pairs([0])))
    assert np.allclose(np.diff(stamps), 0.2e9, atol=1)  # 5 fps
    assert pair.img1.shape == (32, 48, 3)


def test_refuses_an_existing_output_and_a_missing_video(tmp_path):
    (tmp_path / 'bag').mkdir()
    video = _video(tmp_path / 'v.avi')
    run = subprocess.run([sys.executable, str(SCRIPT), str(video), str(tmp_path / 'bag')],
                         capture_output=True, text=True)
    assert run.returncode != 0 and 'exists' in run.stderr and 'Traceback' not in run.stderr
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / 'none.avi'), str(tmp_path / 'b2')],
                         capture_output=True, text=True)
    assert run.returncode != 0 and 'video not found' in run.stderr
