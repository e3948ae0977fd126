# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where and in which precision the network runs: device and dtype arguments of the tools and the node."""

from __future__ import annotations

import logging

import torch

__all__ = ['cpu_has_fast_bf16', 'parse_dtype', 'resolve_device']

_LOG = logging.getLogger(__name__)

_DTYPES = {
    'float32': torch.float32,
    'fp32': torch.float32,
    'float': torch.float32,
    'float16': torch.float16,
    'fp16': torch.float16,
    'half': torch.float16,
    'bfloat16': torch.bfloat16,
    'bf16': torch.bfloat16,
}


def parse_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """Turn a dtype or its name into one of float32, float16, bfloat16.

    Args:
        dtype: ``torch.float32|float16|bfloat16`` or a name such as ``'float16'``, ``'fp16'``, ``'bf16'``.

    Returns:
        The torch dtype.

    Raises:
        ValueError: any other dtype or name.

    """
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.float16, torch.bfloat16):
            return dtype
    elif isinstance(dtype, str):
        key = dtype.lower().removeprefix('torch.')
        if key in _DTYPES:
            return _DTYPES[key]
    raise ValueError(f'dtype must be float32, float16 or bfloat16, got {dtype!r}')


def resolve_device(device: str | torch.device = 'auto', *, allow_fallback: bool = False) -> torch.device:
    """Resolve a device request.

    Args:
        device: ``'auto'`` (CUDA when available, else CPU), ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a
            torch.device.
        allow_fallback: when CUDA is requested but unavailable, log a warning and use the CPU instead of
            raising.

    Returns:
        The torch.device to run on.

    Raises:
        ValueError: an unknown device string, or CUDA requested but absent (without ``allow_fallback``).

    """
    if isinstance(device, str) and device.strip().lower() == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type == 'cpu':
        return dev
    if dev.type != 'cuda':
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = 0 if dev.index is None else dev.index
    if index < count:
        return dev
    reason = 'CUDA is not available' if count == 0 else f'only {count} CUDA device(s) visible'
    if allow_fallback:
        _LOG.warning('device %r requested but %s; falling back to the CPU', str(device), reason)
        return torch.device('cpu')
    raise ValueError(f'device {str(device)!r} requested but {reason}; use device="cpu" or "auto"')


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bf16 convolutions natively on this CPU (otherwise torch uses slow loops)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
