# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The CUDA execution-model emulation itself (csrc/emu/), and the emulated kernels under AddressSanitizer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lfn2_ros.ops import _build_emulated

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 64  # threads per block of the self-test kernels


@pytest.fixture(scope='module')
def emu():
    ok, message = _build_emulated.load()
    assert ok, message
    return torch.ops.lfn2_emu


def test_syncthreads_is_a_barrier(emu):
    """Each thread reads its neighbour's shared-memory slot after the barrier: all written, none poisoned."""
    out = emu.emulation_selftest('barrier').view(4, BLOCK)
    expected = torch.stack([1000.0 * b + (torch.arange(BLOCK) + 1) % BLOCK for b in range(4)])
    assert torch.equal(out, expected)


def test_atomic_add_counts_every_thread(emu):
    out = emu.emulation_selftest('atomic')
    assert out[0].item() == 3 * BLOCK * 10


def test_unwritten_shared_memory_reads_as_nan(emu):
    assert torch.isnan(emu.emulation_selftest('uninitialised')[0])


def test_divergent_syncthreads_is_an_error(emu):
    with pytest.raises(RuntimeError, match='not reached by every thread'):
        emu.emulation_selftest('divergent')
    emu.emulation_selftest('barrier')  # the emulation recovers


def test_launch_limits_are_checked(emu):
    with pytest.raises(RuntimeError, match='launch_bounds'):
        emu.emulation_selftest('over_bound')
    with pytest.raises(RuntimeError, match='shared memory'):
        emu.emulation_selftest('smem_limit')


def _run_asan(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python with the ASan runtime preloaded and the ASan build of the emulated kernels."""
    try:
        env = _build_emulated.asan_environment()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT), env.get('PYTHONPATH', '')])
    env['OMP_NUM_THREADS'] = '1'
    prelude = textwrap.dedent('''
        import os
        os.environ.pop('LD_PRELOAD')  # the compiler and ninja run without the ASan runtime
        import torch
        from lfn2_ros.ops import _build_emulated
        ok, message = _build_emulated.load(asan=True)
        assert ok, message
        E = torch.ops.lfn2_emu
    ''')
    return subprocess.run([sys.executable, '-c', prelude + textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_kernels_are_clean_under_address_sanitizer():
    """Forward and backward of the four level configs (with and without a flow, 1-px sides, fp16) under ASan:
    any out-of-bounds shared- or global-memory access aborts the subprocess."""
    result = _run_asan('''
        from lfn2_ros.ops.reference import correlation_reference
        torch.manual_seed(0)
        cases = [(2, 192, 3, 1, 1, 5, 18), (1, 128, 3, 1, 1, 4, 17), (1, 96, 3, 1, 1, 3, 9),
                 (2, 64, 3, 2, 2, 9, 19), (1, 5, 4, 3, 2, 1, 7), (1, 3, 1, 1, 1, 6, 1), (1, 3, 1, 1, 1, 1, 1)]
        for n, c, md, s, d, h, w in cases:
            f1, f2 = 0.5 * torch.randn(2, n, c, h, w)
            for flow in (None, 3 * torch.randn(n, 2, h, w)):
                for dtype in (torch.float32, torch.float16):
                    a, b = f1.to(dtype), f2.to(dtype)
                    fl = None if flow is None else flow.to(dtype)
                    out = E.correlation(a, b, fl, md, s, d, 0.1)
                    ref = correlation_reference(a.float(), b.float(), None if fl is None else fl.float(),
                                                max_displacement=md, stride=s, dilation_patch=d)
                    assert (out.float() - ref).abs().max() < 2e-2 * max(1, ref.abs().max()), (n, c, h, w)
                    E.correlation_backward(torch.randn_like(out), out, a, b, fl, md, s, d, 0.1)
        print('asan clean')
    ''')
    assert result.returncode == 0 and 'asan clean' in result.stdout, result.stderr[-4000:]


@pytest.mark.slow
def test_address_sanitizer_catches_a_shared_memory_overrun():
    """The harness is live: a read past the launch's dynamic shared memory aborts with an ASan report."""
    result = _run_asan('''
        E.emulation_selftest('smem_oob')
        print('not caught')
    ''')
    assert result.returncode != 0 and 'not caught' not in result.stdout
    report = result.stderr
    assert 'AddressSanitizer' in report and 'heap-buffer-overflow' in report, report[-4000:]
