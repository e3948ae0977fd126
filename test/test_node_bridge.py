# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""cv_bridge where it converts correctly, the project's checks in front, the codec for the rest."""

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from lfn2_ros.io.image_decode import decode_bgr
from lfn2_ros.io.image_encodings import ENCODINGS, MalformedImage, UnsupportedEncoding
from lfn2_ros.node.bridge import CV_BRIDGE_ENCODINGS, ImageBridge

BGR = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)


def _msg(encoding, array):
    return Image(height=array.shape[0], width=array.shape[1], encoding=encoding, step=array.strides[0],
                 data=np.ascontiguousarray(array).tobytes())


class FakeBridge:
    """A correct cv_bridge stand-in that records its calls (or a wrong one, with ``wrong``)."""

    def __init__(self, wrong=False):
        self.calls, self.wrong = [], wrong

    def imgmsg_to_cv2(self, msg, desired):
        self.calls.append(msg.encoding)
        out = decode_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
        return out[::-1] if self.wrong else out

    def compressed_imgmsg_to_cv2(self, msg, desired):
        self.calls.append(msg.format)
        return cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)


def test_covered_encodings_go_to_cv_bridge_after_one_check():
    fake = FakeBridge()
    bridge = ImageBridge(fake)
    for _ in range(3):
        np.testing.assert_array_equal(bridge.image_to_bgr8(_msg('rgb8', BGR[..., ::-1])), BGR)
    assert fake.calls == ['rgb8'] * 3 and bridge.backend('rgb8') == 'cv_bridge'
    mono16 = (BGR[..., 0].astype(np.uint16) << 8)
    bridge.image_to_bgr8(_msg('mono16', mono16))  # not covered: the codec, cv_bridge not asked
    assert 'mono16' not in fake.calls and bridge.backend('mono16') == 'image_decode'
    png = CompressedImage(format='png', data=cv2.imencode('.png', BGR)[1].tobytes())
    np.testing.assert_array_equal(bridge.compressed_to_bgr8(png), BGR)
    assert fake.calls[-1] == 'png'


def test_a_wrong_cv_bridge_is_caught_and_the_codec_takes_over():
    fake = FakeBridge(wrong=True)
    bridge = ImageBridge(fake)
    for _ in range(2):
        np.testing.assert_array_equal(bridge.image_to_bgr8(_msg('bgr8', BGR)), BGR)
    assert fake.calls == ['bgr8'] and bridge.backend('bgr8') == 'image_decode'


def test_project_checks_run_before_cv_bridge():
    fake = FakeBridge()
    bridge = ImageBridge(fake)
    with pytest.raises(UnsupportedEncoding, match='32FC1'):
        bridge.image_to_bgr8(Image(height=2, width=2, encoding='32FC1', step=8, data=bytes(16)))
    with pytest.raises(MalformedImage, match='needs 144 bytes'):
        bridge.image_to_bgr8(Image(height=6, width=8, encoding='bgr8', step=24, data=bytes(100)))
    assert fake.calls == []


@pytest.mark.parametrize('encoding', sorted(CV_BRIDGE_ENCODINGS))
def test_installed_cv_bridge_or_codec_gives_the_codec_result(encoding):
    """Whatever cv_bridge this machine has (none, a ROS 2 one, a broken ROS 1 port), results are right."""
    enc = ENCODINGS[encoding]
    array = BGR if enc.channels == 3 else (cv2.cvtColor(BGR, cv2.COLOR_BGR2BGRA) if enc.channels == 4
                                           else BGR[..., 0].copy())
    msg = _msg(encoding, array)
    bridge = ImageBridge()
    expected = decode_bgr(encoding, msg.height, msg.width, msg.step, False, msg.data)
    for _ in range(2):
        np.testing.assert_array_equal(bridge.image_to_bgr8(msg), expected)
