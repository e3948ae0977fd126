# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""image_pack.py: arrays -> Image fields, checked by decoding them again (image_decode.py)."""

import sys

import cv2
import numpy as np
import pytest

from lfn2_ros.io import image_pack as pack
from lfn2_ros.io.image_decode import decode_bgr

RNG = np.random.default_rng(0)
H, W = 6, 8
BGR = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8', 'bgr16', 'rgb16', 'mono16'])
def test_encode_bgr_round_trips(encoding):
    raw = pack.encode_bgr(BGR, encoding)
    assert raw.encoding == encoding and (raw.height, raw.width) == (H, W)
    assert raw.step * H == len(raw.data) and raw.is_bigendian == (sys.byteorder == 'big')
    out = decode_bgr(*raw)
    grey = cv2.cvtColor(cv2.cvtColor(BGR, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(out, grey if 'mono' in encoding else BGR)
    assert pack.bgr_to_image_array(BGR, encoding).dtype == (np.uint16 if '16' in encoding else np.uint8)


def test_encode_array_picks_or_checks_the_encoding():
    flow = RNG.standard_normal((5, 7, 2)).astype(np.float32)
    raw = pack.encode_array(flow)
    assert (raw.encoding, raw.height, raw.width, raw.step) == ('32FC2', 5, 7, 7 * 8)
    np.testing.assert_array_equal(np.frombuffer(raw.data, np.float32).reshape(5, 7, 2), flow)
    assert pack.encode_array(flow[..., 0].copy()).encoding == '32FC1'
    assert pack.encode_array(BGR).encoding == 'bgr8'
    assert pack.encode_array(BGR[..., 0]).encoding == 'mono8'
    assert pack.encode_array(np.zeros((2, 3), np.uint16), '16UC1').step == 6
    assert pack.encode_array(np.zeros((2, 3, 2), np.uint8), 'yuv422').step == 6
    swapped = pack.encode_array(flow.astype('>f4'), '32FC2')  # packed in the host's order
    assert swapped.data == raw.data
    with pytest.raises(ValueError, match='float64'):
        pack.encode_array(flow.astype(np.float64))
    with pytest.raises(ValueError, match='16UC1 needs a'):
        pack.encode_array(np.zeros((2, 3), np.uint8), '16UC1')
    with pytest.raises(ValueError, match='bgr8 needs a'):
        pack.encode_array(BGR[..., :2], 'bgr8')
    with pytest.raises(ValueError, match='nv21'):
        pack.encode_array(np.zeros((3, 2), np.uint8), 'nv21')
    with pytest.raises(ValueError, match='cannot write'):
        pack.bgr_to_image_array(BGR, 'yuv422')


def test_encode_flow_packs_two_float32_channels():
    flow = RNG.standard_normal((H, W, 2))
    raw = pack.encode_flow(flow)  # float64 is cast
    assert (raw.encoding, raw.step) == ('32FC2', W * 8)
    packed = np.frombuffer(raw.data, np.float32).reshape(H, W, 2)
    np.testing.assert_array_equal(packed, flow.astype(np.float32))
    with pytest.raises(ValueError, match=r'\(H, W, 2\)'):
        pack.encode_flow(flow[..., 0])
