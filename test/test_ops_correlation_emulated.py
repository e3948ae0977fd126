# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The correlation op's CUDA kernels, run on the CPU emulation (backend 'cuda_emulated'), vs the reference.

The first test builds the emulated library into the torch extensions cache (about a minute on a fresh clone).
Shapes are small: an emulated block runs its 256 threads as fibers.
"""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch

from lfn2_ros.ops import warp
from lfn2_ros.ops.correlation import correlation, has_extension, set_backend, use_backend
from lfn2_ros.ops.reference import correlation_reference

corr_mod = importlib.import_module('lfn2_ros.ops.correlation')
torch.set_num_threads(1)

# The four LiteFlowNet2 levels (docs/model.md#decoder-levels): (C, max_displacement, stride, dilation_patch).
LEVELS = {
    'level6': (192, 3, 1, 1),
    'level5': (128, 3, 1, 1),
    'level4': (96, 3, 1, 1),
    'level3': (64, 3, 2, 2),
}
# (atol, rtol) vs the reference in fp32 on the same (rounded) inputs: the output rounding of the dtype.
TOLERANCES = {torch.float32: (1e-5, 1e-6), torch.float16: (2e-3, 2e-3), torch.bfloat16: (2e-2, 1e-2)}


@pytest.fixture(scope='module', autouse=True)
def emulated():
    """Build/load the emulated CUDA kernels; the whole module runs them."""
    set_backend('cuda_emulated')
    assert has_extension(), 'the cuda_emulated backend did not load'
    yield
    set_backend(None)


def _features(n, c, h, w, *, dtype=torch.float32, gen=None, scale=0.5):
    f1 = (scale * torch.randn(n, c, h, w, generator=gen)).to(dtype)
    f2 = (scale * torch.randn(n, c, h, w, generator=gen)).to(dtype)
    return f1, f2


def _flow(n, h, w, *, scale=3.0, dtype=torch.float32, gen=None):
    """Random flow whose fractional parts avoid integers (no bilinear/mask kinks); pushes taps out."""
    base = torch.floor(scale * torch.randn(n, 2, h, w, generator=gen))
    frac = 0.15 + 0.7 * torch.rand(n, 2, h, w, generator=gen)
    return (base + frac).to(dtype)


def _compare(f1, f2, flow, kw, *, dtype=torch.float32, grad_atol=None):
    """Emulated forward and backward vs the reference on the same inputs, the reference in fp32 (or fp64)."""
    ref_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    inputs = [t.detach().clone().requires_grad_() for t in (f1, f2, flow) if t is not None]
    ref_inputs = [t.detach().to(ref_dtype).requires_grad_() for t in inputs]
    with_flow = flow is not None
    out = correlation(*inputs[:2], inputs[2] if with_flow else None, **kw)
    ref = correlation_reference(*ref_inputs[:2], ref_inputs[2] if with_flow else None, **kw)
    assert out.dtype == dtype and out.shape == ref.shape
    atol, rtol = TOLERANCES.get(dtype, (1e-12, 1e-12))
    torch.testing.assert_close(out.to(ref_dtype), ref, atol=atol, rtol=rtol)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(99), dtype=ref_dtype)
    grads = torch.autograd.grad(out, inputs, g.to(dtype))
    ref_grads = torch.autograd.grad(ref, ref_inputs, g)
    for name, a, b in zip(('f1', 'f2', 'flow'), grads, ref_grads, strict=False):
        assert a.dtype == dtype
        scale = max(b.abs().max().item(), 1.0)
        tol = grad_atol if grad_atol is not None else 10 * atol * scale
        torch.testing.assert_close(a.to(ref_dtype), b, atol=tol, rtol=rtol,
                                   msg=lambda m, n=name: f'grad {n}: {m}')


@pytest.mark.parametrize('with_flow', [False, True], ids=['plain', 'warped'])
@pytest.mark.parametrize('level', list(LEVELS))
def test_level_configs_match_reference(level, with_flow):
    c, md, s, d = LEVELS[level]
    gen = torch.Generator().manual_seed(1)
    h, w = (9, 19) if s == 2 else (5, 18)  # more than one 16-pixel tile per row, and a partial one
    f1, f2 = _features(2, c, h, w, gen=gen)
    flow = _flow(2, h, w, gen=gen) if with_flow else None
    _compare(f1, f2, flow, dict(max_displacement=md, stride=s, dilation_patch=d))


@pytest.mark.parametrize('seed', range(4))
def test_odd_shapes_and_batches_match_reference(seed):
    gen = torch.Generator().manual_seed(100 + seed)
    ri = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))  # noqa: E731
    n, c, h, w = ri(1, 3), ri(1, 37), ri(1, 11), ri(1, 13)
    md, s, d = ri(0, 4), ri(1, 3), ri(1, 3)
    slope = [0.1, 0.0, 0.5][seed % 3]
    f1, f2 = _features(n, c, h, w, gen=gen)
    for flow in (None, _flow(n, h, w, scale=2.0, gen=gen)):
        _compare(f1, f2, flow, dict(max_displacement=md, stride=s, dilation_patch=d, negative_slope=slope))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])
@pytest.mark.parametrize('level', ['level4', 'level3'])
def test_reduced_precision_matches_reference(level, dtype):
    c, md, s, d = LEVELS[level]
    gen = torch.Generator().manual_seed(2)
    f1, f2 = _features(1, c // 2, 7, 9, dtype=dtype, gen=gen)
    flow = _flow(1, 7, 9, dtype=dtype, gen=gen)
    _compare(f1, f2, flow, dict(max_displacement=md, stride=s, dilation_patch=d), dtype=dtype)


def test_flows_off_the_image():
    gen = torch.Generator().manual_seed(3)
    f1, f2 = _features(2, 8, 6, 7, gen=gen)
    flow = 6.0 * torch.randn(2, 2, 6, 7, generator=gen)  # most samples leave the image
    flow[0] = 50.0                                        # all of them in image 0
    _compare(f1, f2, flow, dict(max_displacement=2))
    out = correlation(f1, f2, flow, max_displacement=2)
    assert torch.count_nonzero(out[0]) == 0


def test_warp_mask_at_the_border():
    """mmflow's mask (valid iff the in-image tap weight > 0.9999) with torch's CUDA unnormalisation."""
    h, w = 4, 5
    x = torch.arange(1.0, 1.0 + h * w).view(1, 1, h, w)
    flow = torch.zeros(1, 2, h, w)
    flow[0, 0, 0, 1], flow[0, 0, 0, 2], flow[0, 0, 0, 3] = -1.0, -2.00005, -3.0002
    flow[0, 0, 1, 4], flow[0, 0, 2, 4], flow[0, 1, 3, 2], flow[0, 0, 2, 2] = 0.00005, 0.3, 0.5, 0.25
    out = correlation(torch.ones_like(x), x, flow, max_displacement=0, negative_slope=1.0)
    torch.testing.assert_close(out, warp(x, flow), atol=0, rtol=2e-6)
    assert torch.count_nonzero(out == 0) == 3


def _threshold_case():
    """A sample 9.7e-5 px left of the image (in-image weight ~0.9999, the mask threshold) on which torch's CPU
    and CUDA grid_sample unnormalisations round to opposite sides: valid on the CPU, masked on a GPU."""
    w = 113
    x = torch.arange(1.0, 1.0 + 2 * w).view(1, 1, 2, w)
    flow = torch.zeros(1, 2, 2, w)
    flow[0, 0, 0, 1] = -1.0000967979431152
    return x, flow


def test_kernels_use_the_cuda_unnormalisation():
    """The emulated CUDA kernels take the GPU's tap arithmetic, not the CPU's (correlation_index.h)."""
    x, flow = _threshold_case()
    ones = torch.ones_like(x)
    emulated = correlation(ones, x, flow, max_displacement=0, negative_slope=1.0)
    with use_backend('extension'):
        cpu = correlation(ones, x, flow, max_displacement=0, negative_slope=1.0)
    ref = warp(x, flow)  # torch's CPU grid_sample
    assert ref[0, 0, 0, 1] != 0 and cpu[0, 0, 0, 1] != 0
    assert emulated[0, 0, 0, 1] == 0
    others = torch.ones_like(ref, dtype=torch.bool)
    others[0, 0, 0, 1] = False
    # Elsewhere the two roundings of the coordinate differ by an ulp at most: values agree to float precision.
    torch.testing.assert_close(emulated[others], ref[others], atol=0, rtol=2e-6)


@pytest.mark.parametrize('hw', [(1, 7), (6, 1), (1, 1)], ids=['1x7', '6x1', '1x1'])
def test_one_pixel_sides_match_reference_float64(hw):
    gen = torch.Generator().manual_seed(4)
    f1, f2 = _features(2, 3, *hw, dtype=torch.float64, gen=gen)
    flow = 0.3 * torch.randn(2, 2, *hw, generator=gen, dtype=torch.float64)
    _compare(f1, f2, flow, dict(max_displacement=1), dtype=torch.float64, grad_atol=1e-12)


@pytest.mark.parametrize('config', [(1, 1, 1), (2, 2, 2)], ids=['s1', 'level3'])
@pytest.mark.parametrize('with_flow', [False, True], ids=['plain', 'warped'])
def test_gradcheck_float64(config, with_flow):
    md, s, d = config
    gen = torch.Generator().manual_seed(5)
    f1, f2 = _features(1, 2, 4, 5, dtype=torch.float64, gen=gen)
    inputs = [f1.requires_grad_(), f2.requires_grad_()]
    if with_flow:
        inputs.append(_flow(1, 4, 5, scale=1.5, dtype=torch.float64, gen=gen).requires_grad_())

    def fn(*args):
        return correlation(*args, max_displacement=md, stride=s, dilation_patch=d)

    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-7, fast_mode=True)


def test_backward_with_flow_alerts_determinism():
    """The flow backward scatters with atomicAdd; deterministic mode must say so, the plain one need not."""
    gen = torch.Generator().manual_seed(6)
    f1, f2 = (t.requires_grad_() for t in _features(1, 4, 5, 6, gen=gen))
    flow = _flow(1, 5, 6, gen=gen).requires_grad_()
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        out = correlation(f1, f2, None)
        torch.autograd.grad(out, (f1, f2), torch.ones_like(out))
        out = correlation(f1, f2, flow)
        with pytest.raises(RuntimeError, match='deterministic'):
            torch.autograd.grad(out, (f1, f2, flow), torch.ones_like(out))
    finally:
        torch.use_deterministic_algorithms(previous)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])
def test_half_types_at_checkpoint_magnitudes(dtype):
    """Level-3 features of the default weights reach |f| ~ 2 and correlations ~ 10; four times that stays
    well inside fp16, with fp32 accumulation keeping the relative error at the output rounding."""
    c, md, s, d = LEVELS['level3']
    gen = torch.Generator().manual_seed(7)
    f1, f2 = _features(1, c, 8, 10, dtype=torch.float32, gen=gen, scale=4.0)
    f2 = (f2 + 0.8 * f1).to(dtype)  # correlated images: large positive sums at the matching displacement
    f1 = f1.to(dtype)
    out = correlation(f1, f2, None, max_displacement=md, stride=s, dilation_patch=d)
    ref = correlation_reference(f1.float(), f2.float(), None, max_displacement=md, stride=s, dilation_patch=d)
    assert ref.abs().max() > 500
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, atol=1e-3 * ref.abs().max().item(), rtol=1e-2)


def test_fp16_saturates_above_the_half_range_like_the_reference():
    """A channel sum beyond 65504 is +inf in fp16 (the documented range), in the emulated kernels as in the
    reference computed in fp32 and rounded to fp16."""
    f = torch.full((1, 64, 3, 4), 40.0)  # sum over channels at displacement 0: 64 * 1600 = 102400
    out = correlation(f.half(), f.half(), None, max_displacement=1)
    ref = correlation_reference(f, f, None, max_displacement=1).half()
    assert torch.isinf(ref).any()
    assert torch.equal(torch.isinf(out), torch.isinf(ref))
    torch.testing.assert_close(out.float(), ref.float(), rtol=1e-3, atol=0)


def test_backend_selection(monkeypatch):
    monkeypatch.delenv('LFN2_CORRELATION_BACKEND', raising=False)
    assert corr_mod.get_backend() == 'cuda_emulated'
    assert corr_mod._has_kernel('cpu', library='lfn2_emu')
    with use_backend('reference'), warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        assert not has_extension()
    assert corr_mod.get_backend() == 'cuda_emulated'
    set_backend(None)
    try:
        assert corr_mod.get_backend() != 'cuda_emulated'  # 'auto' never picks it
    finally:
        set_backend('cuda_emulated')


def test_env_variable_selects_the_emulated_backend(monkeypatch):
    set_backend(None)
    try:
        monkeypatch.setenv('LFN2_CORRELATION_BACKEND', 'cuda_emulated')
        assert corr_mod.get_backend() == 'cuda_emulated'
        f1, f2 = _features(1, 3, 4, 5, gen=torch.Generator().manual_seed(8))
        assert corr_mod._ops_for(f1.device) is torch.ops.lfn2_emu
        torch.testing.assert_close(correlation(f1, f2), correlation_reference(f1, f2), atol=1e-5, rtol=0)
    finally:
        set_backend('cuda_emulated')


def test_opcheck():
    gen = torch.Generator().manual_seed(9)
    f1, f2 = _features(1, 3, 4, 6, gen=gen)
    flow = _flow(1, 4, 6, scale=1.5, gen=gen)
    args = (f1.requires_grad_(), f2.requires_grad_(), flow.requires_grad_(), 2, 2, 1, 0.1)
    torch.library.opcheck(torch.ops.lfn2_emu.correlation.default, args,
                          test_utils=('test_schema', 'test_faketensor', 'test_aot_dispatch_dynamic'))


def test_model_same_with_emulated_kernels_and_reference():
    from lfn2_ros.model import build_liteflownet2

    torch.manual_seed(0)
    model = build_liteflownet2('pre_M3S3R3').eval()
    gen = torch.Generator().manual_seed(16)
    img1 = torch.rand(1, 3, 64, 96, generator=gen)
    img2 = torch.roll(img1, shifts=(1, 2), dims=(2, 3))
    flows = {}
    for backend in ('cuda_emulated', 'reference'):
        with use_backend(backend), torch.no_grad(), warnings.catch_warnings(), \
                torch.autograd.profiler.profile() as prof:
            warnings.simplefilter('ignore', RuntimeWarning)
            flows[backend] = model(img1, img2)
        ops = {event.key for event in prof.key_averages()}
        assert ('lfn2_emu::correlation' in ops) == (backend == 'cuda_emulated'), sorted(ops)[:20]
    for key, flow in flows['cuda_emulated'].items():
        diff_px = 20.0 * (flow - flows['reference'][key]).abs().max().item()
        assert diff_px <= 1e-4, f'{key}: {diff_px} px'


def _cuda_ready() -> bool:
    if not torch.cuda.is_available():
        return False
    ok, _ = corr_mod._load_extension()
    return ok and corr_mod._has_kernel('cuda')


@pytest.mark.skipif(not _cuda_ready(), reason='needs a GPU and the CUDA build of the extension')
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16], ids=['fp32', 'fp16'])
def test_cuda_kernels_match_their_emulation(dtype):
    """One kernel source on the GPU and on the emulation: equal up to FMA contraction and atomics order."""
    gen = torch.Generator().manual_seed(10)
    for c, md, s, d in LEVELS.values():
        f1, f2 = _features(2, c // 4, 9, 19, dtype=dtype, gen=gen)
        flow = _flow(2, 9, 19, dtype=dtype, gen=gen)
        args = (f1, f2, flow, md, s, d, 0.1)
        out = torch.ops.lfn2_emu.correlation(*args)
        out_gpu = torch.ops.lfn2.correlation(f1.cuda(), f2.cuda(), flow.cuda(), md, s, d, 0.1)
        atol = 1e-5 if dtype == torch.float32 else 2e-3
        torch.testing.assert_close(out_gpu.cpu(), out, atol=atol, rtol=1e-3)
        g = torch.randn(out.shape, generator=gen).to(dtype)
        grads = torch.ops.lfn2_emu.correlation_backward(g, out, *args)
        grads_gpu = torch.ops.lfn2.correlation_backward(g.cuda(), out_gpu, f1.cuda(), f2.cuda(), flow.cuda(),
                                                        md, s, d, 0.1)
        for a, b in zip(grads_gpu, grads, strict=True):
            torch.testing.assert_close(a.cpu(), b, atol=20 * atol, rtol=1e-2)


@pytest.mark.skipif(not _cuda_ready(), reason='needs a GPU and the CUDA build of the extension')
def test_cuda_kernels_mask_like_torch_cuda_grid_sample():
    """On a GPU, the CUDA kernels and torch's CUDA grid_sample mask the threshold sample alike."""
    x, flow = _threshold_case()
    x, flow = x.cuda(), flow.cuda()
    out = torch.ops.lfn2.correlation(torch.ones_like(x), x, flow, 0, 1, 1, 1.0)
    torch.testing.assert_close(out, warp(x, flow), atol=0, rtol=2e-6)
    assert out[0, 0, 0, 1] == 0
