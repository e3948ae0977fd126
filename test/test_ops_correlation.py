# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of lfn2_ros.ops.correlation: the compiled fused op against the pure-PyTorch reference.

The first test that needs the extension builds it into the torch extensions cache (about 30 s on a fresh
clone); later runs and processes reuse the cached library.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings

import pytest
import torch

from lfn2_ros.ops import _build, warp
from lfn2_ros.ops.correlation import correlation, has_extension, set_backend
from lfn2_ros.ops.reference import correlation_reference

corr_mod = importlib.import_module('lfn2_ros.ops.correlation')  # the package re-exports the function name
torch.set_num_threads(1)

# The four LiteFlowNet2 levels (docs/model.md#decoder-levels): (C, max_displacement, stride, dilation_patch).
LEVELS = {
    'level6': (192, 3, 1, 1),
    'level5': (128, 3, 1, 1),
    'level4': (96, 3, 1, 1),
    'level3': (64, 3, 2, 2),
}


@pytest.fixture(scope='module', autouse=True)
def extension():
    """Load (building on first use) the compiled op; the whole module tests it."""
    set_backend('extension')
    assert has_extension(), _build.load()[1]
    yield
    set_backend(None)


def _features(n, c, h, w, *, dtype=torch.float32, device='cpu', gen=None):
    # Scaled so that the channel sums stay O(5): keeps fp32 summation-order noise well under 1e-5.
    f1 = 0.5 * torch.randn(n, c, h, w, generator=gen, dtype=dtype).to(device)
    f2 = 0.5 * torch.randn(n, c, h, w, generator=gen, dtype=dtype).to(device)
    return f1, f2


def _flow(n, h, w, *, scale=3.0, dtype=torch.float32, device='cpu', gen=None):
    """Random flow whose fractional parts avoid integers (no bilinear/mask kinks); pushes taps out."""
    base = torch.floor(scale * torch.randn(n, 2, h, w, generator=gen, dtype=dtype))
    frac = 0.15 + 0.7 * torch.rand(n, 2, h, w, generator=gen, dtype=dtype)
    return (base + frac).to(device)


def _both(f1, f2, flow, **kw):
    return correlation(f1, f2, flow, **kw), correlation_reference(f1, f2, flow, **kw)


@pytest.mark.parametrize('with_flow', [False, True], ids=['plain', 'warped'])
@pytest.mark.parametrize('level', list(LEVELS))
def test_level_configs_match_reference(level, with_flow):
    c, md, s, d = LEVELS[level]
    gen = torch.Generator().manual_seed(1)
    h, w = (13, 11) if s == 2 else (7, 9)
    f1, f2 = _features(2, c, h, w, gen=gen)
    flow = _flow(2, h, w, gen=gen) if with_flow else None
    kw = dict(max_displacement=md, stride=s, dilation_patch=d)
    out, ref = _both(f1, f2, flow, **kw)
    assert out.shape == ref.shape == (2, 49, -(-h // s), -(-w // s))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize('seed', range(6))
def test_random_shapes_match_reference(seed):
    gen = torch.Generator().manual_seed(100 + seed)
    ri = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))  # noqa: E731
    n, c, h, w = ri(1, 3), ri(1, 37), ri(1, 12), ri(1, 12)
    md, s, d = ri(0, 4), ri(1, 3), ri(1, 3)
    slope = [0.1, 0.0, 0.5][seed % 3]
    f1, f2 = _features(n, c, h, w, gen=gen)
    for flow in (None, _flow(n, h, w, scale=2.0, gen=gen)):
        out, ref = _both(f1, f2, flow, max_displacement=md, stride=s, dilation_patch=d, negative_slope=slope)
        cfg = (n, c, h, w, md, s, d)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0, msg=lambda m, cfg=cfg: f'{cfg}: {m}')


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last],
                         ids=['nchw-rows', 'channels-last'])
