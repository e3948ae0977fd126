# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the evaluator reads: the pairs of a bag's image topic or of a flow dataset, as :class:`FlowPair`.

Pairs that cannot be formed (a frame missing from a dataset sequence; in a bag a corrupt frame, a stamp
going backwards, a change of size or encoding, unusable ground truth) are listed in ``info['skipped']``
with their reasons and the others are evaluated; with ``strict`` the first one raises instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lfn2_ros.io import datasets
from lfn2_ros.io.bag_reader import BagSource
from lfn2_ros.io.pairs import FlowPair

__all__ = ['EvaluationInput', 'open_input']


@dataclass
class EvaluationInput:
    """The pairs to evaluate and a description of where they come from.

    Attributes:
        pairs: the pairs, read lazily in order.
        total: how many ``pairs`` yields.
        info: the ``input`` entry of metrics.json; its ``skipped`` list (``{'split', 'pair', 'reason'}``)
            grows while a bag's ``pairs`` are read.
        layout: ``'bag'``, or the dataset layout (``'sintel'``, ``'kitti'``, ``'chairs'``).
        bag: the open bag (to close, and for its storage and message type), or None for a dataset.

    """

    pairs: Iterator[FlowPair]
    total: int
    info: dict
    layout: str
    bag: BagSource | None = None

    def close(self) -> None:
        """Close the bag, if any."""
        if self.bag is not None:
            self.bag.close()


def _dataset_pairs(refs: Sequence[datasets.SampleRef]) -> Iterator[FlowPair]:
    for ref in refs:
        yield datasets.load_sample(ref)


def open_input(*, bag: str | Path | None, topic: str | None, gt_topic: str | None,
               dataset: str | Path | None, splits: Sequence[str] | None, stride: int,
               max_pairs: int | None, start_s: float | None, end_s: float | None,
               strict: bool = False) -> EvaluationInput:
    """Open a bag (``bag`` with ``topic``) or a dataset directory and select its pairs.

    Args:
        bag: rosbag2 directory; exclusive with ``dataset``.
        topic: image topic of the bag.
        gt_topic: optional ground-truth flow topic of the bag.
        dataset: Sintel, KITTI or FlyingChairs directory.
        splits: dataset splits to keep (default all).
        stride: keep every ``stride``-th pair.
        max_pairs: keep at most this many pairs.
        start_s: bag only: first frame time, seconds from the bag start.
        end_s: bag only: end time (exclusive), seconds from the bag start.
        strict: raise at the first pair that cannot be formed instead of listing it as skipped.

    Returns:
        The selected pairs; the caller closes it.

    Raises:
        ValueError: a missing topic or bag-only options with a dataset; ``BagError`` / ``DatasetError``
            (ValueErrors) for unusable inputs and, with ``strict``, for the first pair that cannot be formed.

    """
    if bag is not None:
        if not topic:
            raise ValueError('--topic is required with --bag (the image topic to evaluate)')
        source = BagSource(bag, topic, gt_topic=gt_topic, start_s=start_s, end_s=end_s)
        skipped: list[dict] = []
        record = None if strict else skipped  # the reader raises where it has no list to record in
        try:
            ids = source.pair_indices(stride, max_pairs, skipped=record)
        except BaseException:
            source.close()
            raise
        info = {
            'type': 'rosbag2', 'path': str(bag), 'storage': source.storage, 'topic': topic,
            'gt_topic': gt_topic, 'frames_in_range': source.num_frames, 'start_s': start_s, 'end_s': end_s,
            'skipped': skipped,
            'frames_lost': 0 if source.frame_loss is None else source.frame_loss.lost,
            'warnings': list(source.warnings),
        }
        return EvaluationInput(source.iter_pairs(ids, skipped=record), len(ids), info, 'bag', source)
    if start_s is not None or end_s is not None or gt_topic or topic:
        raise ValueError('--start/--end/--topic/--gt-topic apply to bags only, not to --dataset')
    skipped: list[dict] = []
    refs = datasets.list_samples(dataset, splits, skipped=skipped)[::stride][:max_pairs]
    if strict and skipped:
        first = skipped[0]
        raise datasets.DatasetError(f'{dataset}: {first["split"]} {first["pair"]}: {first["reason"]}')
    layout = datasets.detect_layout(dataset)
    info = {'type': 'dataset', 'path': str(dataset), 'layout': layout,
            'splits': sorted({r.split for r in refs}), 'skipped': skipped}
    return EvaluationInput(_dataset_pairs(refs), len(refs), info, layout)
