# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Optical-flow benchmark datasets on disk: MPI Sintel, KITTI 2012/2015, FlyingChairs.

Layouts (the root may be the dataset root or its ``training`` folder):

- Sintel: ``training/{clean,final}/<scene>/frame_NNNN.png``, ``training/flow/<scene>/frame_NNNN.flo``,
  optional ``training/occlusions/<scene>/frame_NNNN.png`` (white = occluded). Pair k is
  (frame k, frame k+1) with the flow of frame k. Splits ``sintel_clean``, ``sintel_final``.
  Every pixel is valid ("all", as the Sintel benchmark and mmflow), "noc" = not occluded.
- KITTI 2015: ``training/image_2/NNNNNN_10.png`` + ``_11.png``, ``training/flow_occ/NNNNNN_10.png``
  ("all") and ``training/flow_noc/NNNNNN_10.png`` ("noc"), 16-bit png. Split ``kitti2015``.
- KITTI 2012: the same with ``colored_0`` instead of ``image_2``. Split ``kitti2012``.
- FlyingChairs: ``NNNNN_img1.ppm``, ``NNNNN_img2.ppm``, ``NNNNN_flow.flo`` (in the root or its
  ``data`` folder). With ``FlyingChairs_train_val.txt`` (one line per sample, 1 = train, 2 = val)
  the splits are ``chairs_train`` and ``chairs_val``, else ``chairs``. No occlusion masks.

Samples are listed first (:func:`list_samples`, cheap, sorted, deterministic) and loaded one by one
(:func:`load_sample`), so a progress bar knows the total.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lfn2_ros.io import flow_files
from lfn2_ros.io.image_files import ImageFileError, read_bgr
from lfn2_ros.io.pairs import FlowPair

__all__ = [
    'DatasetError',
    'SampleRef',
    'detect_layout',
    'list_samples',
    'load_sample',
]

LAYOUTS = ('sintel', 'kitti', 'chairs')
_CHAIRS_SPLIT_FILE = 'FlyingChairs_train_val.txt'


class DatasetError(ValueError):
    """A dataset directory that cannot be read; the message says what is missing or wrong."""


@dataclass(frozen=True)
class SampleRef:
    """Paths of one dataset pair (not loaded).

    Attributes:
        split: split name, e.g. ``sintel_clean``, ``kitti2015``, ``chairs_val``.
        name: unique name inside the split, e.g. ``alley_1/frame_0001``, ``000000_10``.
        img1: first image.
        img2: second image.
        flow: ground-truth flow file (.flo or KITTI .png).
        noc: optional file with the non-occluded ground truth (KITTI flow_noc) or occlusion mask
            (Sintel occlusions png).
        noc_kind: ``'kitti_noc'``, ``'occlusion_mask'`` or None.

    """

    split: str
    name: str
    img1: Path
    img2: Path
    flow: Path
    noc: Path | None = None
    noc_kind: str | None = None


def _training_dir(root: Path) -> Path:
    return root / 'training' if (root / 'training').is_dir() else root


