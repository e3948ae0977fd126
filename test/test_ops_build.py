# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where the compiled ops come from: the module setup.py builds, the hash-keyed JIT cache, stale locks."""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lfn2_ros.ops import _build

REPO = Path(__file__).resolve().parents[1]


def _run(code: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_sources_hash_follows_every_source_and_nothing_else(tmp_path):
    copy = tmp_path / 'csrc'
    shutil.copytree(_build.CSRC, copy)
    assert _build.sources_hash(copy) == _build.sources_hash()
    (copy / 'notes.txt').write_text('not a source')
    assert _build.sources_hash(copy) == _build.sources_hash()
    header = copy / 'correlation_index.h'
    header.write_text(header.read_text() + '\n// edited\n')
    assert _build.sources_hash(copy) != _build.sources_hash()
    assert _build.sources_hash(tmp_path / 'empty') is None


def test_host_flags_leave_the_standard_to_torch():
    assert not any(flag.startswith('-std=') for flag in _build.cxx_flags() + _build.NVCC_FLAGS)


def test_package_build_made_the_module_and_it_matches_the_sources():
    """colcon build / pip install compile lfn2_ros.ops._C (setup.py); it carries the sources hash."""
    library = _build.prebuilt_path()
    assert library is not None, 'lfn2_ros.ops._C was not built: run colcon build (make setup)'
    assert _build.embedded_hash(library) == _build.sources_hash()


def test_module_built_into_another_tree_on_sys_path_is_found_by_its_hash(monkeypatch, tmp_path):
    """Tests run from a workspace's src/ import the sources; colcon build put _C into install/."""
    import importlib.machinery

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    stale, current = tmp_path / 'a' / 'lfn2_ros' / 'ops', tmp_path / 'b' / 'lfn2_ros' / 'ops'
    for directory, digest in ((stale, '0' * 64), (current, _build.sources_hash())):
        directory.mkdir(parents=True)
        (directory / f'_C{suffix}').write_bytes(b'ELF LFN2_SOURCES_HASH:h' + digest.encode() + b'\0')
    monkeypatch.setattr(sys, 'path', [str(tmp_path / 'a'), str(tmp_path / 'b')] + sys.path)
    candidates = _build.prebuilt_candidates()
    assert stale / f'_C{suffix}' in candidates and current / f'_C{suffix}' in candidates
    chosen = _build.prebuilt_path()
    assert chosen is not None and _build.embedded_hash(chosen) == _build.sources_hash()


@pytest.mark.slow
def test_fresh_process_loads_the_built_module_and_compiles_nothing(tmp_path):
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path / 'jit'), OMP_NUM_THREADS='1')
    proc = _run('''
        from lfn2_ros.ops import _build
        ok, message = _build.load()
        print(ok, message, _build.build_status().state)
    ''', env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ['True', 'prebuilt'], proc.stdout + proc.stderr
    assert not (tmp_path / 'jit').exists() or not any((tmp_path / 'jit').iterdir())


def test_installed_package_never_compiles_at_run_time(monkeypatch, tmp_path):
    monkeypatch.delenv('LFN2_JIT', raising=False)
    monkeypatch.setattr(_build, 'PACKAGE_ROOT', tmp_path)  # no setup.py beside the package
    assert _build.jit_allowed()[0] is False
    monkeypatch.setenv('LFN2_JIT', '1')
    assert _build.jit_allowed()[0] is True
    monkeypatch.setenv('LFN2_JIT', 'yes')
    with pytest.raises(ValueError, match='LFN2_JIT'):
        _build.jit_allowed()


def _fake_torch_load(calls: list):
    """Stand-in for cpp_extension.load that, like torch's FileBaton, cannot proceed while ``lock`` exists."""
    def load(name, build_directory, **kwargs):
        calls.append((name, _build.build_status().state))
        if (Path(build_directory) / 'lock').exists():
            raise AssertionError('torch would wait forever on the stale lock')
    return load


def test_stale_torch_lock_of_a_killed_build_is_removed_with_a_log_line(monkeypatch, tmp_path, caplog):
    from torch.utils import cpp_extension

    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path))
    calls = []
    monkeypatch.setattr(cpp_extension, 'load', _fake_torch_load(calls))
    name = _build.production_library_name()
    directory = tmp_path / name
    # A builder that took our lock and torch's, then was killed: the kernel drops the flock, the file stays.
    holder = subprocess.Popen([sys.executable, '-c', textwrap.dedent(f'''
        import fcntl, os, pathlib, time
        d = pathlib.Path({str(directory)!r}); d.mkdir(parents=True)
        fd = os.open(d / '.lfn2_build.lock', os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        (d / 'lock').touch()
        print('locked', flush=True)
        time.sleep(600)
    ''')], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'locked'
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (directory / 'lock').exists()
    with caplog.at_level('WARNING', logger='lfn2_ros.ops'):
        assert _build.build(with_cuda=False) == name
    assert calls == [(name, 'compiling')]
    assert not (directory / 'lock').exists()
    assert any('left by a build that was killed' in r.getMessage() for r in caplog.records)


def test_live_builder_is_waited_for_with_a_bound(monkeypatch, tmp_path, caplog):
    from torch.utils import cpp_extension

    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path))
    monkeypatch.setenv('LFN2_BUILD_WAIT_S', '1')
    calls = []
    monkeypatch.setattr(cpp_extension, 'load', _fake_torch_load(calls))
    states = []
    set_status = _build._set_status
    monkeypatch.setattr(_build, '_set_status', lambda state, message: (states.append(state),
                                                                        set_status(state, message)))
    directory = tmp_path / _build.production_library_name()
    directory.mkdir()
    fd = os.open(directory / '.lfn2_build.lock', os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's lock is per open file: this one counts as "another"
    try:
        # The wait ends with the bound's own error (LFN2_BUILD_WAIT_S=1), not with a hang.
        with caplog.at_level('WARNING', logger='lfn2_ros.ops'):
            with pytest.raises(TimeoutError, match='LFN2_BUILD'):
                _build.build(with_cuda=False)
    finally:
        os.close(fd)
    assert calls == []
    # 'waiting' while it waited, and not after: load() records the failure for the diagnostics
    assert 'waiting' in states and _build.build_status().state != 'waiting'
    assert any('waiting for another process' in r.getMessage() for r in caplog.records)


def test_a_build_leaves_the_flag_lists_and_so_the_library_name_as_they_were(monkeypatch, tmp_path):
    """torch's load appends its libraries to extra_ldflags in place; a later build must get the same name."""
    from torch.utils import cpp_extension

    def load(extra_cflags, extra_ldflags, **kwargs):
        extra_cflags.append('-DMUTATED')
        extra_ldflags.extend(['-L/torch/lib', '-lc10'])

    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path))
    monkeypatch.setattr(cpp_extension, 'load', load)
    name = _build.production_library_name()
    assert _build.build(with_cuda=False) == name
    assert _build.production_library_name() == name and _build.LD_FLAGS == ['-fopenmp']
    assert '-DMUTATED' not in _build.CXX_FLAGS


