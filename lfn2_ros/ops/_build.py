# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Loading the compiled lfn2 correlation ops: the module built with the package, else a JIT build.

Order (README, "The compiled extension"):

1. ``lfn2_ros.ops._C``, compiled by ``setup.py`` (``colcon build``, ``pip install .``). Its file embeds the
   hash of the sources and flags it was built from; when ``csrc/`` next to it hashes differently (a source
   tree edited after its build) the module is not imported, because the two would register the same op
   namespace.
2. In a source tree only (``setup.py`` beside the package), or with ``LFN2_JIT=1``: a JIT build of ``csrc/``
   with ``torch.utils.cpp_extension.load``. Its build directory is named after the same hash, so two
   checkouts with different sources never share (and never rebuild) one directory. An installed package
   never compiles at run time (``LFN2_JIT=0`` forbids it everywhere).

A JIT build holds an ``flock`` on ``<build dir>/.lfn2_build.lock`` while it compiles. The kernel drops that
lock when its holder dies, so a torch ``lock`` file found while holding it was left by a killed build and is
removed (torch itself would wait for it forever). Waiting for a live builder is bounded by
``LFN2_BUILD_WAIT_S``.
:func:`build_status` says what is happening, for the node's diagnostics.

CUDA sources are compiled only when torch is a CUDA build AND a CUDA toolkit (nvcc) is found, never because a
GPU is visible (docs/extension.md#building); ``LFN2_BUILD_CUDA=1|0`` forces the decision (for setup.py and
the JIT alike).
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import torch

CSRC = Path(__file__).resolve().parent / 'csrc'
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

# No -std flag: torch's cpp_extension adds the standard its headers need (c++17 or c++20 by version), and a
# flag of ours would come after it and win.
# -ffp-contract=off: keep a*b+c as two roundings so the warp's weights and mask match grid_sample exactly
# (see csrc/correlation_index.h); the SIMD loops lose little (mul and add issue on separate ports).
CXX_FLAGS = ['-O3', '-ffp-contract=off', '-fopenmp', '-Wall', '-Wno-unknown-pragmas', '-Wno-psabi']
NVCC_FLAGS = ['-O3', '-lineinfo']
LD_FLAGS = ['-fopenmp']
SOURCE_SUFFIXES = ('.h', '.cuh', '.cpp', '.cu')
HASH_MARKER = re.compile(rb'LFN2_SOURCES_HASH:h([0-9a-f]{64})')

log = logging.getLogger('lfn2_ros.ops')

_lock = threading.Lock()
_state: dict[str, object] = {}


@dataclasses.dataclass(frozen=True)
class BuildStatus:
    """What the loader is doing.

    Attributes:
        state: 'idle' (nothing tried yet), 'waiting' (another process is compiling), 'compiling',
            'loaded' or 'failed'.
        message: a human-readable detail (library name, build directory, or the cause of a failure).
        since: time.monotonic() when the state was entered.

    """

    state: str
    message: str
    since: float


_status = BuildStatus('idle', 'the compiled extension has not been loaded yet', time.monotonic())


def build_status() -> BuildStatus:
    """Return the loader's current state (thread-safe; cheap enough to poll at 1 Hz)."""
    return _status


def _set_status(state: str, message: str) -> None:
    global _status
    _status = BuildStatus(state, message, time.monotonic())


def cxx_flags() -> list[str]:
    """Host C++ flags (torch adds the -std flag its headers need)."""
    return list(CXX_FLAGS)


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
    forced = os.environ.get('LFN2_BUILD_CUDA', '').strip()
    if forced in ('0', '1'):
        return forced == '1', f'LFN2_BUILD_CUDA={forced}'
    if forced:
        raise ValueError(f'LFN2_BUILD_CUDA must be 0 or 1, got {forced!r}')
    if torch.version.cuda is None:
        return False, 'torch is a CPU-only build'
    if find_cuda_home() is None:
        return False, 'no CUDA toolkit (nvcc) found; set CUDA_HOME to the toolkit directory'
    return True, f'torch CUDA {torch.version.cuda} and toolkit at {find_cuda_home()}'


