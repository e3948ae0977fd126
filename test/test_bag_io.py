# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""io/bag_records.py, bag_reader.py and bag_writer.py, both storage formats.

Pairing with ground truth, errors, result bags.
"""

import bag_fixtures
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from lfn2_ros.io import bag_records, bag_writer
from lfn2_ros.io.bag_reader import BagSource
from lfn2_ros.io.bag_records import BagError

H, W = 16, 24
STORAGES = ('mcap', 'sqlite3')
T0 = 1_700_000_000_000_000_000


def _frame(seed):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _stamps(n, period_ns=50_000_000):
    return [T0 + i * period_ns for i in range(n)]


# ------------------------------------------------------------ flow messages (codec: test_image_decode.py)


def test_flow_messages_decode_with_bag_errors():
    store = bag_records.get_typestore_with_lfn2()
    flow = np.random.default_rng(0).normal(size=(H, W, 2)).astype(np.float32)
    msg = bag_writer.image_msg(store, bag_writer.header_msg(store, T0, 'cam'), flow, '32FC2')
    np.testing.assert_array_equal(bag_records.image_to_flow(msg), flow)
    depth = bag_writer.image_msg(store, msg.header, flow[..., 0].copy(), '32FC1')
    with pytest.raises(BagError, match='32FC2'):
        bag_records.image_to_flow(depth)


# ------------------------------------------------------------------ reading bags


def _shift_frames(n, dx=2):
    """Frames moving right by dx px per frame (content of frame k at x is at x + dx in frame k+1)."""
    base = np.random.default_rng(5).integers(0, 256, (H, W + dx * n, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, (n - k) * dx:(n - k) * dx + W]) for k in range(n)]


@pytest.mark.parametrize('storage', STORAGES)
def test_pairs_with_ground_truth(tmp_path, storage):
    frames = _shift_frames(5)
    gts = [None] + [np.full((H, W, 2), (2.0, 0.0), np.float32) for _ in range(4)]
    gts[3] = None  # one pair without ground truth
    path = tmp_path / 'in'
    encodings = 'rgba8'  # decoded to BGR (a change of encoding breaks a pair: test_bag_skips.py)
    bag_fixtures.write_image_bag(
        path, frames, _stamps(5), storage=storage, encodings=encodings, gt_topic='/flow_gt', gt_flows=gts
    )
    assert bag_records.storage_of(path) == storage
    with BagSource(path, '/camera/image_raw', gt_topic='/flow_gt') as src:
        assert src.num_frames == 5 and src.msgtype == bag_records.IMAGE_TYPE
        ids = src.pair_indices()
        assert ids == [0, 1, 2, 3]
        pairs = list(src.iter_pairs(ids))
    assert [p.frames[0].index for p in pairs] == [0, 1, 2, 3]
    assert [p.frames[1].stamp_ns for p in pairs] == _stamps(5)[1:]
    assert [p.flow is not None for p in pairs] == [True, True, False, True]
    np.testing.assert_array_equal(pairs[0].frames[0].image, frames[0])
    np.testing.assert_array_equal(pairs[3].frames[1].image, frames[4])
    assert pairs[1].frames[1].encoding == 'rgba8'
    np.testing.assert_allclose(pairs[0].flow, gts[1])
    assert pairs[0].frames[0].frame_id == 'camera'


@pytest.mark.parametrize('storage', STORAGES)
def test_window_stride_and_max_pairs(tmp_path, storage):
    path = tmp_path / 'in'
    frames = [_frame(i) for i in range(8)]
    bag_fixtures.write_image_bag(path, frames, _stamps(8, 100_000_000), storage=storage)
    with BagSource(path, '/camera/image_raw', start_s=0.15, end_s=0.65) as src:
        # frames at 0.2 .. 0.6 s
        assert [s for _, s in src.frames] == _stamps(8, 100_000_000)[2:7]
        assert src.pair_indices(stride=2) == [0, 2]
        assert src.pair_indices(max_pairs=3) == [0, 1, 2]
        pairs = list(src.iter_pairs([0, 2]))
    np.testing.assert_array_equal(pairs[1].frames[0].image, _frame(4))
    np.testing.assert_array_equal(pairs[1].frames[1].image, _frame(5))


def test_compressed_topic(tmp_path):
    path = tmp_path / 'in'
    frames = [_frame(i) for i in range(3)]
    bag_fixtures.write_image_bag(path, frames, _stamps(3), topic='/cam/compressed', encodings='png')
    with BagSource(path, '/cam/compressed') as src:
        assert src.msgtype == bag_records.COMPRESSED_IMAGE_TYPE
        pairs = list(src.iter_pairs(src.pair_indices()))
    np.testing.assert_array_equal(pairs[1].frames[1].image, frames[2])


def test_error_messages(tmp_path):
    path = tmp_path / 'in'
    bag_fixtures.write_image_bag(path, [_frame(i) for i in range(3)], _stamps(3), topic='/cam/image')
    with pytest.raises(BagError, match=r"topic '/cam/img' is not in .*image topics in the bag: /cam/image"):
        BagSource(path, '/cam/img')
    with pytest.raises(BagError, match=r'has 1 message\(s\) between 0.09 s and the end'):
        BagSource(path, '/cam/image', start_s=0.09)
    with pytest.raises(BagError, match='bag not found'):
        BagSource(tmp_path / 'nope', '/cam/image')

    empty = tmp_path / 'empty'
    store = bag_records.get_typestore_with_lfn2()
    with Writer(empty, version=8, storage_plugin=StoragePlugin.MCAP) as w:
        w.add_connection('/cam/image', bag_records.IMAGE_TYPE, typestore=store)
    with pytest.raises(BagError, match='is empty'):
        BagSource(empty, '/cam/image')

    gt_bag = tmp_path / 'gt'
    bad_gt = [None, np.zeros((H, W + 2, 2), np.float32)]
    bag_fixtures.write_image_bag(gt_bag, [_frame(0), _frame(1)], _stamps(2), gt_topic='/gt', gt_flows=bad_gt)
    with (BagSource(gt_bag, '/camera/image_raw', gt_topic='/gt') as src,
          pytest.raises(BagError, match=rf'is {W + 2}x{H} but the images .* are {W}x{H}')):
        list(src.iter_pairs([0]))
    with pytest.raises(BagError, match='must be different topics'):
        BagSource(gt_bag, '/camera/image_raw', gt_topic='/camera/image_raw')
    with pytest.raises(BagError, match=r"ground-truth topic '/camera/image' is not in"):
        BagSource(gt_bag, '/camera/image_raw', gt_topic='/camera/image')


@pytest.mark.parametrize('storage', STORAGES)
def test_corrupt_and_unsupported_messages(tmp_path, storage):
    store = bag_records.get_typestore_with_lfn2()
    path = tmp_path / 'in'
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    stamps = _stamps(5)
    with Writer(path, version=8, storage_plugin=plugin) as w:
        c = w.add_connection('/cam', bag_records.IMAGE_TYPE, typestore=store)
        for i, t in enumerate(stamps):
            if i == 4:
                depth = np.zeros((H, W), np.uint16)
                msg = bag_writer.image_msg(store, bag_writer.header_msg(store, t, 'cam'), depth, '16UC1')
            else:
                msg = bag_writer.image_msg(store, bag_writer.header_msg(store, t, 'cam'), _frame(i), 'bgr8')
            raw = bytes(store.serialize_cdr(msg, bag_records.IMAGE_TYPE))
            w.write(c, t, raw[:60] if i == 2 else raw)  # message #2 truncated
    with BagSource(path, '/cam') as src:
        gen = src.iter_pairs(src.pair_indices())
        assert next(gen).frames[0].index == 0
        with pytest.raises(BagError, match=r"corrupt message on topic '/cam' .* #2 \(bag time 1700000000.1"):
            next(gen)
    with BagSource(path, '/cam') as src, pytest.raises(
            BagError, match=r"unsupported image encoding '16UC1'.*topic '/cam', message #4"):
        list(src.iter_pairs([3]))
    with BagSource(path, '/cam', start_s=0.14) as src, pytest.raises(
            BagError, match=r"unsupported image encoding '16UC1'.*message #1"):
        list(src.iter_pairs([0]))  # the window starts at frame 3: ordinals count from it


# ------------------------------------------------------------------ writing


@pytest.mark.parametrize('storage', STORAGES)
def test_result_bag_round_trip(tmp_path, storage):
    src_path = tmp_path / 'in'
    frames = [_frame(i) for i in range(3)]
    bag_fixtures.write_image_bag(src_path, frames, _stamps(3), storage=storage, encodings='rgb8')
    out = tmp_path / 'out'
    with BagSource(src_path, '/camera/image_raw') as src:
        pairs = list(src.iter_pairs(src.pair_indices()))
    flows = [np.random.default_rng(i).normal(size=(H, W, 2)).astype(np.float32) for i in range(2)]
    with bag_writer.FlowBagWriter(out, storage=storage, image_topic='/camera/image_raw') as w:
        w.write_image_raw(pairs[0].frames[0].raw, pairs[0].frames[0].bag_time_ns)
        for p, f in zip(pairs, flows, strict=True):
            w.write_image_raw(p.frames[1].raw, p.frames[1].bag_time_ns)
            f1, f2 = p.frames
            w.write_flow(f, stamp_ns=f2.stamp_ns, previous_stamp_ns=f1.stamp_ns, frame_id='cam',
                         bag_time_ns=f2.bag_time_ns, model='m1', visualization=frames[0],
                         confidence=np.ones((H, W), np.float32))
    assert bag_records.storage_of(out) == storage
    recs = bag_fixtures.read_flow_bag(out)
    assert [r.stamp_ns for r in recs] == _stamps(3)[1:]
    assert [r.previous_stamp_ns for r in recs] == _stamps(3)[:2]
    assert all(r.model == 'm1' and r.frame_id == 'cam' for r in recs)
    for r, f in zip(recs, flows, strict=True):
        np.testing.assert_array_equal(r.flow, f)
    # The copied input images decode back to the same frames; the plain flow topic matches.
    with BagSource(out, '/camera/image_raw', gt_topic=bag_records.FLOW_TOPIC) as back:
        again = list(back.iter_pairs(back.pair_indices()))
        topics = {c.topic: c.msgtype for c in back._reader.connections}
    np.testing.assert_array_equal(again[1].frames[1].image, frames[2])
    np.testing.assert_array_equal(again[1].flow, flows[1])
    assert topics[bag_records.VIZ_TOPIC] == bag_records.IMAGE_TYPE
    assert topics['/optical_flow'] == bag_records.OPTICAL_FLOW_TYPE
    with pytest.raises(BagError, match='cannot create output bag'):
        bag_writer.FlowBagWriter(out, storage=storage, image_topic='/x')


def test_typestore_has_lfn2_msgs():
    store = bag_records.get_typestore_with_lfn2()
    assert 'lfn2_msgs/msg/OpticalFlow' in store.types
    assert 'lfn2_msgs/msg/OpticalFlowSummary' in store.types
