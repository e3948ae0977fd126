# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Carry a training run between sessions in a small folder meant to be committed (e.g. ``training_state/``).

Where only committed files survive between sessions, ``pack_run`` keeps what resuming needs: the
in-progress stage's compact state (:func:`lfn2_ros.training.state.write_compact_state`: fp32 model and
Adam moments, RNG states, data position), the names and step counts of the finished stages, the weights
of the last finished stage when no later stage has started (they initialise it), and ``log.csv``.
``unpack_run`` rebuilds a run directory from it, after which the usual command resumes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lfn2_ros.model.checkpoint import read_checkpoint, write_checkpoint
from lfn2_ros.training.state import restore_compact_state, write_compact_state

__all__ = ['pack_run', 'unpack_run']


def _stage_dirs(out_dir: Path) -> list[Path]:
    def newest(d: Path) -> Path:
        return d / ('final.pth' if (d / 'final.pth').exists() else 'latest.pth')

    dirs = [d for d in Path(out_dir).iterdir() if d.is_dir() and newest(d).exists()]
    return sorted(dirs, key=lambda d: newest(d).stat().st_mtime)


def pack_run(out_dir: Path, dest: Path, moments: str = 'fp32') -> int:
    """Write the carry folder ``dest`` for run ``out_dir``; returns its size in bytes.

    Args:
        out_dir: the run directory (``--out``).
        dest: the folder to commit; its old ``*.pth`` files are replaced.
        moments: precision of the Adam moments, 'fp32' (exact resume) or 'bf16' (a third smaller).

    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob('*.pth'):
        old.unlink()
    finished, running = {}, None
    for d in _stage_dirs(Path(out_dir)):
        if (d / 'final.pth').exists():
            finished[d.name] = int(read_checkpoint(d / 'final.pth')[1].get('iteration', 0))
        else:
            running = d
    if running is not None:
        write_compact_state(running / 'latest.pth', dest / f'{running.name}.latest.pth', moments)
    elif finished:
        last = list(finished)[-1]
        shutil.copy2(Path(out_dir) / last / 'final.pth', dest / f'{last}.final.pth')
    (dest / 'finished.json').write_text(json.dumps(finished, indent=1))
    if (Path(out_dir) / 'log.csv').exists():
        shutil.copy2(Path(out_dir) / 'log.csv', dest / 'log.csv')
    return sum(f.stat().st_size for f in dest.iterdir() if f.is_file())


def unpack_run(src: Path, out_dir: Path) -> None:
    """Rebuild run directory ``out_dir`` from a carry folder (files already there are kept)."""
    src, out_dir = Path(src), Path(out_dir)
    finished = json.loads((src / 'finished.json').read_text()) if (src / 'finished.json').exists() else {}
    for f in src.glob('*.latest.pth'):
        latest = out_dir / f.name.removesuffix('.latest.pth') / 'latest.pth'
        if not latest.exists():
            restore_compact_state(f, latest)
    weights = next(iter(src.glob('*.pth')), None)
    for name, iteration in finished.items():
        final = out_dir / name / 'final.pth'
        if final.exists():
            continue
        own = src / f'{name}.final.pth'
        if own.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(own, final)
        elif weights is not None:
            # only marks the stage done (and its step count); a later stage resumes from its own state
            state, _, _ = read_checkpoint(weights)
            write_checkpoint(final, state, {'iteration': iteration, 'placeholder': True})
    log = out_dir / 'log.csv'
    if (src / 'log.csv').exists() and not log.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / 'log.csv', log)