def sources(with_cuda: bool, root: Path = CSRC) -> list[str]:
    """Source files of the extension (absolute paths under ``root``)."""
    srcs = [root / 'correlation.cpp', root / 'cpu' / 'correlation_kernel.cpp',
            root / 'cpu' / 'correlation_rows.cpp']
    if with_cuda:
        srcs.append(root / 'cuda' / 'correlation_kernel.cu')
    return [str(s) for s in srcs]


def sources_hash(root: Path = CSRC) -> Optional[str]:
    """SHA-256 of every source under ``root``, the flags and the torch version; None without sources.

    The same value names the JIT build directory and is embedded in the module setup.py builds, so a build is
    reused exactly when it was made from these sources with these flags for this torch.
    """
    files = sorted(p for p in root.rglob('*') if p.is_file() and p.suffix in SOURCE_SUFFIXES)
    if not files:
        return None
    digest = hashlib.sha256()
    digest.update(f'torch {torch.__version__}\ncxx {CXX_FLAGS}\nnvcc {NVCC_FLAGS}\nld {LD_FLAGS}\n'.encode())
    for path in files:
        digest.update(f'{path.relative_to(root).as_posix()}\n'.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def in_source_tree() -> bool:
    """True when the package is imported from a checkout (``setup.py`` and ``package.xml`` beside it)."""
    return (PACKAGE_ROOT / 'setup.py').is_file() and (PACKAGE_ROOT / 'package.xml').is_file()


def jit_allowed() -> tuple[bool, str]:
    """Whether a missing or stale compiled module may be rebuilt at run time; returns (decision, reason)."""
    forced = os.environ.get('LFN2_JIT', '').strip()
    if forced in ('0', '1'):
        return forced == '1', f'LFN2_JIT={forced}'
    if forced:
        raise ValueError(f'LFN2_JIT must be 0 or 1, got {forced!r}')
    if in_source_tree():
        return True, 'source tree'
    return False, 'installed package (rebuild with colcon build or pip install, or set LFN2_JIT=1)'


def prebuilt_candidates() -> list[Path]:
    """Every compiled ``lfn2_ros.ops._C`` this process could load, in the order they are tried.

    The one beside this file first, then those of other ``lfn2_ros`` trees on ``sys.path``: running the
    tests from a colcon workspace's source directory imports the sources, while ``colcon build`` (without
    ``--symlink-install``) put the module into ``install/``.
    """
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found: list[Path] = []
    others = [Path(entry) / 'lfn2_ros' / 'ops' for entry in sys.path if entry]
    for directory in [Path(__file__).resolve().parent] + others:
        if not directory.is_dir():
            continue
        for candidate in sorted(directory.glob('_C*')):
            resolved = candidate.resolve()
            if candidate.name.endswith(suffixes) and resolved not in found:
                found.append(resolved)
    return found


def _matching_prebuilt(current: Optional[str]) -> tuple[Optional[Path], Optional[str]]:
    """``(library, its embedded hash)``: the first candidate built from ``current``, else the first one."""
    found = [(c, embedded_hash(c)) for c in prebuilt_candidates()]  # each library file read once
    matching = [(c, h) for c, h in found if current is not None and h == current]
    return (matching or found or [(None, None)])[0]


def prebuilt_path() -> Optional[Path]:
    """The first :func:`prebuilt_candidates` entry built from the current sources, else the first entry."""
    return _matching_prebuilt(sources_hash())[0]


def embedded_hash(library: Path) -> Optional[str]:
    """The sources hash a module built by setup.py carries, or None (a module built another way)."""
    match = HASH_MARKER.search(library.read_bytes())
    return match.group(1).decode() if match else None


def jit_build_directory(name: str) -> Path:
    """Where the JIT build named ``name`` lives: ``$TORCH_EXTENSIONS_DIR`` or torch's default root."""
    from torch.utils import cpp_extension

    root = os.environ.get('TORCH_EXTENSIONS_DIR') or cpp_extension.get_default_build_root()
    return Path(root) / name


def _acquire_build_lock(directory: Path, wait_s: float) -> int:
    """Hold an exclusive flock on ``directory``/.lfn2_build.lock, waiting at most ``wait_s`` seconds.

    Returns:
        The lock's file descriptor (close it to release).

    Raises:
        TimeoutError: when another live process held the lock for the whole wait.

    """
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / '.lfn2_build.lock', os.O_RDWR | os.O_CREAT, 0o644)
    start = time.monotonic()
    last_log = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            now = time.monotonic()
            if now - start >= wait_s:
                os.close(fd)
                raise TimeoutError(f'another process has been building the extension in {directory} for over '
                                   f'{wait_s:.0f} s (LFN2_BUILD_WAIT_S)') from None
            if last_log is None or now - last_log >= 30:
                log.warning('lfn2 extension: waiting for another process that is compiling it in %s',
                            directory)
                _set_status('waiting', f'another process is compiling the extension in {directory}')
                last_log = now
            time.sleep(0.2)


