# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Unlabelled training pairs from a rosbag2 bag: taken as ``evaluate`` takes them, then cropped and flipped.

The pairs come from :class:`lfn2_ros.io.bag_reader.BagSource` with the same stride, time window and
pairing rules as ``evaluate --bag`` (docs/self_supervised.md#pairs), are decoded once and kept in memory
as uint8, and are served as random crops. Each batch is a pure function of (seed, batch index, rank), so
a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

__all__ = ['BagPairs', 'BagPairStream', 'load_bag_pairs', 'split_time']


@dataclass
class BagPairs:
    """Decoded pairs of one time range of a bag.

    Attributes:
        pairs: (img1, img2) uint8 BGR (H, W, 3) arrays; consecutive pairs share their frame arrays.
        names: the evaluate pair name of each (the index of its first frame, 6 digits).
        skipped: pairs the reader did not form, each ``{'pair', 'reason'}`` (when the reader reports them).
        start_s: the range start, seconds from the bag start (None: the bag start).
        end_s: the range end, exclusive (None: the bag end).

    """

    pairs: list[tuple[np.ndarray, np.ndarray]]
    names: list[str]
    skipped: list[dict] = field(default_factory=list)
    start_s: Optional[float] = None
    end_s: Optional[float] = None


def split_time(bag: Union[str, Path], topic: str, start_s: Optional[float], end_s: Optional[float],
               holdout_fraction: float) -> float:
    """Bag time (s from the bag start) that splits ``[start_s, end_s)`` into training and held-out frames.

    The last ``holdout_fraction`` of the frames in the range are held out, so the comparison never sees
    a frame the model was trained on.

    Raises:
        ValueError: a fraction outside (0, 1), or a range too short for both parts to hold a pair.

    """
    from lfn2_ros.io.bag_reader import BagSource

    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f'--holdout-fraction must be in (0, 1), got {holdout_fraction}')
    with BagSource(bag, topic, start_s=start_s, end_s=end_s) as source:
        times = [t for t, _ in source.frames]
        bag_start = source.bag_start_ns
    n = len(times)
    first_held = int(round(n * (1.0 - holdout_fraction)))
    if first_held < 2 or n - first_held < 2:
        raise ValueError(
            f'{n} frames of {topic!r} in range: too few to keep 2 for training and 2 held out '
            f'(--holdout-fraction {holdout_fraction})'
        )
    return (times[first_held] - bag_start) / 1e9


MAX_DECODED_BYTES = 6 * 1024**3
"""Most decoded frame bytes :func:`load_bag_pairs` keeps in memory (a 10-minute 640x480 recording at 30 fps
would need 16 GiB): beyond it the run stops and asks for a shorter range, a stride or a pair cap."""


def load_bag_pairs(bag: Union[str, Path], topic: str, *, start_s: Optional[float], end_s: Optional[float],
                   stride: int = 1, max_pairs: Optional[int] = None,
                   max_bytes: int = MAX_DECODED_BYTES) -> BagPairs:
    """Decode the pairs of ``topic`` in ``[start_s, end_s)`` as ``evaluate`` selects them.

    Raises:
        lfn2_ros.io.bag_records.BagError: an unusable bag or topic, or no pair in range.
        ValueError: the decoded frames would take more than ``max_bytes``.

    """
    from lfn2_ros.evaluation.sources import open_input
    from lfn2_ros.io.bag_records import BagError

    source = open_input(bag=bag, topic=topic, gt_topic=None, dataset=None, splits=None, stride=stride,
                        max_pairs=max_pairs, start_s=start_s, end_s=end_s)
    try:
        loaded = BagPairs([], [], start_s=start_s, end_s=end_s)
        held: dict[int, int] = {}  # id -> bytes of each distinct frame array (pairs share frames)
        for pair in source.pairs:
            loaded.pairs.append((pair.img1, pair.img2))
            loaded.names.append(pair.name)
            held.update({id(a): a.nbytes for a in (pair.img1, pair.img2)})
            if sum(held.values()) > max_bytes:
                raise ValueError(
                    f'the frames of {topic!r} in range take more than {max_bytes / 1024**3:.1f} GiB decoded '
                    f'(after {len(loaded.pairs)} pairs); train on fewer: --end, --stride or --max-pairs'
                )
        loaded.skipped = list(source.info.get('skipped', []))
    finally:
        source.close()
    if not loaded.pairs:
        raise BagError(f'no pair of {topic!r} in {bag} between {start_s} s and {end_s} s')
    return loaded


class BagPairStream:
    """Random crops of bag pairs, both frame orders, horizontally flipped half of the time.

    Args:
        pairs: the decoded pairs (:func:`load_bag_pairs`).
        crop: (height, width) px; frames smaller than the crop are upscaled to fit.
        seed: stream seed.
        device: where batches go.
        rank: this process's rank.
        world: number of processes.
        position: index of the next batch (resume: the stored position).

    """

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], crop: tuple[int, int], seed: int, *,
                 device: Union[str, torch.device] = 'cpu', rank: int = 0, world: int = 1,
                 position: int = 0) -> None:
        if not pairs:
            raise ValueError('no pairs to train on')
        self.pairs, self.crop, self.seed = list(pairs), tuple(crop), int(seed)
        self.device = torch.device(device)
        self.rank, self.world, self.position = int(rank), int(world), int(position)

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        ch, cw = self.crop
        img1, img2 = self.pairs[int(rng.integers(len(self.pairs)))]
        h, w = img1.shape[:2]
        if h < ch or w < cw:
            f = max(ch / h, cw / w)
            size = (int(np.ceil(w * f)), int(np.ceil(h * f)))
            img1, img2 = cv2.resize(img1, size), cv2.resize(img2, size)
            h, w = img1.shape[:2]
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        img1, img2 = img1[y0:y0 + ch, x0:x0 + cw], img2[y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:  # the reversed pair is as valid a pair: it doubles the motions seen
            img1, img2 = img2, img1
        if rng.random() < 0.5:
            img1, img2 = img1[:, ::-1], img2[:, ::-1]
        return np.ascontiguousarray(img1), np.ascontiguousarray(img2)

    def next_batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(img1, img2)``: (B, 3, h, w) float32 BGR in [0, 1] of this rank's next batch."""
        rng = np.random.default_rng([self.seed, self.position * self.world + self.rank])
        self.position += 1
        first, second = zip(*(self._sample(rng) for _ in range(size)), strict=True)

        def stack(images: Sequence[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0).to(self.device)

        return stack(first), stack(second)