@pytest.mark.parametrize('level', ['level4', 'level3'])
def test_both_cpu_layouts_match_reference(level, memory_format):
    """NCHW inputs take the row kernel, channels-last ones the channels-last kernel; widths cover full
    8-pixel blocks, partial ones and the padded buffer strides of 32- and 64-pixel rows."""
    c, md, s, d = LEVELS[level]
    gen = torch.Generator().manual_seed(8)
    for h, w in ((6, 64 * s), (5, 32 * s + 1), (4, 70)):
        f1, f2 = (t.contiguous(memory_format=memory_format) for t in _features(1, c // 4, h, w, gen=gen))
        for flow in (None, _flow(1, h, w, gen=gen)):
            out, ref = _both(f1, f2, flow, max_displacement=md, stride=s, dilation_patch=d)
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=0, msg=lambda m, hw=(h, w): f'{hw}: {m}')


def _as_warp(x, flow):
    """warp(x, flow) through the fused op: C = 1, f1 = 1, md = 0 and slope 1 make the output the warped x."""
    ones = torch.ones_like(x)
    return correlation(ones, x, flow, max_displacement=0, negative_slope=1.0)


def test_warp_mask_at_the_border():
    """Samples on / just outside the border follow mmflow's mask (valid iff in-image tap weight > 0.9999)."""
    h, w = 4, 5
    x = torch.arange(1.0, 1.0 + h * w).view(1, 1, h, w)
    flow = torch.zeros(1, 2, h, w)
    # Row 0: x-flows that move the sample to the left/right border, exactly, within and beyond the 1e-4 slack.
    flow[0, 0, 0, 0] = 0.0        # x = 0: valid
    flow[0, 0, 0, 1] = -1.0       # x = 0 exactly: valid
    flow[0, 0, 0, 2] = -2.00005   # x = -5e-5: mask 0.99995 -> valid
    flow[0, 0, 0, 3] = -3.0002    # x = -2e-4: mask 0.9998 -> zero
    flow[0, 0, 0, 4] = 0.0        # x = W - 1: valid
    flow[0, 0, 1, 4] = 0.00005    # x = W - 1 + 5e-5: valid
    flow[0, 0, 2, 4] = 0.3        # x = W - 0.7: zero
    flow[0, 1, 3, 2] = 0.5        # y = H - 0.5: zero
    flow[0, 1, 1, 1] = -1.0       # y = 0 exactly: valid
    flow[0, 0, 2, 2] = 0.25       # interior: valid, interpolated
    out = _as_warp(x, flow)
    ref = warp(x, flow)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    zeroed = (ref == 0)
    expected_zero = torch.zeros_like(zeroed)
    expected_zero[0, 0, 0, 3] = expected_zero[0, 0, 2, 4] = expected_zero[0, 0, 3, 2] = True
    assert torch.equal(zeroed, expected_zero)
    assert torch.equal(out == 0, expected_zero)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_warp_equals_reference_warp(dtype):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 1, 9, 7, generator=gen, dtype=dtype)
    flow = 4 * torch.randn(3, 2, 9, 7, generator=gen, dtype=dtype)  # many samples leave the image
    flow[0, :, :2] = torch.round(flow[0, :, :2])                    # integer positions, incl. the border
    out, ref = _as_warp(x, flow), warp(x, flow)
    assert torch.equal(out == 0, ref == 0)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


def test_flow_pushing_everything_out():
    f1, f2 = _features(1, 8, 5, 6, gen=torch.Generator().manual_seed(4))
    flow = torch.full((1, 2, 5, 6), 50.0)
    out, ref = _both(f1, f2, flow)
    assert torch.count_nonzero(out) == 0
    torch.testing.assert_close(out, ref, atol=0, rtol=0)


def test_non_contiguous_inputs():
    gen = torch.Generator().manual_seed(5)
    base1 = torch.randn(2, 12, 22, 16, generator=gen)
    f1 = base1[:, ::2, ::2, 1:]                                                    # strided view
    f2 = torch.randn(2, 6, 11, 15, generator=gen).contiguous(memory_format=torch.channels_last)
    flow = (2 * torch.randn(2, 15, 11, 2, generator=gen) + 0.3).permute(0, 3, 2, 1)  # (2, 2, 11, 15)
    assert not f1.is_contiguous() and not flow.is_contiguous()
    for s, d in ((1, 1), (2, 2)):
        out, ref = _both(f1, f2, flow, stride=s, dilation_patch=d)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_thread_count_does_not_change_the_result():
    f1, f2 = _features(2, 16, 9, 10, gen=torch.Generator().manual_seed(6))
    flow = _flow(2, 9, 10, gen=torch.Generator().manual_seed(7)).requires_grad_()
    f1.requires_grad_()
    f2.requires_grad_()
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            out = correlation(f1, f2, flow, stride=2, dilation_patch=2)
            grads = torch.autograd.grad(out, (f1, f2, flow), torch.ones_like(out))
        finally:
            torch.set_num_threads(1)
        results.append((out, *grads))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize('config', [(1, 1, 1), (2, 2, 2), (1, 1, 2)], ids=['s1', 'level3', 'dil2'])
