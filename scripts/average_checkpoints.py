#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Average the weights of checkpoints of one run into one checkpoint (docs/model.md#weight-averaging).

Usage::

    python scripts/average_checkpoints.py --out runs/ft1/averaged.pth runs/ft1_snap/snap_*.pth

The output loads wherever weights load; ``python -m lfn2_ros.train``'s export (or
``lfn2_ros.training.export.export_weights``) turns it into shipped weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lfn2_ros.model.checkpoint import CheckpointError  # noqa: E402
from lfn2_ros.training.averaging import write_average  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Average the given checkpoints into ``--out``; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('checkpoints', nargs='+', type=Path)
    p.add_argument('--out', type=Path, required=True)
    args = p.parse_args(argv)
    try:
        meta = write_average(args.checkpoints, args.out)
    except CheckpointError as exc:
        print(f'average_checkpoints: error: {exc}', file=sys.stderr)
        return 1
    its = [a['iteration'] for a in meta['averaged_from']]
    print(f'{args.out}: mean of {len(its)} checkpoints, iterations {its}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
