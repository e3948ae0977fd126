# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lfn2_ros import default_weights
from lfn2_ros.devices import parse_dtype, resolve_device
from lfn2_ros.inference import FlowEstimator

torch.set_num_threads(1)

FULL = 'liteflownet2_pre_M3S3R3_8x1_flyingchairs_320x448'
SMALL = 'liteflownet2_pre_M6S6_8x1_flyingchairs_320x448'


def _images(height, width, n=2, seed=0):
    """Smooth random BGR uint8 images, each a shifted crop of one texture."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height + 8, width + 8 + 2 * n, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(noise, (5, 5), 1.5)
    return [np.ascontiguousarray(base[4:4 + height, 2 * i:2 * i + width]) for i in range(n)]


@pytest.fixture(scope='module')
def estimator():
    torch.manual_seed(0)
    return FlowEstimator(random_weights=True, device='cpu', num_threads=1)


@pytest.fixture
def small():
    torch.manual_seed(0)
    return FlowEstimator(variant=SMALL, random_weights=True, device='cpu')


def test_attributes(estimator):
    assert estimator.model_name == FULL
    assert estimator.variant.name == FULL
    assert estimator.device == torch.device('cpu')
    assert estimator.dtype == torch.float32
    assert not estimator.model.training
    assert 'FlowEstimator' in repr(estimator)


@pytest.mark.parametrize('size', [(50, 70), (64, 96), (33, 17)])
def test_output_shape_any_size(estimator, size):
    img1, img2 = _images(*size)
    flow = estimator(img1, img2)
    assert flow.shape == (*size, 2)
    assert flow.dtype == np.float32
    assert np.isfinite(flow).all()


def test_network_input_size(estimator):
    assert estimator.network_input_size(50, 70) == (64, 128)
    assert estimator.network_input_size(64, 128) == (64, 128)
    assert estimator.network_input_size(1, 65) == (64, 128)


def test_deterministic(estimator):
    img1, img2 = _images(50, 70)
    np.testing.assert_array_equal(estimator(img1, img2), estimator(img1, img2))


def test_streaming_bit_identical_to_pairwise(estimator):
    frames = _images(50, 70, n=4, seed=3)
    estimator.reset()
    assert estimator._prev is None
    assert estimator.push(frames[0]) is None
    assert estimator._prev is not None
    streamed = [estimator.push(f) for f in frames[1:]]
    for i, flow in enumerate(streamed):
        np.testing.assert_array_equal(flow, estimator(frames[i], frames[i + 1]))
    # a size change restarts the stream
    other = _images(40, 60, n=2, seed=4)
    assert estimator.push(other[0]) is None
    np.testing.assert_array_equal(estimator.push(other[1]), estimator(other[0], other[1]))
    estimator.reset()
    assert estimator.push(frames[0]) is None
    estimator.reset()


def test_mono_input_replicated(small):
    img1, img2 = _images(24, 40)
    grey1, grey2 = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) for i in (img1, img2))
    expected = small(cv2.cvtColor(grey1, cv2.COLOR_GRAY2BGR), cv2.cvtColor(grey2, cv2.COLOR_GRAY2BGR))
    np.testing.assert_array_equal(small(grey1, grey2), expected)
    np.testing.assert_array_equal(small(grey1[..., None], grey2[..., None]), expected)


def test_input_validation(small):
    img1, img2 = _images(24, 40)
    with pytest.raises(ValueError, match=r'same shape.*\(24, 40, 3\).*\(24, 32, 3\)'):
        small(img1, img2[:, :32])
    with pytest.raises(ValueError, match='uint8'):
        small(img1.astype(np.float32), img2)
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        small(np.zeros((24, 40, 4), np.uint8), np.zeros((24, 40, 4), np.uint8))
    with pytest.raises(TypeError, match='numpy'):
        small(torch.zeros(24, 40, 3, dtype=torch.uint8), img2)
    with pytest.raises(ValueError, match='uint8'):
        small.push(img1.astype(np.int16))


def test_dtype_parsing():
    assert parse_dtype('fp16') is torch.float16
    assert parse_dtype('bfloat16') is torch.bfloat16
    assert parse_dtype(torch.float32) is torch.float32
    with pytest.raises(ValueError, match='float32'):
        parse_dtype(torch.float64)
    with pytest.raises(ValueError, match='float32'):
        parse_dtype('int8')


def test_fp16_on_cpu_rejected():
    with pytest.raises(ValueError, match='CUDA'):
        FlowEstimator(variant=SMALL, random_weights=True, device='cpu', dtype=torch.float16)


def test_bf16_on_cpu_runs(estimator):
    torch.manual_seed(0)
    est = FlowEstimator(random_weights=True, device='cpu', dtype='bfloat16')
    est.model.load_state_dict(estimator.model.state_dict())
    assert next(est.model.parameters()).dtype == torch.bfloat16
    img1, img2 = _images(64, 64)
    flow = est(img1, img2)
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    assert np.isfinite(flow).all()
    reference = estimator(img1, img2)
    assert np.abs(flow - reference).mean() < 0.1 * np.abs(reference).mean() + 0.05


def test_device_resolution():
    assert resolve_device('cpu') == torch.device('cpu')
    assert resolve_device('auto').type == ('cuda' if torch.cuda.is_available() else 'cpu')
    with pytest.raises(ValueError, match='device'):
        resolve_device('tpu')
    with pytest.raises(ValueError, match='device'):
        resolve_device('not a device')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-CUDA path')
def test_cuda_absent():
    with pytest.raises(ValueError, match='CUDA is not available'):
        FlowEstimator(variant=SMALL, random_weights=True, device='cuda')
    est = FlowEstimator(variant=SMALL, random_weights=True, device='cuda', allow_fallback=True)
    assert est.device == torch.device('cpu')


def test_weights_errors(tmp_path, monkeypatch):
    absent = tmp_path / 'absent' / 'default.pth'
    monkeypatch.setattr(default_weights, 'default_weights_candidates', lambda: [absent])
    with pytest.raises(FileNotFoundError, match='default weights are not installed'):
        FlowEstimator(device='cpu')
    with pytest.raises(FileNotFoundError, match='not found'):
        FlowEstimator(tmp_path / 'missing.pth', device='cpu')
    with pytest.raises(ValueError, match='not both'):
        FlowEstimator(tmp_path / 'missing.pth', random_weights=True, device='cpu')


def test_checkpoint_round_trip(small, tmp_path, monkeypatch):
    from lfn2_ros.model import save_checkpoint

    path = tmp_path / 'small.pth'
    save_checkpoint(small.model, path)
    loaded = FlowEstimator(path, device='cpu')
    assert loaded.model_name == SMALL
    img1, img2 = _images(24, 40)
    np.testing.assert_array_equal(loaded(img1, img2), small(img1, img2))
    # weights=None picks up the embedded default file when it exists
    candidates = [tmp_path / 'absent.pth', path]
    monkeypatch.setattr(default_weights, 'default_weights_candidates', lambda: candidates)
    np.testing.assert_array_equal(FlowEstimator(device='cpu')(img1, img2), small(img1, img2))


def test_network_size_validation(estimator):
    with pytest.raises(ValueError, match='network_size'):
        FlowEstimator(variant=SMALL, random_weights=True, device='cpu', network_size=(0, 64))
    with pytest.raises(ValueError, match='network_size'):
        FlowEstimator(variant=SMALL, random_weights=True, device='cpu', network_size=(64,))
    with pytest.raises(ValueError, match='not supported'):
        FlowEstimator(random_weights=True, device='cpu', network_size=(48, 64))


def test_exponent4_variant_rejects_odd_levels():
    # sintel_kitti: InputResize(exponent=4) keeps 48, whose level 5 is odd (docs/model.md#input-size-rule).
    variant = 'liteflownet2_ft_4x1_600k_sintel_kitti_320x768'
    est = FlowEstimator(variant=variant, random_weights=True, device='cpu')
    assert est.network_input_size(40, 60) == (48, 64)
    img1, img2 = _images(40, 60)
    with pytest.raises(ValueError, match='not supported'):
        est(img1, img2)
    flow = est(*_images(60, 60))  # -> 64x64, fine
    assert flow.shape == (60, 60, 2)


class _FakeNet:
    """Records the network input and returns a known end-level flow (normalised units)."""

    def __init__(self, model, flow_fn):
        self.inputs = []
        self.flow_fn = flow_fn
        self.end = model.variant.end_level

    def extract_features(self, img):
        self.inputs.append(img.clone())
        return img

    def decode(self, feat1, feat2):
        b, _, h, w = feat1.shape
        scale = 2 ** (self.end - 1)
        return {f'level{self.end}': self.flow_fn(b, -(-h // scale), -(-w // scale))}


def _mmflow_reference(end_flow, image_hw):
    """mmflow 0.5.2 post-processing written out step by step (docs/model.md#output)."""
    height, width = image_hw
    net_hw = end_flow.shape[2] * 4, end_flow.shape[3] * 4
    flow = F.interpolate(end_flow, size=net_hw, mode='bilinear', align_corners=False) * 20.0
    flow = flow.permute(0, 2, 3, 1).numpy()[0]
    flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    scale_factor = np.array([net_hw[1] / width, net_hw[0] / height], dtype=np.float32)  # InputResize
    flow[:, :, 0] = flow[:, :, 0] / scale_factor[0]
    flow[:, :, 1] = flow[:, :, 1] / scale_factor[1]
    return flow


def test_pre_and_post_processing_match_mmflow(monkeypatch):
    torch.manual_seed(0)
    est = FlowEstimator(random_weights=True, device='cpu')
    constant = lambda b, h, w: torch.stack([torch.full((b, h, w), 0.5), torch.full((b, h, w), -0.25)], 1)  # noqa: E731
    fake = _FakeNet(est.model, constant)
    monkeypatch.setattr(est, 'model', fake)
    img1, img2 = _images(50, 70)
    flow = est(img1, img2)

    # Preprocessing: cv2 INTER_LINEAR on uint8 to 64x128 (exponent 6), /255, BGR kept, CHW.
    for img, seen in zip((img1, img2), fake.inputs, strict=True):
        expected = cv2.resize(img, (128, 64), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        assert seen.dtype == torch.float32 and tuple(seen.shape) == (1, 3, 64, 128)
        np.testing.assert_array_equal(seen[0].permute(1, 2, 0).numpy(), expected)

    # Post-processing of a constant flow: u, v scaled separately for the non-square resize.
    assert flow.shape == (50, 70, 2)
    np.testing.assert_allclose(flow[..., 0], 0.5 * 20 / (128 / 70), rtol=1e-5)
    np.testing.assert_allclose(flow[..., 1], -0.25 * 20 / (64 / 50), rtol=1e-5)

    # A non-constant end-level flow against the step-by-step mmflow pipeline, bit for bit.
    gen = torch.Generator().manual_seed(1)
    end_flow = torch.randn(1, 2, 16, 32, generator=gen)
    fake.flow_fn = lambda b, h, w: end_flow
    np.testing.assert_array_equal(est(img1, img2), _mmflow_reference(end_flow, (50, 70)))


def test_no_resize_when_size_fits(monkeypatch):
    torch.manual_seed(0)
    est = FlowEstimator(random_weights=True, device='cpu')
    gen = torch.Generator().manual_seed(2)
    end_flow = torch.randn(1, 2, 16, 32, generator=gen)
    fake = _FakeNet(est.model, lambda b, h, w: end_flow)
    monkeypatch.setattr(est, 'model', fake)
    img1, img2 = _images(64, 128)
    expected = F.interpolate(end_flow, size=(64, 128), mode='bilinear', align_corners=False) * 20
    np.testing.assert_array_equal(est(img1, img2), expected[0].permute(1, 2, 0).numpy())
    expected_input = img1.astype(np.float32) / 255
    np.testing.assert_array_equal(fake.inputs[0][0].permute(1, 2, 0).numpy(), expected_input)


def test_network_size_rescales_back(monkeypatch):
    torch.manual_seed(0)
    est = FlowEstimator(random_weights=True, device='cpu', network_size=(64, 64))
    fake = _FakeNet(est.model, lambda b, h, w: torch.ones(b, 2, h, w))
    monkeypatch.setattr(est, 'model', fake)
    flow = est(*_images(50, 70))
    assert tuple(fake.inputs[0].shape) == (1, 3, 64, 64)
    np.testing.assert_allclose(flow[..., 0], 20 / (64 / 70), rtol=1e-5)
    np.testing.assert_allclose(flow[..., 1], 20 / (64 / 50), rtol=1e-5)


def test_num_threads_validation():
    with pytest.raises(ValueError, match='num_threads'):
        FlowEstimator(variant=SMALL, random_weights=True, device='cpu', num_threads=0)


def test_channels_last_is_close_to_the_exact_path_and_streams_identically():
    rng = np.random.default_rng(3)
    img1 = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    img2 = np.roll(img1, (1, 2), axis=(0, 1))
    torch.manual_seed(0)
    exact = FlowEstimator(random_weights=True, device='cpu')
    fast = FlowEstimator(random_weights=True, device='cpu', channels_last=True)
    fast.model.load_state_dict(exact.model.state_dict())
    flow_exact = exact(img1, img2)
    flow_fast = fast(img1, img2)
    assert np.abs(flow_fast - flow_exact).max() < 1e-2
    fast.push(img1)
    assert np.array_equal(fast.push(img2), flow_fast)