@pytest.mark.parametrize('with_flow', [False, True], ids=['plain', 'warped'])
def test_gradcheck_float64(config, with_flow):
    md, s, d = config
    gen = torch.Generator().manual_seed(8)
    f1, f2 = _features(2, 3, 5, 6, dtype=torch.float64, gen=gen)
    inputs = [f1.requires_grad_(), f2.requires_grad_()]
    if with_flow:
        inputs.append(_flow(2, 5, 6, scale=1.5, dtype=torch.float64, gen=gen).requires_grad_())

    def fn(*args):
        return correlation(*args, max_displacement=md, stride=s, dilation_patch=d)

    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize('with_flow', [False, True], ids=['plain', 'warped'])
def test_gradients_match_reference(with_flow):
    c, md, s, d = LEVELS['level3']
    gen = torch.Generator().manual_seed(9)
    f1, f2 = _features(2, c, 11, 13, gen=gen)
    flow = _flow(2, 11, 13, gen=gen) if with_flow else None
    inputs = [t.requires_grad_() for t in (f1, f2, flow) if t is not None]
    kw = dict(max_displacement=md, stride=s, dilation_patch=d)
    out = correlation(f1, f2, flow, **kw)
    ref = correlation_reference(f1, f2, flow, **kw)
    g = torch.randn(out.shape, generator=gen)
    for a, b in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('hw', [(1, 7), (6, 1), (1, 1)], ids=['1x7', '6x1', '1x1'])
def test_one_pixel_side_gradients_match_reference(hw):
    """On a 1-px side grid_sample's coordinate is the constant 0, so that flow component has no gradient."""
    h, w = hw
    gen = torch.Generator().manual_seed(23)
    f1, f2 = _features(2, 3, h, w, dtype=torch.float64, gen=gen)
    flow = 0.3 * torch.randn(2, 2, h, w, generator=gen, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in (f1, f2, flow)]
    out = correlation(*inputs, max_displacement=1)
    ref = correlation_reference(*inputs, max_displacement=1)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def _op_samples():
    gen = torch.Generator().manual_seed(10)
    f1, f2 = _features(2, 4, 5, 7, gen=gen)
    flow = _flow(2, 5, 7, scale=1.5, gen=gen)
    yield (f1, f2, None, 3, 1, 1, 0.1)
    yield (f1.clone().requires_grad_(), f2.clone().requires_grad_(), flow.clone().requires_grad_(),
           3, 2, 2, 0.1)
    yield (f1.transpose(2, 3), f2.transpose(2, 3), flow.transpose(2, 3), 2, 1, 1, 0.0)  # non-contiguous
    yield (f1.double().requires_grad_(), f2.double(), None, 1, 3, 1, 0.2)  # one input differentiable


@pytest.mark.slow
@pytest.mark.parametrize('sample', list(range(4)))
def test_opcheck(sample):
    args = list(_op_samples())[sample]
    torch.library.opcheck(torch.ops.lfn2.correlation.default, args)
    f1, f2, flow = (t.detach() if t is not None else None for t in args[:3])
    out = torch.ops.lfn2.correlation(f1, f2, flow, *args[3:])
    torch.library.opcheck(torch.ops.lfn2.correlation_backward.default,
                          (torch.randn_like(out), out, f1, f2, flow, *args[3:]))


def test_invalid_arguments_raise():
    f1 = torch.zeros(1, 4, 5, 6)
    with pytest.raises(ValueError, match='f1 and f2'):
        correlation(f1, torch.zeros(1, 4, 5, 7))
    with pytest.raises(ValueError, match='flow must be'):
        correlation(f1, f1, torch.zeros(1, 2, 6, 5))
    with pytest.raises(ValueError, match='stride'):
        correlation(f1, f1, stride=0)
    with pytest.raises(RuntimeError, match=r'f2 must have'):
        torch.ops.lfn2.correlation(f1, torch.zeros(1, 4, 5, 7), None, 3, 1, 1, 0.1)


def test_empty_inputs():
    for shape in ((0, 4, 5, 6), (1, 0, 5, 6)):
        f = torch.zeros(shape)
        out, ref = _both(f, f, None)
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref)


