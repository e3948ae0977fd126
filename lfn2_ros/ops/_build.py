# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Loading (and, when needed, building) the compiled lfn2 correlation ops.

Order: an importable prebuilt module ``lfn2_ros.ops._C`` (e.g. from a packaged build); otherwise a JIT build
of ``csrc/`` with ``torch.utils.cpp_extension.load`` into its cache (``$TORCH_EXTENSIONS_DIR``, default
``~/.cache/torch_extensions/<py>_<cu>``). Ninja only recompiles when a source or a flag changed, so after the
first build (about 30 s on CPU) a new process just loads the cached library.

CUDA sources are compiled only when torch is a CUDA build AND a CUDA toolkit (nvcc) is found, never because a
GPU is visible (docs/extension.md#building). ``LFN2_BUILD_CUDA=1|0`` forces the decision.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Optional

import torch

CSRC = Path(__file__).resolve().parent / 'csrc'

# -ffp-contract=off: keep a*b+c as two roundings so the warp's weights and mask match grid_sample exactly
# (see csrc/correlation_index.h); the SIMD loops lose little (mul and add issue on separate ports).
CXX_FLAGS = ['-O3', '-std=c++17', '-ffp-contract=off', '-fopenmp',
             '-Wall', '-Wno-unknown-pragmas', '-Wno-psabi']
NVCC_FLAGS = ['-O3', '-std=c++20', '-lineinfo']
LD_FLAGS = ['-fopenmp']

_lock = threading.Lock()
_state: dict[str, object] = {}


def _torch_needs_cxx20() -> bool:
    major, minor = (int(v) for v in torch.__version__.split('+')[0].split('.')[:2])
    return (major, minor) >= (2, 14)


def cxx_flags() -> list[str]:
    """Host C++ flags for the current torch."""
    flags = list(CXX_FLAGS)
    if _torch_needs_cxx20():
        flags[flags.index('-std=c++17')] = '-std=c++20'
    return flags


def find_cuda_home() -> Optional[str]:
    """Return the CUDA toolkit root to build with, or None.

    Honours CUDA_HOME / CUDA_PATH, else resolves ``nvcc`` on PATH. A wrapper script such as
    /usr/local/bin/nvcc would make torch guess /usr/local (which has no lib64/libcudart), so the candidate
    must contain bin/nvcc and include/cuda_runtime.h; else /usr/local/cuda and /usr/local/cuda-* are tried.
    """
    candidates = [os.environ.get('CUDA_HOME'), os.environ.get('CUDA_PATH')]
    nvcc = shutil.which('nvcc')
    if nvcc:
        candidates.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    candidates.append('/usr/local/cuda')
    candidates.extend(sorted(glob.glob('/usr/local/cuda-*'), reverse=True))
    for cand in candidates:
        root = Path(cand) if cand else None
        if root and (root / 'bin' / 'nvcc').exists() and (root / 'include' / 'cuda_runtime.h').exists():
            return cand
    return None


def want_cuda() -> tuple[bool, str]:
    """Decide whether to compile the CUDA kernels; returns (decision, reason)."""
    forced = os.environ.get('LFN2_BUILD_CUDA')
    if forced in ('0', '1'):
        return forced == '1', f'LFN2_BUILD_CUDA={forced}'
    if torch.version.cuda is None:
        return False, 'torch is a CPU-only build'
    if find_cuda_home() is None:
        return False, 'no CUDA toolkit (nvcc) found; set CUDA_HOME'
    return True, f'torch CUDA {torch.version.cuda} and toolkit at {find_cuda_home()}'


def sources(with_cuda: bool) -> list[str]:
    """Source files of the extension."""
    srcs = [CSRC / 'correlation.cpp', CSRC / 'cpu' / 'correlation_kernel.cpp',
            CSRC / 'cpu' / 'correlation_rows.cpp']
    if with_cuda:
        srcs.append(CSRC / 'cuda' / 'correlation_kernel.cu')
    return [str(s) for s in srcs]


def build(verbose: bool = False, with_cuda: Optional[bool] = None) -> str:
    """JIT-build (or reuse the cached build of) the extension and load it into torch.ops.

    Args:
        verbose: print the compiler commands.
        with_cuda: compile the CUDA kernels; None decides with want_cuda().

    Returns:
        The name of the loaded library ('lfn2_ops_cpu' or 'lfn2_ops_cuda').

    Raises:
        Exception: whatever the compiler or the loader raised.

    """
    from torch.utils import cpp_extension

    if with_cuda is None:
        with_cuda = want_cuda()[0]
    name = 'lfn2_ops_cuda' if with_cuda else 'lfn2_ops_cpu'
    kwargs = {}
    if with_cuda:
        home = find_cuda_home()
        if home is None:
            raise RuntimeError('CUDA build requested but no CUDA toolkit found; set CUDA_HOME')
        # cpp_extension reads its module-level CUDA_HOME (guessed at import time, possibly wrong: see above).
        cpp_extension.CUDA_HOME = home
        os.environ.setdefault('CUDA_HOME', home)
        kwargs['extra_cuda_cflags'] = NVCC_FLAGS
    os.environ.setdefault('MAX_JOBS', '1')
    cpp_extension.load(
        name=name,
        sources=sources(with_cuda),
        extra_cflags=cxx_flags(),
        extra_ldflags=LD_FLAGS,
        extra_include_paths=[str(CSRC)],
        with_cuda=with_cuda,
        is_python_module=False,
        verbose=verbose,
        **kwargs,
    )
    return name


def load() -> tuple[bool, str]:
    """Load the compiled ops once per process: prebuilt module first, else JIT build.

    Returns:
        (loaded, message): message names the loaded library, or the cause of the failure.

    """
    with _lock:
        if 'result' in _state:
            return _state['result']  # type: ignore[return-value]
        try:
            import lfn2_ros.ops._C  # noqa: F401  (prebuilt; importing registers torch.ops.lfn2)

            result = (True, 'prebuilt lfn2_ros.ops._C')
        except ImportError:
            try:
                result = (True, build())
            except Exception as exc:  # noqa: BLE001  (any build/load failure means: use the reference)
                msg = str(exc).strip().splitlines()
                result = (False, f'{type(exc).__name__}: {msg[-1] if msg else exc!r}')
        _state['result'] = result
        return result


def main(argv: Optional[list[str]] = None) -> int:
    """Build the extension into the JIT cache (used by scripts/build_ext.py)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cuda', choices=('auto', 'yes', 'no'), default='auto')
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args(argv)
    with_cuda, reason = want_cuda() if args.cuda == 'auto' else (args.cuda == 'yes', f'--cuda {args.cuda}')
    print(f'lfn2 ext: CUDA kernels {"on" if with_cuda else "off"} ({reason})', flush=True)
    name = build(verbose=not args.quiet, with_cuda=with_cuda)
    ops = [op for op in ('correlation', 'correlation_backward') if hasattr(torch.ops.lfn2, op)]
    print(f'lfn2 ext: loaded {name}; ops: {ops}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
