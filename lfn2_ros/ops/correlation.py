# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Public correlation op: fused warp + 7x7 local correlation + leaky ReLU, compiled on CPU and CUDA.

``correlation()`` dispatches to ``torch.ops.lfn2.correlation`` (csrc/) when the compiled extension is
available, else to the pure-PyTorch ``reference.correlation_reference`` with one warning naming the cause.
The compiled ops' autograd and fake kernels are registered here (docs/extension.md#autograd-and-fake-kernels).

Backend choice: ``LFN2_CORRELATION_BACKEND=auto|extension|reference|cuda_emulated`` (default auto: the
extension if it loads or builds, else the reference), overridable at run time with ``set_backend()``.
``extension`` raises if the compiled op cannot be loaded. ``cuda_emulated`` is a test backend, never chosen by
auto: the CUDA kernels compiled for the CPU on the project's CUDA emulation (``_build_emulated``), for CPU
tensors of float64, float32, float16 and bfloat16 (fp32 accumulation); it raises when unavailable.

float16 outputs saturate to +-inf where a leaky-ReLU'd channel sum exceeds the half range (|v| > 65504); the
compiled kernels accumulate in fp32, so only the final value must fit. The default weights' correlations stay
below ~10 (level 3), far inside it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Optional

import torch

from lfn2_ros.ops.reference import check_correlation_args, correlation_reference

BACKENDS = ('auto', 'extension', 'reference', 'cuda_emulated')

_lock = threading.Lock()
_backend_override: Optional[str] = None
_registered: set[str] = set()
_warned: set[str] = set()
# (backend, device type) -> op namespace (torch.ops.lfn2 / torch.ops.lfn2_emu) or None for the reference;
# deciding costs ~15 us of Python per call, much of level 6
_decisions: dict[tuple[str, str], Optional[object]] = {}


def set_backend(name: Optional[str]) -> None:
    """Force the correlation backend for this process.

    Args:
        name: 'auto', 'extension', 'reference', 'cuda_emulated' (tests), or None to follow
            LFN2_CORRELATION_BACKEND again.

    Raises:
        ValueError: for an unknown name.

    """
    global _backend_override
    if name is not None and name not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS} or None, got {name!r}')
    with _lock:
        _backend_override = name
        _warned.clear()
        _decisions.clear()


@contextlib.contextmanager
def use_backend(name: Optional[str]) -> Iterator[None]:
    """Force the correlation backend inside a ``with`` block; the previous setting returns on exit.

    Args:
        name: as for :func:`set_backend`.

    """
    global _backend_override
    with _lock:
        previous = _backend_override
    set_backend(name)
    try:
        yield
    finally:
        with _lock:
            _backend_override = previous


def get_backend() -> str:
    """Return the requested backend name (one of ``BACKENDS``)."""
    name = _backend_override
    if name is None:
        name = os.environ.get('LFN2_CORRELATION_BACKEND', 'auto')
    name = name.strip().lower() or 'auto'
    if name not in BACKENDS:
        raise ValueError(f'LFN2_CORRELATION_BACKEND must be one of {BACKENDS}, got {name!r}')
    return name


def _warn_once(key: str, message: str) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _load_extension() -> tuple[bool, str]:
    """Load (or build) the compiled ops and register their autograd/fake kernels once."""
    from lfn2_ros.ops import _build

    ok, message = _build.load()
    if ok:
        _register_python_kernels('lfn2')
    return ok, message


def _load_emulated() -> tuple[bool, str]:
    """Load (or build) the CUDA kernels on the CPU emulation (torch.ops.lfn2_emu)."""
    from lfn2_ros.ops import _build_emulated

    ok, message = _build_emulated.load()
    if ok:
        _register_python_kernels('lfn2_emu')
    return ok, message


def _ops_for(device: torch.device) -> Optional[object]:
    """Op namespace for tensors on ``device`` (None: the reference), decided once per backend and device."""
    backend = get_backend()
    key = (backend, device.type)
    if key not in _decisions:
        _decisions[key] = _decide_backend(backend, device)
    return _decisions[key]


def _decide_backend(backend: str, device: torch.device) -> Optional[object]:
    """Decide the backend for tensors on ``device``, warning once when falling back to the reference."""
    if backend == 'reference':
        _warn_once('forced', 'lfn2 correlation: using the pure-PyTorch reference (backend forced to '
                   "'reference' by LFN2_CORRELATION_BACKEND or set_backend)")
        return None
    if backend == 'cuda_emulated':
        return _decide_emulated(device)
    ok, message = _load_extension()
    if not ok:
        if backend == 'extension':
            raise RuntimeError(f'lfn2 correlation: backend forced to extension but unavailable: {message}')
        _warn_once('build', f'lfn2 correlation: compiled extension unavailable ({message}); '
                   'falling back to the pure-PyTorch reference')
        return None
    if device.type == 'meta' or _has_kernel(device.type):
        return torch.ops.lfn2
    if backend == 'extension':
        raise RuntimeError(f'lfn2 correlation: the extension has no {device.type} kernel (built without '
                           'CUDA? see scripts/build_ext.py)')
    _warn_once(f'device:{device.type}', f'lfn2 correlation: the extension has no {device.type} kernel; '
               'falling back to the pure-PyTorch reference')
    return None


def _decide_emulated(device: torch.device) -> object:
    """The emulated CUDA kernels run CPU (and meta) tensors only; a test backend never falls back."""
    if device.type not in ('cpu', 'meta'):
        raise RuntimeError(f"lfn2 correlation: backend 'cuda_emulated' runs the CUDA kernels on CPU tensors, "
                           f'got {device.type} tensors')
    ok, message = _load_emulated()
    if not ok:
        raise RuntimeError(f"lfn2 correlation: backend 'cuda_emulated' unavailable: {message}")
    return torch.ops.lfn2_emu