def detect_layout(root: str | os.PathLike) -> str:
    """Tell which dataset layout a directory has.

    Args:
        root: dataset directory.

    Returns:
        ``'sintel'``, ``'kitti'`` or ``'chairs'``.

    Raises:
        DatasetError: the directory does not exist or matches no layout.

    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f'dataset directory not found: {root}')
    train = _training_dir(root)
    if (train / 'flow').is_dir() and any((train / p).is_dir() for p in ('clean', 'final')):
        return 'sintel'
    if (train / 'flow_occ').is_dir() and any((train / p).is_dir() for p in ('image_2', 'colored_0')):
        return 'kitti'
    for d in (root, root / 'data'):
        if d.is_dir() and next(d.glob('*_img1.ppm'), None) is not None:
            return 'chairs'
    raise DatasetError(
        f'{root} is not a known dataset layout. Expected one of: Sintel (training/clean|final/<scene>/*.png '
        'and training/flow/<scene>/*.flo), KITTI 2012/2015 (training/image_2|colored_0/*_10.png and '
        'training/flow_occ/*_10.png), FlyingChairs (*_img1.ppm, *_img2.ppm, *_flow.flo)'
    )


_SINTEL_FRAME = re.compile(r'frame_(\d+)$')


def _list_sintel(root: Path, skipped: list[dict]) -> list[SampleRef]:
    """Sintel pairs (frame N, frame N + 1) by frame number, never across a missing frame.

    A pair whose second frame or flow file is missing is not listed but recorded in ``skipped`` with the
    reason; the last frame of a scene has neither by design and is not recorded.
    """
    train = _training_dir(root)
    refs = []
    for pass_name in ('clean', 'final'):
        pass_dir = train / pass_name
        if not pass_dir.is_dir():
            continue
        for scene in sorted(p for p in pass_dir.iterdir() if p.is_dir()):
            frames = {int(m.group(1)): f for f in scene.glob('frame_*.png')
                      if (m := _SINTEL_FRAME.match(f.stem))}
            last = max(frames, default=0)
            for number, f1 in sorted(frames.items()):
                if number == last:
                    continue
                name = f'{scene.name}/{f1.stem}'
                f2 = frames.get(number + 1)
                flow = train / 'flow' / scene.name / (f1.stem + '.flo')
                if f2 is None:
                    skipped.append({'split': f'sintel_{pass_name}', 'pair': name,
                                    'reason': f'frame {number + 1} is missing: not paired across the gap'})
                    continue
                if not flow.is_file():
                    skipped.append({'split': f'sintel_{pass_name}', 'pair': name,
                                    'reason': f'flow file missing: {flow}'})
                    continue
                occ = train / 'occlusions' / scene.name / f1.name
                occ_path, occ_kind = (occ, 'occlusion_mask') if occ.is_file() else (None, None)
                refs.append(SampleRef(f'sintel_{pass_name}', name, f1, f2, flow, occ_path, occ_kind))
    return refs


def _list_kitti(root: Path) -> list[SampleRef]:
    train = _training_dir(root)
    if (train / 'image_2').is_dir():
        image_dir, split = train / 'image_2', 'kitti2015'
    else:
        image_dir, split = train / 'colored_0', 'kitti2012'
    refs = []
    for flow in sorted((train / 'flow_occ').glob('*_10.png')):
        stem = flow.stem[: -len('_10')]
        img1 = image_dir / f'{stem}_10.png'
        img2 = image_dir / f'{stem}_11.png'
        if not (img1.is_file() and img2.is_file()):
            raise DatasetError(f'{flow}: frames {img1.name} and {img2.name} expected in {image_dir}')
        noc = train / 'flow_noc' / flow.name
        refs.append(
            SampleRef(split, flow.stem, img1, img2, flow, noc if noc.is_file() else None,
                      'kitti_noc' if noc.is_file() else None)
        )
    return refs


def _list_chairs(root: Path) -> list[SampleRef]:
    data = root if next(root.glob('*_img1.ppm'), None) is not None else root / 'data'
    img1s = sorted(data.glob('*_img1.ppm'), key=lambda p: (len(p.name), p.name))
    split_file = next(
        (p for p in (root / _CHAIRS_SPLIT_FILE, data / _CHAIRS_SPLIT_FILE) if p.is_file()),
        None,
    )
    labels = None
    if split_file is not None:
        labels = [int(x) for x in split_file.read_text().split()]
    refs = []
    for img1 in img1s:
        stem = img1.name[: -len('_img1.ppm')]
        img2 = data / f'{stem}_img2.ppm'
        flow = data / f'{stem}_flow.flo'
        if not (img2.is_file() and flow.is_file()):
            raise DatasetError(f'{img1}: {img2.name} and {flow.name} expected beside it')
        split = 'chairs'
        if labels is not None:
            m = re.match(r'\d+', stem)
            index = int(m.group()) - 1 if m else -1
            if not 0 <= index < len(labels):
                raise DatasetError(f'{img1}: sample {stem} has no line in {split_file} ({len(labels)} lines)')
            split = {1: 'chairs_train', 2: 'chairs_val'}.get(labels[index], 'chairs')
        refs.append(SampleRef(split, stem, img1, img2, flow))
    return refs


def list_samples(root: str | os.PathLike, splits: Sequence[str] | None = None,
                 skipped: list[dict] | None = None) -> list[SampleRef]:
    """List the pairs of a dataset directory, sorted by split then name.

    Args:
        root: dataset directory (see the module docstring for the layouts).
        splits: keep only these splits (e.g. ``['sintel_final']``); None keeps all.
        skipped: when given, the pairs that cannot be formed are appended to it as
            ``{'split', 'pair', 'reason'}`` (a frame missing inside a sequence, a missing flow file).

    Returns:
        The sample references.

    Raises:
        DatasetError: unknown layout, unknown split, or no pair found.

    """
    root = Path(root)
    layout = detect_layout(root)
    found_skipped: list[dict] = []
    refs = _list_sintel(root, found_skipped) if layout == 'sintel' else \
        {'kitti': _list_kitti, 'chairs': _list_chairs}[layout](root)
    if skipped is not None:
        skipped.extend(item for item in found_skipped if not splits or item['split'] in splits)
    found = sorted({r.split for r in refs})
    if splits:
        unknown = [s for s in splits if s not in found]
        if unknown:
            raise DatasetError(f'split(s) {unknown} not in {root}; splits found: {found}')
        refs = [r for r in refs if r.split in splits]
    if not refs:
        raise DatasetError(f'no image pair with ground truth found in {root} ({layout} layout)')
    order = {s: i for i, s in enumerate(found)}
    return sorted(refs, key=lambda r: (order[r.split], r.name))


def _read_image(path: Path) -> np.ndarray:
    try:
        return read_bgr(path)
    except ImageFileError as exc:
        raise DatasetError(f'cannot read image {path}: {exc}') from None


def load_sample(ref: SampleRef) -> FlowPair:
    """Load one pair and its ground truth.

    Args:
        ref: the sample's paths.

    Returns:
        The loaded pair: ``flow`` the ground truth, ``valid`` its valid pixels ("all"), ``noc`` the valid
        non-occluded pixels (None when the dataset has no occlusion information), ``split`` and ``name``
        from ``ref``.

    Raises:
        DatasetError: an unreadable file, or images and flow of different sizes.

    """
    img1 = _read_image(ref.img1)
    img2 = _read_image(ref.img2)
    try:
        flow, valid = flow_files.read_flow(ref.flow, return_valid=True)
    except (ValueError, FileNotFoundError) as exc:
        raise DatasetError(f'cannot read ground truth {ref.flow}: {exc}') from exc
    if img1.shape != img2.shape:
        raise DatasetError(f'{ref.img1} and {ref.img2} have different sizes: {img1.shape} and {img2.shape}')
    if flow.shape[:2] != img1.shape[:2]:
        raise DatasetError(
            f'ground truth {ref.flow} is {flow.shape[1]}x{flow.shape[0]} but the images are '
            f'{img1.shape[1]}x{img1.shape[0]} (WxH)'
        )
    noc = None
    if ref.noc_kind == 'kitti_noc':
        try:
            _, noc_valid = flow_files.read_kitti_png(ref.noc)
        except (ValueError, FileNotFoundError) as exc:
            raise DatasetError(f'cannot read {ref.noc}: {exc}') from exc
        noc = noc_valid & valid
    elif ref.noc_kind == 'occlusion_mask':
        occ = cv2.imread(os.fspath(ref.noc), cv2.IMREAD_GRAYSCALE)
        if occ is None or occ.shape != flow.shape[:2]:
            raise DatasetError(
                f'occlusion mask {ref.noc} is unreadable or not {flow.shape[1]}x{flow.shape[0]}'
            )
        noc = (occ < 128) & valid
    return FlowPair(img1, img2, flow, valid, noc, split=ref.split, name=ref.name)