def test_stale_prebuilt_module_is_not_imported_in_a_source_tree(monkeypatch, tmp_path):
    library = tmp_path / '_C.so'
    library.write_bytes(b'\0ELF...LFN2_SOURCES_HASH:h' + b'0' * 64 + b'\0')
    monkeypatch.setattr(_build, 'prebuilt_candidates', lambda: [library])
    monkeypatch.delenv('LFN2_JIT', raising=False)
    assert _build._load_prebuilt() is None  # stale: a JIT build of the current sources is used instead


@pytest.mark.slow
def test_real_build_killed_mid_compile_does_not_hang_the_next_one(tmp_path):
    """A JIT build killed while torch holds its lock; the next process builds instead of waiting forever."""
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path), LFN2_JIT='1', MAX_JOBS='1',
               OMP_NUM_THREADS='1')
    code = 'from lfn2_ros.ops import _build; print(_build.build(with_cuda=False), flush=True)'
    # Its own session, so that the kill takes the compiler processes too, as Ctrl-C on a launch would.
    log = (tmp_path / 'first.log').open('w')
    first = subprocess.Popen([sys.executable, '-c', code], env=env, cwd=REPO, stdout=log, stderr=log,
                             start_new_session=True)
    directory = tmp_path / _build.production_library_name()
    # Generous: on a loaded 2-core machine importing torch alone can take tens of seconds.
    deadline = time.monotonic() + 600
    while not (directory / 'lock').exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert (directory / 'lock').exists(), (f'the first build never took torch\'s lock (exit {first.poll()}): '
                                           + (tmp_path / 'first.log').read_text()[-2000:])
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert (directory / 'lock').exists()
    second = _run(code, env, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert 'left by a build that was killed' in second.stderr
    assert second.stdout.strip().startswith('lfn2_ops_cpu_')


def test_a_finished_jit_build_does_not_leave_the_status_compiling():
    """The emulated test backend builds through jit_load too: the node must not report it as compiling."""
    from lfn2_ros.ops import _build_emulated

    ok, message = _build_emulated.load()[:2]
    if not ok:
        pytest.skip(f'emulated backend unavailable: {message}')
    assert _build.build_status().state != 'compiling'
