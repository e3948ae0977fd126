# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Build and load the CUDA kernels compiled for the CPU on the project's CUDA emulation (a test backend).

``csrc/emu/correlation_emulated.cpp`` compiles the ``__global__`` kernels and the host launch code of the
CUDA build (``csrc/cuda/correlation_cuda_kernels.h``, ``correlation_cuda_host.h``) with g++, on the
execution-model emulation of ``csrc/emu/cuda_emulation.h``, and registers them as ``torch.ops.lfn2_emu``
(CPU tensors). It is a separate JIT extension from the production one, so both can be loaded at once.

With ``asan=True`` the library is built with AddressSanitizer, so that an out-of-bounds shared or global
memory access aborts the process. Such a library only loads into a process that starts with the ASan
runtime (``LD_PRELOAD``, see :func:`asan_environment`): tests run it in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Optional

from lfn2_ros.ops._build import CSRC, cxx_flags

_lock = threading.Lock()
_state: dict[bool, tuple[bool, str]] = {}

SOURCES = [CSRC / 'emu' / 'correlation_emulated.cpp', CSRC / 'emu' / 'emulation_selftest.cpp']


def _flags(asan: bool) -> list[str]:
    """g++ flags: the production ones, C++20 (std::atomic_ref), no OpenMP; with ASan unoptimised and -g."""
    flags = [f for f in cxx_flags() if f not in ('-fopenmp', '-O3') and not f.startswith('-std=')]
    flags += ['-std=c++20', '-pthread']
    if asan:
        flags += ['-O1', '-g', '-fsanitize=address', '-fno-omit-frame-pointer', '-fno-sanitize-recover=all']
    else:
        flags += ['-O2']
    return flags


def library_name(asan: bool = False) -> str:
    """Name of the JIT extension (its directory under $TORCH_EXTENSIONS_DIR)."""
    return 'lfn2_ops_cuda_emulated_asan' if asan else 'lfn2_ops_cuda_emulated'


def build(asan: bool = False, verbose: bool = False) -> str:
    """JIT-build (or reuse) the emulated-CUDA library and load it into ``torch.ops.lfn2_emu``.

    Args:
        asan: build with AddressSanitizer (the process must have the ASan runtime preloaded).
        verbose: print the compiler commands.

    Returns:
        The library name.

    Raises:
        Exception: whatever the compiler or the loader raised.

    """
    from torch.utils import cpp_extension

    os.environ.setdefault('MAX_JOBS', '1')
    name = library_name(asan)
    cpp_extension.load(
        name=name,
        sources=[str(s) for s in SOURCES],
        extra_cflags=_flags(asan),
        extra_ldflags=['-pthread'] + (['-fsanitize=address'] if asan else []),
        extra_include_paths=[str(CSRC)],
        with_cuda=False,
        is_python_module=False,
        verbose=verbose,
    )
    return name


def load(asan: bool = False) -> tuple[bool, str]:
    """Build (if needed) and load the library once per process.

    Args:
        asan: the AddressSanitizer build (see :func:`build`).

    Returns:
        (loaded, message): message names the library or the cause of the failure.

    """
    with _lock:
        if asan in _state:
            return _state[asan]
        try:
            result = (True, build(asan=asan))
        except Exception as exc:  # noqa: BLE001  (reported to the caller, which decides whether to raise)
            lines = str(exc).strip().splitlines()
            result = (False, f'{type(exc).__name__}: {lines[-1] if lines else exc!r}')
        _state[asan] = result
        return result


def asan_runtime() -> Optional[str]:
    """Path of the compiler's shared ASan runtime (libasan.so), or None when g++ has none."""
    try:
        path = subprocess.run(['g++', '-print-file-name=libasan.so'], capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return path if os.path.isabs(path) and os.path.exists(path) else None


def asan_environment(base: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Environment for a Python subprocess that loads the ASan build.

    The ASan runtime must come first in the library list. Leak checking is off (CPython and torch keep
    allocations alive until exit); any error aborts with a non-zero status.

    Args:
        base: environment to extend (default: ``os.environ``).

    Returns:
        The environment.

    Raises:
        RuntimeError: when g++ has no shared ASan runtime.

    """
    runtime = asan_runtime()
    if runtime is None:
        raise RuntimeError('g++ has no shared AddressSanitizer runtime (libasan.so)')
    env = dict(os.environ if base is None else base)
    env['LD_PRELOAD'] = runtime
    env['ASAN_OPTIONS'] = 'detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1'
    return env
