# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""image_decode.py: Image / CompressedImage fields -> arrays, the decoder of the node and the bag tools."""

import cv2
import numpy as np
import pytest

from lfn2_ros.io import image_decode as codec
from lfn2_ros.io.image_encodings import MalformedImage, UnsupportedEncoding
from lfn2_ros.io.image_pack import encode_flow

RNG = np.random.default_rng(0)
H, W = 6, 8
BGR = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _fields(array: np.ndarray, encoding: str, step_pad: int = 0, bigendian: bool = False) -> tuple:
    """(encoding, height, width, step, is_bigendian, data) of an array, rows padded with junk."""
    h, w = array.shape[:2]
    row = np.ascontiguousarray(array).reshape(h, -1).view(np.uint8).reshape(h, -1)
    if step_pad:
        row = np.hstack([row, np.full((h, step_pad), 77, np.uint8)])
    return encoding, h, w, row.shape[1], int(bigendian), row.tobytes()


# ------------------------------------------------------------------------------- raw decode


@pytest.mark.parametrize('encoding, make', [
    ('bgr8', lambda b: b),
    ('8UC3', lambda b: b),
    ('rgb8', lambda b: b[:, :, ::-1].copy()),
    ('bgra8', lambda b: cv2.cvtColor(b, cv2.COLOR_BGR2BGRA)),
    ('8UC4', lambda b: cv2.cvtColor(b, cv2.COLOR_BGR2BGRA)),
    ('rgba8', lambda b: cv2.cvtColor(b, cv2.COLOR_BGR2RGBA)),
    ('bgr16', lambda b: b.astype(np.uint16) * 256 + 99),  # the high byte is the 8-bit value
    ('rgb16', lambda b: b[:, :, ::-1].astype(np.uint16) * 256),
    ('bgra16', lambda b: cv2.cvtColor(b, cv2.COLOR_BGR2BGRA).astype(np.uint16) * 257),
    ('rgba16', lambda b: cv2.cvtColor(b, cv2.COLOR_BGR2RGBA).astype(np.uint16) * 257),
])
def test_colour_encodings_give_the_same_bgr(encoding, make):
    for pad in (0, 5):  # padded rows (step > width * bpp) decode too
        out = codec.decode_bgr(*_fields(make(BGR), encoding, pad))
        assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
        np.testing.assert_array_equal(out, BGR)


def test_mono_encodings_and_byte_order():
    mono = BGR[:, :, 0].copy()
    grey = np.dstack([mono] * 3)
    np.testing.assert_array_equal(codec.decode_bgr(*_fields(mono, 'mono8')), grey)
    np.testing.assert_array_equal(codec.decode_bgr(*_fields(mono, '8UC1')), grey)
    mono16 = mono.astype(np.uint16) * 256 + 200  # high byte is the 8-bit value
    np.testing.assert_array_equal(codec.decode_bgr(*_fields(mono16.astype('<u2'), 'mono16')), grey)
    big = _fields(mono16.astype('>u2'), 'mono16', step_pad=6, bigendian=True)
    np.testing.assert_array_equal(codec.decode_bgr(*big), grey)


@pytest.mark.parametrize('encoding, code', [
    ('bayer_rggb8', cv2.COLOR_BayerBG2BGR), ('bayer_bggr8', cv2.COLOR_BayerRG2BGR),
    ('bayer_gbrg8', cv2.COLOR_BayerGR2BGR), ('bayer_grbg8', cv2.COLOR_BayerGB2BGR),
    ('bayer_rggb16', cv2.COLOR_BayerBG2BGR), ('bayer_grbg16', cv2.COLOR_BayerGB2BGR),
    ('yuv422', cv2.COLOR_YUV2BGR_UYVY), ('uyvy', cv2.COLOR_YUV2BGR_UYVY),
    ('yuv422_yuy2', cv2.COLOR_YUV2BGR_YUY2), ('yuyv', cv2.COLOR_YUV2BGR_YUY2),
])
def test_bayer_and_yuv_use_cv_bridge_conversions(encoding, code):
    channels = 2 if 'yu' in encoding or encoding == 'uyvy' else 1
    raw = RNG.integers(0, 256, (H, W, channels) if channels == 2 else (H, W), dtype=np.uint8)
    wide = raw.astype(np.uint16) * 256 + 17 if encoding.endswith('16') else raw
    out = codec.decode_bgr(*_fields(wide, encoding, step_pad=4))
    np.testing.assert_array_equal(out, cv2.cvtColor(raw, code))
    assert out.shape == (H, W, 3)


