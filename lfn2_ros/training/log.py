# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training log: one CSV row per logged iteration and a plot of loss, EPE and per-level gradient norms."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ['CSV_FIELDS', 'append_row', 'plot_log']

CSV_FIELDS = (
    'stage',
    'iteration',
    'global_step',
    'lr',
    'loss',
    'train_epe',
    'val_epe',
    'train_photo',
    'val_photo',
    'health',
    'elapsed_s',
    'data_index',
    'steps_per_s',
    'grad_L6',
    'grad_L5',
    'grad_L4',
    'grad_L3',
    'grad_L2',
    'grad_L1',
)


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` (keys of :data:`CSV_FIELDS`, missing ones empty) to the CSV, header first.

    An existing file keeps its own header: a run resumed by a newer version, whose
    :data:`CSV_FIELDS` gained columns, must not write rows that the header does not describe.
    """
    fields: tuple[str, ...] = CSV_FIELDS
    if path.exists() and path.stat().st_size:
        with path.open(newline='') as f:
            fields = tuple(next(csv.reader(f), CSV_FIELDS))
    new = not path.exists() or not path.stat().st_size
    with path.open('a', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction='ignore')
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, '') for k in fields})


def plot_log(csv_path: Path, png_path: Path) -> None:
    """Plot loss, train/held-out EPE and per-level gradient norms against the global step (Agg)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    step = np.array([int(r['global_step']) for r in rows])
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    ax1.semilogy(step, [float(r['loss']) for r in rows])
    ax1.set_xlabel('step')
    ax1.set_ylabel('loss (stage weights)')
    # supervised runs log EPE, self-supervised ones the photometric loss (lfn2_ros.training.tasks)
    supervised = any(r.get('train_epe') for r in rows)
    kind, label = ('epe', 'EPE, px') if supervised else ('photo', 'photometric loss')
    train = [(int(r['global_step']), float(r[f'train_{kind}'])) for r in rows if r.get(f'train_{kind}')]
    ax2.plot([v[0] for v in train], [v[1] for v in train], label=f'train {label} (batch)', alpha=0.6)
    val = [(int(r['global_step']), float(r[f'val_{kind}'])) for r in rows if r.get(f'val_{kind}')]
    if val:
        ax2.plot([v[0] for v in val], [v[1] for v in val], 'o-', label=f'held-out {label}')
    ax2.set_xlabel('step')
    ax2.set_ylabel(label)
    ax2.legend()
    for level in range(6, 0, -1):
        key = f'grad_L{level}'
        pts = [(int(r['global_step']), float(r[key])) for r in rows if r.get(key) and float(r[key]) > 0]
        if pts:
            ax3.semilogy([p[0] for p in pts], [p[1] for p in pts], label=f'level {level}')
    ax3.set_xlabel('step')
    ax3.set_ylabel('gradient norm')
    ax3.legend(fontsize=7)
    starts: dict[str, int] = {}
    for r in rows:
        starts.setdefault(r['stage'], int(r['global_step']))
    for name, s in starts.items():
        for ax in (ax1, ax2, ax3):
            ax.axvline(s, color='grey', lw=0.5)
        ax2.text(s, ax2.get_ylim()[1], name, rotation=90, va='top', fontsize=7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)
