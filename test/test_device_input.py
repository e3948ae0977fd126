# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""DeviceInput: frames reach the network exactly as mmflow normalises them (uint8 / 255 in float32)."""

import numpy as np
import pytest
import torch

from lfn2_ros.device_input import DeviceInput


def _every_value_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    image.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)  # all 256 values appear
    return image


def _host_normalised(image: np.ndarray) -> torch.Tensor:
    array = image.astype(np.float32) / np.float32(255.0)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def test_bit_identical_to_the_host_normalisation():
    image = _every_value_image()
    out = DeviceInput(torch.device('cpu'))(image)
    assert out.shape == (1, 3, 17, 23) and out.dtype == torch.float32 and out.is_contiguous()
    assert torch.equal(out, _host_normalised(image))


def test_dtype_and_memory_format():
    image = _every_value_image()
    out = DeviceInput(torch.device('cpu'), torch.bfloat16, torch.channels_last)(image)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, _host_normalised(image).to(torch.bfloat16))


def test_non_contiguous_input_and_reuse_across_sizes():
    convert = DeviceInput(torch.device('cpu'))
    big = _every_value_image()
    view = big[::2, 1:]  # a strided view
    assert torch.equal(convert(view), _host_normalised(np.ascontiguousarray(view)))
    assert torch.equal(convert(big), _host_normalised(big))


@pytest.mark.parametrize('bad', [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8),
                                 np.zeros((4, 4, 4), np.uint8)])
def test_rejects_other_arrays(bad):
    with pytest.raises(ValueError, match='uint8'):
        DeviceInput(torch.device('cpu'))(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_staging_is_exact_and_never_overwrites_a_copy_in_flight():
    convert = DeviceInput(torch.device('cuda'))
    frames = [np.full((64, 96, 3), v, np.uint8) for v in (0, 1, 254, 255, 7)]
    outs = [convert(f) for f in frames]  # back-to-back uploads through the two alternating buffers
    for frame, out in zip(frames, outs, strict=True):
        assert torch.equal(out.cpu(), _host_normalised(frame))