def _remove_stale_torch_lock(directory: Path) -> None:
    """Remove torch's ``lock`` file left by a killed build (only called while holding our flock)."""
    stale = directory / 'lock'
    if stale.exists():
        log.warning('lfn2 extension: removing %s, left by a build that was killed', stale)
        stale.unlink(missing_ok=True)


def jit_library_name(prefix: str, sources_: list[str], *, cflags: list[str], ldflags: list[str],
                     with_cuda: bool = False, cuda_cflags: Optional[list[str]] = None) -> str:
    """``<prefix>_<16 hex digits>``, hashing every csrc source, the torch version and these arguments.

    The arguments include the sources' absolute paths: ninja compares the command lines it stored, so two
    checkouts of the same sources sharing one directory would recompile each other's build every time.
    """
    digest = sources_hash()
    if digest is None:
        raise FileNotFoundError(f'no extension sources in {CSRC}')
    key = f'{digest}\n{sorted(sources_)}\n{cflags}\n{ldflags}\n{with_cuda}\n{cuda_cflags}'
    return f'{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:16]}'


def production_library_name(with_cuda: bool = False) -> str:
    """The JIT name of the production library (what :func:`build` loads)."""
    return jit_library_name(f'lfn2_ops_{"cuda" if with_cuda else "cpu"}', sources(with_cuda),
                            cflags=cxx_flags(), ldflags=LD_FLAGS, with_cuda=with_cuda, cuda_cflags=NVCC_FLAGS)


def jit_load(prefix: str, sources_: list[str], *, cflags: list[str], ldflags: list[str],
             with_cuda: bool = False, cuda_cflags: Optional[list[str]] = None, verbose: bool = False) -> str:
    """JIT-build (or reuse) a library of ``csrc/`` sources in a hash-named directory, under the build lock.

    Args:
        prefix: the library's name without the hash, e.g. ``lfn2_ops_cpu``.
        sources_: its source files.
        cflags: host compiler flags (torch adds the C++ standard).
        ldflags: linker flags.
        with_cuda: compile ``.cu`` sources with nvcc.
        cuda_cflags: nvcc flags.
        verbose: print the compiler commands.

    Returns:
        The library name, ``<prefix>_<16 hex digits>``: a hash of every csrc source, these flags and torch.

    Raises:
        TimeoutError: another process kept compiling for longer than ``LFN2_BUILD_WAIT_S`` (default 900 s).
        Exception: whatever the compiler or the loader raised.

    """
    from torch.utils import cpp_extension

    name = jit_library_name(prefix, sources_, cflags=cflags, ldflags=ldflags, with_cuda=with_cuda,
                            cuda_cflags=cuda_cflags)
    directory = jit_build_directory(name)
    before = _status
    try:
        fd = _acquire_build_lock(directory, float(os.environ.get('LFN2_BUILD_WAIT_S', '900')))
    except BaseException:  # a wait that timed out: load() records the failure, nothing waits any more
        _set_status(before.state, before.message)
        raise
    try:
        _remove_stale_torch_lock(directory)
        if not (directory / f'{name}.so').exists():
            log.warning('lfn2 extension: compiling %s into %s (1-2 min on a 2-core CPU; colcon build or pip '
                        'install compile the production kernels once, ahead of time)', prefix, directory)
            _set_status('compiling', f'compiling the correlation extension into {directory}')
        os.environ.setdefault('MAX_JOBS', '1')
        # Copies: torch appends its libraries to extra_ldflags in place, which would change LD_FLAGS and with
        # it the name (and directory) of every later build in this process.
        kwargs = {'extra_cuda_cflags': list(cuda_cflags)} if with_cuda and cuda_cflags else {}
        cpp_extension.load(name=name, sources=list(sources_), extra_cflags=list(cflags),
                           extra_ldflags=list(ldflags),
                           extra_include_paths=[str(CSRC)], build_directory=str(directory),
                           with_cuda=with_cuda, is_python_module=False, verbose=verbose, **kwargs)
    finally:
        os.close(fd)
        # The status describes the production extension for the node's diagnostics: a finished build (or
        # one of the emulated test backend) must not leave it saying 'compiling'; load() records the result.
        _set_status(before.state, before.message)
    return name