def _has_kernel(device_type: str, library: str = 'lfn2') -> bool:
    return torch._C._dispatch_has_kernel_for_dispatch_key(f'{library}::correlation', device_type.upper())


def has_extension() -> bool:
    """Return True when correlation() runs the compiled extension (loading or building it if needed)."""
    backend = get_backend()
    if backend == 'reference':
        return False
    if backend == 'cuda_emulated':
        return _load_emulated()[0]
    return _load_extension()[0]


def _check_args(f1: torch.Tensor, f2: torch.Tensor, flow: Optional[torch.Tensor], max_displacement: int,
                stride: int, dilation_patch: int, negative_slope: float) -> None:
    check_correlation_args(f1, f2, flow, max_displacement, stride, dilation_patch)
    # The backward reads the sign of the output to undo the leaky ReLU, which needs a slope >= 0.
    if negative_slope < 0:
        raise ValueError(f'negative_slope must be >= 0, got {negative_slope}')


def correlation(
    f1: torch.Tensor,
    f2: torch.Tensor,
    flow: Optional[torch.Tensor] = None,
    *,
    max_displacement: int = 3,
    stride: int = 1,
    dilation_patch: int = 1,
    negative_slope: float = 0.1,
) -> torch.Tensor:
    """Leaky-ReLU'd local correlation of f1 with f2, optionally warped by ``flow`` first (one fused pass).

    out[n, ph*P + pw, oh, ow] = lrelu(sum_c f1[n, c, y, x] * W[n, c, y + dy, x + dx]) with y = oh*stride,
    x = ow*stride, (dy, dx) = ((ph - md) * dilation_patch, (pw - md) * dilation_patch), P = 2*md + 1, and 0
    where the displaced position leaves the image (raw channel sum, docs/extension.md#definition). W is f2,
    or with a flow its masked warp (docs/extension.md#fused-warp): W[:, :, q] = bilinear f2 at
    q + flow[:, :, q], zeroed when a bilinear tap would leave the image.

    Args:
        f1: (N, C, H, W) float features of the first image.
        f2: (N, C, H, W) float features of the second image, same dtype and device.
        flow: optional (N, 2, H, W) flow in level pixels (channel 0 = +x right, 1 = +y down).
        max_displacement: md; the search window is P x P, P = 2*md + 1.
        stride: output stride (2 at LiteFlowNet2's level 3).
        dilation_patch: spacing of the displacements in pixels (2 at level 3).
        negative_slope: leaky ReLU slope, >= 0.

    Returns:
        (N, P*P, ceil(H/stride), ceil(W/stride)) tensor of f1's dtype; differentiable w.r.t. f1, f2 and flow.

    Raises:
        ValueError: on inconsistent shapes or parameters.

    """
    _check_args(f1, f2, flow, max_displacement, stride, dilation_patch, negative_slope)
    if flow is not None and flow.dtype != f1.dtype:
        flow = flow.to(f1.dtype)
    ops = _ops_for(f1.device)
    if ops is not None:
        return ops.correlation(f1, f2, flow, int(max_displacement), int(stride), int(dilation_patch),
                               float(negative_slope))
    return correlation_reference(f1, f2, flow, max_displacement=max_displacement, stride=stride,
                                 dilation_patch=dilation_patch, negative_slope=negative_slope)


# ----------------------------------------------------------------------------------------------------
# Fake kernels and autograd of the compiled ops (registered once, after the library is loaded).

def _fake_correlation(f1, f2, flow, max_displacement, stride, dilation_patch, negative_slope):
    n, _, h, w = f1.shape
    p = 2 * max_displacement + 1
    return f1.new_empty((n, p * p, (h + stride - 1) // stride, (w + stride - 1) // stride))


def _fake_correlation_backward(grad_out, out, f1, f2, flow, max_displacement, stride, dilation_patch,
                               negative_slope):
    grad_flow = torch.empty_like(flow, memory_format=torch.contiguous_format) if flow is not None \
        else f1.new_empty((0,))
    return (torch.empty_like(f1, memory_format=torch.contiguous_format),
            torch.empty_like(f2, memory_format=torch.contiguous_format), grad_flow)


def _setup_context(ctx, inputs, output):
    f1, f2, flow, max_displacement, stride, dilation_patch, negative_slope = inputs
    ctx.save_for_backward(f1, f2, flow, output)
    ctx.params = (max_displacement, stride, dilation_patch, negative_slope)
    ctx.has_flow = flow is not None


def _make_backward(library: str):
    def backward(ctx, grad_out):
        f1, f2, flow, out = ctx.saved_tensors
        grad_f1, grad_f2, grad_flow = getattr(torch.ops, library).correlation_backward(
            grad_out.contiguous(), out, f1, f2, flow if ctx.has_flow else None, *ctx.params)
        return grad_f1, grad_f2, (grad_flow if ctx.has_flow else None), None, None, None, None

    return backward


def _register_python_kernels(library: str) -> None:
    """Register the fake kernels and autograd of ``<library>::correlation`` (lfn2 or lfn2_emu) once."""
    with _lock:
        if library in _registered:
            return
        torch.library.register_fake(f'{library}::correlation')(_fake_correlation)
        torch.library.register_fake(f'{library}::correlation_backward')(_fake_correlation_backward)
        torch.library.register_autograd(f'{library}::correlation', _make_backward(library),
                                        setup_context=_setup_context)
        _registered.add(library)
