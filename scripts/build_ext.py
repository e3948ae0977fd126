#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Prebuild the lfn2 correlation extension into the torch extensions cache (``make ext``).

The CPU kernels are always compiled; the CUDA kernels when torch is a CUDA build and a toolkit is found
(``--cuda yes|no`` forces it). The library lands where ``lfn2_ros.ops.correlation`` will look for it on first
use (``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions/<py>_<cu>``), so later imports do not
compile. ``--check`` then compares the CPU kernel with the pure-PyTorch reference and lists the backends.

Usage: python scripts/build_ext.py [--cuda auto|yes|no] [--check] [--quiet]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault('MAX_JOBS', '1')
os.environ.setdefault('OMP_NUM_THREADS', '1')


def _check() -> None:
    import torch

    from lfn2_ros.ops.reference import correlation_reference

    torch.manual_seed(0)
    f1, f2 = 0.5 * torch.randn(2, 1, 16, 9, 11)
    flow = 3 * torch.randn(1, 2, 9, 11) + 0.3
    for kw in ({}, {'stride': 2, 'dilation_patch': 2}):
        s, d = kw.get('stride', 1), kw.get('dilation_patch', 1)
        out = torch.ops.lfn2.correlation(f1, f2, flow, 3, s, d, 0.1)
        diff = (out - correlation_reference(f1, f2, flow, **kw)).abs().max().item()
        print(f'lfn2 ext: CPU kernel vs reference {kw or "stride 1"}: max |diff| = {diff:.2e}')
        if diff > 1e-5:
            raise SystemExit('lfn2 ext: CPU kernel disagrees with the reference')
    backends = [k for k in ('CPU', 'CUDA')
                if torch._C._dispatch_has_kernel_for_dispatch_key('lfn2::correlation', k)]
    print(f'lfn2 ext: kernels registered for {backends}')


def main() -> int:
    """Build (and optionally check) the extension."""
    from lfn2_ros.ops import _build

    parser = argparse.ArgumentParser(description='Prebuild the lfn2 correlation extension.')
    parser.add_argument('--cuda', choices=('auto', 'yes', 'no'), default='auto')
    parser.add_argument('--check', action='store_true', help='compare the CPU kernel with the reference')
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args()
    rc = _build.main(['--cuda', args.cuda] + (['--quiet'] if args.quiet else []))
    if args.check:
        _check()
    return rc


if __name__ == '__main__':
    sys.exit(main())