def build(verbose: bool = False, with_cuda: Optional[bool] = None) -> str:
    """JIT-build (or reuse the build with the same hash of) the production extension into torch.ops.lfn2.

    Args:
        verbose: print the compiler commands.
        with_cuda: compile the CUDA kernels; None decides with want_cuda().

    Returns:
        The name of the loaded library, ``lfn2_ops_<cpu|cuda>_<hash prefix>``.

    Raises:
        TimeoutError: another process kept compiling for longer than ``LFN2_BUILD_WAIT_S`` (default 900 s).
        Exception: whatever the compiler or the loader raised.

    """
    from torch.utils import cpp_extension

    if with_cuda is None:
        with_cuda = want_cuda()[0]
    if with_cuda:
        home = find_cuda_home()
        if home is None:
            raise RuntimeError('CUDA build requested but no CUDA toolkit found; set CUDA_HOME')
        # cpp_extension reads its module-level CUDA_HOME (guessed at import time, possibly wrong: see above).
        cpp_extension.CUDA_HOME = home
        os.environ.setdefault('CUDA_HOME', home)
    return jit_load(f'lfn2_ops_{"cuda" if with_cuda else "cpu"}', sources(with_cuda), cflags=cxx_flags(),
                    ldflags=LD_FLAGS, with_cuda=with_cuda, cuda_cflags=NVCC_FLAGS, verbose=verbose)


def _import_module_file(library: Path) -> None:
    """Import ``library`` as ``lfn2_ros.ops._C`` (importing registers torch.ops.lfn2)."""
    spec = importlib.util.spec_from_file_location('lfn2_ros.ops._C', library)
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot import {library}')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules['lfn2_ros.ops._C'] = module


def _load_prebuilt() -> Optional[tuple[bool, str]]:
    """Import the compiled module that matches the sources; None when there is none or it is stale."""
    current = sources_hash()
    library, built = _matching_prebuilt(current)
    if library is None:
        return None
    if current is not None and built != current:
        if jit_allowed()[0]:
            log.warning('lfn2 extension: %s was built from other sources or flags than %s; using a JIT build '
                        'instead (rebuild with colcon build to refresh it)', library, CSRC)
            return None
        log.warning('lfn2 extension: %s does not match the installed sources; loading it anyway', library)
    _import_module_file(library)
    return True, f'prebuilt {library}'


def load() -> tuple[bool, str]:
    """Load the compiled ops once per process: the matching prebuilt module, else a JIT build where allowed.

    Returns:
        (loaded, message): message names the loaded library, or the cause of the failure.

    """
    with _lock:
        if 'result' in _state:
            return _state['result']  # type: ignore[return-value]
        try:
            result = _load_prebuilt()
            if result is None:
                allowed, reason = jit_allowed()
                if not allowed:
                    raise RuntimeError('lfn2_ros.ops._C was not built with the package and JIT builds are '
                                       f'off ({reason})')
                result = (True, build())
        except Exception as exc:  # noqa: BLE001  (any build/load failure means: use the reference)
            lines = str(exc).strip().splitlines()
            result = (False, f'{type(exc).__name__}: {lines[-1] if lines else exc!r}')
        _set_status('loaded' if result[0] else 'failed', result[1])
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