def test_reduced_precision_on_cpu():
    f1, f2 = _features(1, 16, 6, 7, gen=torch.Generator().manual_seed(11))
    flow = _flow(1, 6, 7, gen=torch.Generator().manual_seed(12))
    for dtype in (torch.bfloat16, torch.float16):
        out = correlation(f1.to(dtype), f2.to(dtype), flow.to(dtype))
        ref = correlation_reference(f1.to(dtype).float(), f2.to(dtype).float(), flow.to(dtype).float())
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), ref, atol=2e-2, rtol=1e-2)


def test_forced_reference_backend_warns_once_and_works():
    f1, f2 = _features(1, 8, 6, 7, gen=torch.Generator().manual_seed(13))
    flow = _flow(1, 6, 7, gen=torch.Generator().manual_seed(14))
    expected = correlation(f1, f2, flow)
    set_backend('reference')
    try:
        assert not has_extension()
        with pytest.warns(RuntimeWarning, match='reference'):
            out = correlation(f1, f2, flow)
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            correlation(f1, f2, flow)  # no second warning
    finally:
        set_backend('extension')
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_build_failure_falls_back_with_the_cause(monkeypatch):
    f1, f2 = _features(1, 8, 6, 7, gen=torch.Generator().manual_seed(15))
    expected = correlation_reference(f1, f2)
    monkeypatch.setitem(_build._state, 'result', (False, 'CalledProcessError: g++ not found'))
    set_backend('auto')
    try:
        with pytest.warns(RuntimeWarning, match='g\\+\\+ not found'):
            out = correlation(f1, f2)
        torch.testing.assert_close(out, expected)
        assert not has_extension()
        set_backend('extension')
        with pytest.raises(RuntimeError, match='unavailable'):
            correlation(f1, f2)
    finally:
        set_backend('extension')


def test_env_variable_selects_the_backend(monkeypatch):
    set_backend(None)
    try:
        monkeypatch.setenv('LFN2_CORRELATION_BACKEND', 'reference')
        assert corr_mod.get_backend() == 'reference' and not has_extension()
        monkeypatch.setenv('LFN2_CORRELATION_BACKEND', 'bogus')
        with pytest.raises(ValueError, match='LFN2_CORRELATION_BACKEND'):
            corr_mod.get_backend()
        with pytest.raises(ValueError, match='backend must be'):
            set_backend('gpu')
    finally:
        set_backend('extension')


@pytest.mark.slow
@pytest.mark.parametrize('isa', ['plain', 'base', 'avx2'])
def test_portable_cpu_paths(isa):
    """The portable loops (what an aarch64 Jetson runs) and the AVX2 cap of an AVX-512 machine match the
    reference; cached build, new process."""
    code = (
        'import torch\n'
        'from lfn2_ros.ops.correlation import correlation, set_backend\n'
        'from lfn2_ros.ops.reference import correlation_reference\n'
        'set_backend("extension"); torch.manual_seed(0)\n'
        'f1, f2 = 0.5 * torch.randn(2, 2, 37, 7, 9)\n'
        'fl = 3 * torch.randn(2, 2, 7, 9) + 0.3\n'
        'for kw in ({}, {"stride": 2, "dilation_patch": 2}):\n'
        '    d = (correlation(f1, f2, fl, **kw) - correlation_reference(f1, f2, fl, **kw)).abs().max()\n'
        '    assert d < 1e-5, d\n'
    )
    env = dict(os.environ, LFN2_CPU_ISA=isa, OMP_NUM_THREADS='1')
    subprocess.run([sys.executable, '-c', code], env=env, check=True, timeout=600)


def test_model_flow_same_with_extension_and_reference():
    from lfn2_ros import model as model_mod

    torch.manual_seed(0)
    model = model_mod.build_liteflownet2('pre_M3S3R3').eval()
    gen = torch.Generator().manual_seed(16)
    img1 = torch.rand(1, 3, 64, 96, generator=gen)
    img2 = torch.roll(img1, shifts=(1, 2), dims=(2, 3))
    flows = {}
    for backend in ('extension', 'reference'):
        set_backend(backend)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            flows[backend] = model(img1, img2)
    set_backend('extension')
    for key, flow in flows['extension'].items():
        diff_px = 20.0 * (flow - flows['reference'][key]).abs().max().item()
        assert diff_px <= 1e-4, f'{key}: {diff_px} px'


