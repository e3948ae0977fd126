# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import cv2
import numpy as np
import pytest

from lfn2_ros.io import flow_files


@pytest.fixture
def flow():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((5, 7, 2)) * 30).astype(np.float32)


def test_flo_round_trip_exact(tmp_path, flow):
    path = tmp_path / 'a.flo'
    flow_files.write_flo(path, flow)
    back = flow_files.read_flo(path)
    assert back.dtype == np.float32 and back.shape == (5, 7, 2)
    np.testing.assert_array_equal(back, flow)
    np.testing.assert_array_equal(flow_files.read_flow(path), flow)


def test_flo_layout(tmp_path):
    flow = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    path = tmp_path / 'b.flo'
    flow_files.write_flow(path, flow)
    data = path.read_bytes()
    assert data[:4] == b'PIEH'
    assert np.frombuffer(data[4:12], '<i4').tolist() == [4, 3]  # width, height
    np.testing.assert_array_equal(np.frombuffer(data[12:], '<f4'), flow.ravel())


def test_flo_bad_magic(tmp_path, flow):
    path = tmp_path / 'bad.flo'
    flow_files.write_flo(path, flow)
    data = bytearray(path.read_bytes())
    data[:4] = b'XXXX'
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='magic'):
        flow_files.read_flow(path)


def test_flo_truncated(tmp_path, flow):
    path = tmp_path / 'short.flo'
    flow_files.write_flo(path, flow)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ValueError, match='bytes'):
        flow_files.read_flo(path)


def test_flo_invalid_written_as_nan(tmp_path, flow):
    valid = np.ones(flow.shape[:2], bool)
    valid[1, 2] = False
    path = tmp_path / 'v.flo'
    flow_files.write_flow(path, flow, valid)
    back, back_valid = flow_files.read_flow(path, return_valid=True)
    np.testing.assert_array_equal(back_valid, valid)
    assert np.isnan(back[1, 2]).all()
    np.testing.assert_array_equal(back[valid], flow[valid])


def test_kitti_png_round_trip_on_grid(tmp_path):
    rng = np.random.default_rng(1)
    flow = (rng.integers(-500 * 64, 500 * 64, size=(6, 9, 2)) / 64.0).astype(np.float32)
    valid = rng.random((6, 9)) > 0.3
    path = tmp_path / 'k.png'
    flow_files.write_flow(path, flow, valid)
    back, back_valid = flow_files.read_kitti_png(path)
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], flow[valid])
    back2, valid2 = flow_files.read_flow(path, return_valid=True)
    np.testing.assert_array_equal(back2, back)
    np.testing.assert_array_equal(valid2, valid)


def test_kitti_png_channel_order(tmp_path):
    flow = np.zeros((2, 3, 2), np.float32)
    flow[..., 0] = 1.0  # u
    flow[..., 1] = -2.0  # v
    path = tmp_path / 'order.png'
    flow_files.write_kitti_png(path, flow)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    # cv2 gives BGR; KITTI stores R = u, G = v, B = valid.
    assert (raw[..., 2] == 2**15 + 64).all()
    assert (raw[..., 1] == 2**15 - 128).all()
    assert (raw[..., 0] == 1).all()


def test_kitti_png_rounds_off_grid(tmp_path):
    flow = np.full((2, 2, 2), 0.3, np.float32)
    path = tmp_path / 'r.png'
    flow_files.write_flow(path, flow)
    back = flow_files.read_flow(path)
    np.testing.assert_allclose(back, np.round(0.3 * 64) / 64)


def test_kitti_png_nan_is_invalid(tmp_path, flow):
    flow = np.round(flow * 64) / 64
    flow[0, 0, 1] = np.nan
    path = tmp_path / 'n.png'
    flow_files.write_flow(path, flow)
    _, valid = flow_files.read_flow(path, return_valid=True)
    assert not valid[0, 0] and valid.sum() == valid.size - 1


def test_kitti_png_rejects_8bit(tmp_path):
    path = tmp_path / 'img.png'
    cv2.imwrite(str(path), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='16-bit'):
        flow_files.read_flow(path)


def test_npy_round_trip(tmp_path, flow):
    path = tmp_path / 'a.npy'
    flow_files.write_flow(path, flow.astype(np.float64))
    back = flow_files.read_flow(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, flow)


def test_npy_wrong_shape(tmp_path):
    path = tmp_path / 'bad.npy'
    np.save(path, np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r'\(H, W, 2\)'):
        flow_files.read_flow(path)


@pytest.mark.parametrize('shape', [(4, 4), (4, 4, 3), (2, 4, 4)])
def test_write_wrong_shape(tmp_path, shape):
    with pytest.raises(ValueError, match=r'\(H, W, 2\)'):
        flow_files.write_flow(tmp_path / 'x.flo', np.zeros(shape, np.float32))


def test_valid_wrong_shape(tmp_path, flow):
    with pytest.raises(ValueError, match='valid'):
        flow_files.write_flow(tmp_path / 'x.png', flow, np.ones((2, 2), bool))


def test_unknown_extension(tmp_path, flow):
    with pytest.raises(ValueError, match='extension'):
        flow_files.write_flow(tmp_path / 'x.jpg', flow)
    with pytest.raises(ValueError, match='extension'):
        flow_files.read_flow(tmp_path / 'x.txt')


def test_missing_file(tmp_path):
    for name in ('none.flo', 'none.png', 'none.npy'):
        with pytest.raises(FileNotFoundError):
            flow_files.read_flow(tmp_path / name)
