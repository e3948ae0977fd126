# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""node/conversions.py, qos.py, parameters.py and the synthetic scene, without spinning.

Pixel decoding itself is tested in test_image_decode.py, flow statistics in test_metrics.py.
"""

import sys

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from lfn2_ros.evaluation.stats import FlowStats
from lfn2_ros.io import image_encodings
from lfn2_ros.node import conversions as conv
from lfn2_ros.node.parameters import PARAMETERS, validate, validate_parameters
from lfn2_ros.node.qos import input_qos
from lfn2_ros.node.synthetic_camera import MovingTexture

RNG = np.random.default_rng(0)
BGR = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
HEADER = Header(stamp=Time(sec=12, nanosec=345), frame_id='cam')


def _msg(array: np.ndarray, encoding: str, step_pad: int = 0, bigendian: bool = False) -> Image:
    h, w = array.shape[:2]
    row = array.reshape(h, -1).view(np.uint8).reshape(h, -1)
    if step_pad:
        row = np.hstack([row, np.full((h, step_pad), 77, np.uint8)])
    return Image(header=HEADER, height=h, width=w, encoding=encoding, step=row.shape[1],
                 is_bigendian=int(bigendian), data=row.tobytes())


def test_image_messages_decode_through_the_codec():
    # The decoder itself is tested in test_image_decode.py; here: msg fields -> image_decode.
    out = conv.image_to_bgr8(_msg(BGR[:, :, ::-1].copy(), 'rgb8', step_pad=5))
    assert out.dtype == np.uint8 and out.shape == (6, 8, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, BGR)
    mono16 = BGR[:, :, 0].astype(np.uint16) * 256 + 200  # high byte is the 8-bit value
    big = _msg(mono16.astype('>u2'), 'mono16', bigendian=True)
    np.testing.assert_array_equal(conv.image_to_bgr8(big), np.dstack([BGR[:, :, 0]] * 3))
    assert conv.ENCODINGS is image_encodings.ENCODINGS


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1', '16SC1', 'jpeg', ''])
def test_unsupported_encoding_names_it(encoding):
    msg = Image(height=2, width=2, encoding=encoding, step=8, data=bytes(16))
    with pytest.raises(conv.UnsupportedEncoding, match=repr(encoding)):
        conv.image_to_bgr8(msg)


@pytest.mark.parametrize('height, width, step, size, match', [
    (4, 4, 12, 47, 'len'),     # data one byte short
    (4, 4, 12, 49, 'len'),     # one byte too many
    (0, 4, 12, 0, 'zero'),
    (4, 4, 10, 40, 'shorter'),  # step shorter than a row
])
def test_malformed_images_raise(height, width, step, size, match):
    msg = Image(height=height, width=width, encoding='bgr8', step=step, data=bytes(size))
    with pytest.raises(conv.MalformedImage, match=match):
        conv.image_to_bgr8(msg)


def test_compressed_roundtrip_and_garbage():
    ok, png = cv2.imencode('.png', BGR)
    msg = CompressedImage(header=HEADER, format='png', data=png.tobytes())
    np.testing.assert_array_equal(conv.compressed_to_bgr8(msg), BGR)
    with pytest.raises(conv.MalformedImage):
        conv.compressed_to_bgr8(CompressedImage(format='jpeg', data=b'not an image'))
    with pytest.raises(conv.MalformedImage):
        conv.compressed_to_bgr8(CompressedImage(format='jpeg'))
    with pytest.raises(conv.ImageError, match='compressedDepth'):  # skipped, never decoded as colour
        conv.compressed_to_bgr8(CompressedImage(format='16UC1; compressedDepth png', data=png.tobytes()))


def test_array_to_image_encodings_and_roundtrip():
    flow = RNG.standard_normal((5, 7, 2)).astype(np.float32)
    msg = conv.array_to_image(flow, HEADER)
    assert (msg.encoding, msg.height, msg.width, msg.step) == ('32FC2', 5, 7, 7 * 8)
    assert msg.is_bigendian == (sys.byteorder == 'big')
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.float32).reshape(5, 7, 2), flow)
    assert conv.array_to_image(flow[..., 0].copy(), HEADER).encoding == '32FC1'
    assert conv.array_to_image(BGR, HEADER).encoding == 'bgr8'
    np.testing.assert_array_equal(conv.image_to_bgr8(conv.array_to_image(BGR, HEADER)), BGR)
    with pytest.raises(ValueError, match='float64'):
        conv.array_to_image(flow.astype(np.float64), HEADER)


def test_header_is_copied_not_aliased():
    copy = conv.copy_header(HEADER)
    assert copy == HEADER and copy is not HEADER and copy.stamp is not HEADER.stamp
    assert conv.time_to_ns(conv.ns_to_time(12_000_000_345)) == 12_000_000_345
    assert conv.ns_to_time(1_500_000_000) == Time(sec=1, nanosec=500_000_000)


def test_build_optical_flow_fields():
    flow = np.zeros((4, 6, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.5, -0.5
    prev = Time(sec=12, nanosec=0)
    msg = conv.build_optical_flow(HEADER, prev, flow, input_width=12, model='m', frames_skipped=3)
    assert msg.header == HEADER and msg.flow.header == HEADER and msg.previous_stamp == prev
    assert msg.scale == pytest.approx(0.5) and msg.frames_skipped == 3 and msg.model == 'm'
    roi = msg.valid_window
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (0, 0, 6, 4)
    assert msg.confidence.width == 0 and msg.confidence.height == 0 and len(msg.confidence.data) == 0
    conf = np.full((4, 6), 0.25, np.float32)
    msg = conv.build_optical_flow(HEADER, prev, flow, input_width=6, model='m', confidence=conf)
    assert msg.confidence.encoding == '32FC1' and msg.confidence.header == HEADER


def test_summary_and_diagnostics_builders():
    stats = FlowStats(mean_u=1.0, mean_v=2.0, mean_magnitude=2.5, median_magnitude=3.0, p95_magnitude=4.0,
                      max_magnitude=5.0, valid_fraction=0.5)
    msg = conv.build_summary(HEADER, Time(sec=11), stats, inference_time_s=0.02, latency_s=0.05,
                             receive_latency_s=0.004, queue_time_s=0.016, frames_skipped=2)
    assert msg.header == HEADER and msg.p95_magnitude == 4.0 and msg.frames_skipped == 2
    assert msg.inference_time == pytest.approx(0.02) and msg.end_to_end_latency == pytest.approx(0.05)
    assert msg.receive_latency == pytest.approx(0.004) and msg.queue_time == pytest.approx(0.016)
    arr = conv.build_diagnostics(Time(sec=1), 'flow_node: optical flow', 'cpu', DiagnosticStatus.WARN, 'msg',
                                 {'rate (Hz)': 2.5, 'model': 'x', 'dropped': 3})
    status = arr.status[0]
    assert status.level == DiagnosticStatus.WARN and status.hardware_id == 'cpu'
    assert {kv.key: kv.value for kv in status.values} == {'rate (Hz)': '2.500', 'model': 'x', 'dropped': '3'}


def test_input_qos_table():
    assert input_qos('sensor_data').depth == 1
    with pytest.raises(ValueError, match="'fast'"):
        input_qos('fast')


def test_parameter_table_and_validation():
    names = [spec.name for spec in PARAMETERS]
    assert len(names) == len(set(names))
    with open('config/flow.yaml') as f:
        yaml_text = f.read()
    for name in names:  # config/flow.yaml mirrors the table
        assert f'    {name}:' in yaml_text or f'    # {name}:' in yaml_text
    assert validate('max_rate', -1.0) and validate('max_rate', 5.0) is None
    assert validate('max_pair_gap', 0.0)
    assert validate('precision', 'fp64') and validate('precision', 'bf16') is None
    assert validate('device', 'tpu') and validate('device', 'cuda:1') is None
    assert validate('network_size', [256]) and validate('network_size', [256, 320]) is None
    assert validate('network_size', [0, 0]) is None and validate('network_size', None)
    assert 'multiples of 32' in validate('network_size', [32000, 32000])
    assert validate('network_size', [250, 320])
    assert validate('cameras', []) is None and validate('cameras', ['left', 'right']) is None
    assert validate('cameras', ['a', 'a']) and validate('cameras', ['/abs']) and validate('cameras', [1])
    assert validate('max_rate', 5) is None  # integers are accepted for doubles
    assert validate('publish_visualization', 1)  # not a bool
    result = validate_parameters([Parameter('max_rate', value=-2.0)])
    assert not result.successful and 'max_rate' in result.reason
    assert validate_parameters([Parameter('max_rate', value=2.0)]).successful


def test_moving_texture_translates_by_the_motion():
    scene = MovingTexture(32, 48, motion_px=(3.0, 2.0), seed=1)
    f0, f2 = scene.frame(0), scene.frame(2)
    assert f0.shape == (32, 48, 3) and f0.dtype == np.uint8 and f0.std() > 10
    # frame k at x shows frame 0 at x - k * motion (integer motion: exact).
    np.testing.assert_array_equal(f2[4:, 6:], f0[:-4, :-6])