def test_nv21_reads_three_half_rows_per_row():
    yuv = RNG.integers(0, 256, (H * 3 // 2, W), dtype=np.uint8)
    encoding, _, w, step, big, data = _fields(yuv, 'nv21', step_pad=2)
    out = codec.decode_bgr(encoding, H, w, step, big, data)
    np.testing.assert_array_equal(out, cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_NV21))
    with pytest.raises(MalformedImage, match='even height'):
        codec.decode_bgr('nv21', 3, W, W, 0, bytes(W * 4))
    with pytest.raises(MalformedImage, match='needs 72 bytes'):
        codec.decode_bgr('nv21', H, W, W, 0, bytes(H * W))  # the chroma rows are missing


def test_rgb_pattern_decodes_with_red_on_the_right_channel():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # red
    assert codec.decode_bgr(*_fields(rgb, 'rgb8'))[0, 0].tolist() == [0, 0, 255]


def test_data_may_be_bytes_memoryview_or_array():
    encoding, h, w, step, big, data = _fields(BGR, 'bgr8')
    for buffer in (data, bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        np.testing.assert_array_equal(codec.decode_bgr(encoding, h, w, step, big, buffer), BGR)


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1', '16SC1', 'jpeg', ''])
def test_unsupported_encoding_names_it(encoding):
    with pytest.raises(UnsupportedEncoding, match=repr(encoding) + '; supported: bgr8, rgb8'):
        codec.decode_bgr(encoding, 2, 2, 8, 0, bytes(16))


@pytest.mark.parametrize('height, width, step, size, match', [
    (4, 4, 12, 47, 'needs 48 bytes, got len'),  # data one byte short
    (4, 4, 12, 49, 'needs 48 bytes, got len'),  # one byte too many: stricter than ">= step * height"
    (0, 4, 12, 0, 'zero'),
    (4, 0, 0, 0, 'zero'),
    (4, 4, 10, 40, 'step 10 is shorter'),  # step shorter than a row
])
def test_malformed_images_raise(height, width, step, size, match):
    with pytest.raises(MalformedImage, match=match):
        codec.decode_bgr('bgr8', height, width, step, 0, bytes(size))


def test_yuv_odd_width_is_malformed():
    with pytest.raises(MalformedImage, match='even'):
        codec.decode_bgr('yuv422', 2, 3, 6, 0, bytes(12))


# ---------------------------------------------------------------------------- compressed


def test_compressed_roundtrip_formats_and_garbage():
    ok, png = cv2.imencode('.png', BGR)
    for fmt in ('png', '', 'bgr8; png compressed bgr8'):
        np.testing.assert_array_equal(codec.decode_compressed_bgr(fmt, png.tobytes()), BGR)
    np.testing.assert_array_equal(codec.decode_compressed_bgr('png', png.reshape(-1)), BGR)  # rosbags array
    # An encoder fed RGB order says so; the decoder swaps back.
    ok, rgb_png = cv2.imencode('.png', BGR[:, :, ::-1].copy())
    np.testing.assert_array_equal(codec.decode_compressed_bgr('rgb8; png compressed rgb8', rgb_png), BGR)
    ok, jpg = cv2.imencode('.jpg', BGR)
    assert codec.decode_compressed_bgr('rgb8; jpeg compressed bgr8', jpg.tobytes()).shape == (H, W, 3)
    grey = codec.decode_compressed_bgr('png', cv2.imencode('.png', BGR[:, :, 0])[1].tobytes())
    assert grey.shape == (H, W, 3)  # grey replicated
    with pytest.raises(UnsupportedEncoding, match='compressedDepth'):
        codec.decode_compressed_bgr('16UC1; compressedDepth png', png.tobytes())
    with pytest.raises(UnsupportedEncoding, match="'h264'"):
        codec.decode_compressed_bgr('h264', png.tobytes())
    with pytest.raises(MalformedImage, match='does not decode'):
        codec.decode_compressed_bgr('jpeg', b'not a jpeg')
    with pytest.raises(MalformedImage, match='no data'):
        codec.decode_compressed_bgr('jpeg', b'')


# ---------------------------------------------------------------------------------- flow


def test_flow_round_trip_padding_and_big_endian():
    flow = RNG.standard_normal((H, W, 2)).astype(np.float32)
    flow[0, 0] = np.nan
    np.testing.assert_array_equal(codec.decode_flow(*encode_flow(flow)), flow)
    np.testing.assert_array_equal(codec.decode_flow(*encode_flow(flow.astype(np.float64))), flow)
    out = codec.decode_flow(*_fields(flow.astype('>f4'), '32FC2', step_pad=4, bigendian=True))
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, flow)
    with pytest.raises(UnsupportedEncoding, match="32FC2, got '32FC1'"):
        codec.decode_flow('32FC1', H, W, W * 4, 0, bytes(H * W * 4))
    with pytest.raises(MalformedImage, match='needs'):
        codec.decode_flow('32FC2', H, W, W * 8, 0, bytes(10))