# ----------------------------------------------------------------------------------------------------
# CUDA twins (skipped without a GPU or without the CUDA kernels).

def _cuda_ready():
    return torch.cuda.is_available() and corr_mod._has_kernel('cuda')


cuda = pytest.mark.skipif(not _cuda_ready(), reason='needs a GPU and the CUDA build of the extension')


@cuda
@pytest.mark.parametrize('with_flow', [False, True], ids=['plain', 'warped'])
@pytest.mark.parametrize('level', list(LEVELS))
def test_cuda_level_configs_match_reference(level, with_flow):
    c, md, s, d = LEVELS[level]
    gen = torch.Generator().manual_seed(20)
    h, w = (29, 37) if s == 2 else (15, 19)
    f1, f2 = _features(2, c, h, w, gen=gen)
    flow = _flow(2, h, w, gen=gen) if with_flow else None
    kw = dict(max_displacement=md, stride=s, dilation_patch=d)
    dev = [t.cuda() if t is not None else None for t in (f1, f2, flow)]
    out = correlation(*dev, **kw)
    torch.testing.assert_close(out.cpu(), correlation_reference(f1, f2, flow, **kw), atol=1e-4, rtol=0)
    torch.testing.assert_close(out, correlation_reference(*dev, **kw), atol=1e-4, rtol=0)


@cuda
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_cuda_reduced_precision(dtype):
    gen = torch.Generator().manual_seed(21)
    f1, f2 = _features(1, 96, 12, 16, gen=gen)
    flow = _flow(1, 12, 16, gen=gen)
    out = correlation(f1.cuda().to(dtype), f2.cuda().to(dtype), flow.cuda().to(dtype))
    ref = correlation_reference(f1.to(dtype).float(), f2.to(dtype).float(), flow.to(dtype).float())
    assert out.dtype == dtype
    torch.testing.assert_close(out.float().cpu(), ref, atol=5e-2, rtol=2e-2)


@cuda
@pytest.mark.parametrize('config', [(1, 1, 1), (2, 2, 2)], ids=['s1', 'level3'])
@pytest.mark.parametrize('with_flow', [False, True], ids=['plain', 'warped'])
def test_cuda_gradcheck_float64(config, with_flow):
    md, s, d = config
    gen = torch.Generator().manual_seed(22)
    f1, f2 = _features(2, 3, 5, 6, dtype=torch.float64, gen=gen)
    inputs = [f1.cuda().requires_grad_(), f2.cuda().requires_grad_()]
    if with_flow:
        inputs.append(_flow(2, 5, 6, scale=1.5, dtype=torch.float64, gen=gen).cuda().requires_grad_())

    def fn(*args):
        return correlation(*args, max_displacement=md, stride=s, dilation_patch=d)

    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-7)


@cuda
@pytest.mark.parametrize('sample', list(range(4)))
def test_cuda_opcheck(sample):
    args = [a.cuda() if isinstance(a, torch.Tensor) else a for a in list(_op_samples())[sample]]
    torch.library.opcheck(torch.ops.lfn2.correlation.default, args)


@cuda
@pytest.mark.parametrize('hw', [(1, 7), (6, 1), (1, 1)], ids=['1x7', '6x1', '1x1'])
def test_cuda_one_pixel_side_gradients_match_reference(hw):
    gen = torch.Generator().manual_seed(24)
    f1, f2 = _features(2, 3, *hw, dtype=torch.float64, gen=gen)
    flow = 0.3 * torch.randn(2, 2, *hw, generator=gen, dtype=torch.float64)
    inputs = [t.cuda().requires_grad_() for t in (f1, f2, flow)]
    out = correlation(*inputs, max_displacement=1)
    ref = correlation_reference(*inputs, max_displacement=1)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64).cuda()
    for a, b in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@cuda
def test_cuda_backward_with_flow_alerts_determinism():
    f1, f2 = (t.cuda().requires_grad_() for t in _features(1, 4, 5, 6, gen=torch.Generator().manual_seed(25)))
    flow = _flow(1, 5, 6, gen=torch.Generator().manual_seed(26)).cuda().requires_grad_()
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        out = correlation(f1, f2, flow)
        with pytest.raises(RuntimeError, match='deterministic'):
            torch.autograd.grad(out, (f1, f2, flow), torch.ones_like(out))
    finally:
        torch.use_deterministic_algorithms(previous)
