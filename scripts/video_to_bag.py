#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Write a video's frames as a rosbag2 camera bag (sensor_msgs/Image bgr8), like a recorded camera.

The frames are stamped from the video's frame rate (header stamp = bag time), so ``evaluate``,
``train --self-supervised`` and ``play_bag`` treat the result like a recording. ``--fetch-opencv-sample``
takes the video from Debian's ``opencv-doc`` package instead of a file: ``apt-get download`` (no root,
nothing installed) and ``dpkg-deb -x``, with the package's licence recorded next to the bag.

The real recording of docs/self_supervised.md#a-real-recording is made with::

    python3 scripts/video_to_bag.py --fetch-opencv-sample vtest.avi --scale 0.5 runs/vtest_bag

``vtest.avi`` (768x576, 10 fps, 795 frames) is a static-camera recording of pedestrians. Debian ships it
under the ``Files: *`` stanza of opencv-doc's copyright file: Apache-2.0 AND BSD-3-Clause.

Usage::

    python3 scripts/video_to_bag.py VIDEO OUT [--topic /camera/image_raw] [--scale S] [--max-frames N]
        [--storage mcap|sqlite3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lfn2_ros.io import bag_writer  # noqa: E402
from lfn2_ros.io.bag_records import IMAGE_TYPE, get_typestore_with_lfn2  # noqa: E402

OPENCV_PACKAGE = 'opencv-doc'
SAMPLE_DIR = 'usr/share/doc/opencv-doc/examples/data'


def fetch_opencv_sample(name: str, workdir: Path) -> tuple[Path, dict]:
    """Download opencv-doc, unpack it and return the sample video and its provenance."""
    subprocess.run(['apt-get', 'download', OPENCV_PACKAGE], cwd=workdir, check=True, capture_output=True)
    deb = next(workdir.glob(f'{OPENCV_PACKAGE}_*.deb'))
    subprocess.run(['dpkg-deb', '-x', str(deb), str(workdir / 'x')], check=True)
    video = workdir / 'x' / SAMPLE_DIR / name
    if not video.is_file():
        raise SystemExit(f'video_to_bag: error: {name} is not in {deb.name} ({SAMPLE_DIR})')
    copyright_text = (workdir / 'x' / 'usr/share/doc/opencv-doc/copyright').read_text()
    licence = next((line.split(':', 1)[1].strip() for line in copyright_text.splitlines()
                    if line.startswith('License:')), 'unknown')
    return video, {'package': deb.name, 'path_in_package': f'{SAMPLE_DIR}/{name}',
                   'license': licence, 'copyright_stanza': 'Files: *'}


def write_bag(video: Path, out: Path, *, topic: str, scale: float, max_frames: int | None,
              storage: str) -> dict:
    """Write the frames of ``video`` to a new bag ``out``; returns a summary."""
    from rosbags.rosbag2 import Writer

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise SystemExit(f'video_to_bag: error: cannot open video {video}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    store = get_typestore_with_lfn2()
    start_ns, count, size = 1_700_000_000 * 1_000_000_000, 0, None
    with Writer(out, version=8, storage_plugin=bag_writer._plugin(storage)) as writer:
        conn = writer.add_connection(topic, IMAGE_TYPE, typestore=store)
        while max_frames is None or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if scale != 1.0:
                frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            size = frame.shape[1::-1]
            stamp = start_ns + round(count * 1e9 / fps)
            msg = bag_writer.image_msg(store, bag_writer.header_msg(store, stamp, 'camera'), frame, 'bgr8')
            writer.write(conn, stamp, bytes(store.serialize_cdr(msg, IMAGE_TYPE)))
            count += 1
    if count < 2:
        raise SystemExit(f'video_to_bag: error: {video} gave {count} frame(s); a bag needs at least 2')
    return {'video': video.name, 'frames': count, 'fps': fps, 'size_wxh': list(size), 'topic': topic,
            'storage': storage, 'scale': scale}


def main() -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('video', nargs='?', type=Path, help='video file (or --fetch-opencv-sample NAME)')
    p.add_argument('out', type=Path, help='new bag directory')
    p.add_argument('--fetch-opencv-sample', metavar='NAME', default=None,
                   help="a video of Debian's opencv-doc examples, e.g. vtest.avi")
    p.add_argument('--topic', default='/camera/image_raw')
    p.add_argument('--scale', type=float, default=1.0, help='resize factor of the frames')
    p.add_argument('--max-frames', type=int, default=None)
    p.add_argument('--storage', default='mcap', choices=('mcap', 'sqlite3'))
    args = p.parse_args()
    if args.out.exists():
        raise SystemExit(f'video_to_bag: error: {args.out} exists; choose a new directory')
    provenance: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if args.fetch_opencv_sample:
            video, provenance = fetch_opencv_sample(args.fetch_opencv_sample, Path(tmp))
        elif video is None or not video.is_file():
            raise SystemExit(f'video_to_bag: error: video not found: {video}')
        summary = write_bag(video, args.out, topic=args.topic, scale=args.scale, max_frames=args.max_frames,
                            storage=args.storage)
    summary |= provenance
    (args.out.parent / f'{args.out.name}.source.json').write_text(json.dumps(summary, indent=2) + '\n')
    print(json.dumps(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
