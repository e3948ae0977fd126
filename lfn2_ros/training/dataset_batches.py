# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Random crops of a dataset directory (lfn2_ros.io.datasets layouts) as training batches, for fine-tuning."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

__all__ = ['DatasetStream']


class DatasetStream:
    """Random crops with horizontal flips; batch ``i`` of rank ``r`` depends only on (seed, i, rank).

    Args:
        root: dataset directory.
        splits: optional split filter.
        crop: (height, width) px.
        seed: stream seed.
        device: where batches go.
        rank: this process's rank.
        world: number of processes.
        position: index of the next batch.

    """

    def __init__(
        self,
        root: Path,
        splits: Optional[Sequence[str]],
        crop: tuple[int, int],
        seed: int,
        *,
        device: Union[str, torch.device] = 'cpu',
        rank: int = 0,
        world: int = 1,
        position: int = 0,
    ) -> None:
        from lfn2_ros.io import datasets

        self._datasets = datasets
        self.refs = datasets.list_samples(root, splits)
        if not self.refs:
            raise ValueError(f'no samples found in {root} (splits {splits})')
        self.crop, self.seed, self.device = crop, seed, torch.device(device)
        self.rank, self.world, self.position = rank, world, position

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        import cv2

        ch, cw = self.crop
        s = self._datasets.load_sample(self.refs[int(rng.integers(len(self.refs)))])
        img1, img2, flow, valid = s.img1, s.img2, s.flow, s.valid
        h, w = flow.shape[:2]
        if h < ch or w < cw:  # upscale small samples so the crop fits; flow scales with the image
            f = max(ch / h, cw / w)
            size = (int(math.ceil(w * f)), int(math.ceil(h * f)))
            img1, img2 = cv2.resize(img1, size), cv2.resize(img2, size)
            flow = cv2.resize(flow, size, interpolation=cv2.INTER_NEAREST) * np.float32(f)
            valid = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
            h, w = flow.shape[:2]
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        sl = (slice(y0, y0 + ch), slice(x0, x0 + cw))
        img1, img2, flow, valid = img1[sl], img2[sl], flow[sl], valid[sl]
        if rng.random() < 0.5:
            img1, img2, valid = img1[:, ::-1], img2[:, ::-1], valid[:, ::-1]
            flow = flow[:, ::-1] * np.array([-1.0, 1.0], np.float32)
        return tuple(np.ascontiguousarray(v) for v in (img1, img2, flow, valid))

    def next_batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(img1, img2) (B, 3, H, W) float32 BGR [0, 1], flow (B, 2, H, W) px, valid (B, H, W) float32."""
        rng = np.random.default_rng([self.seed, self.position * self.world + self.rank])
        self.position += 1
        parts = list(zip(*(self._sample(rng) for _ in range(size)), strict=True))
        img1 = torch.from_numpy(np.stack(parts[0])).permute(0, 3, 1, 2).float().div_(255.0)
        img2 = torch.from_numpy(np.stack(parts[1])).permute(0, 3, 1, 2).float().div_(255.0)
        flow = torch.from_numpy(np.stack(parts[2])).permute(0, 3, 1, 2).float()
        valid = torch.from_numpy(np.stack(parts[3])).float()
        return tuple(t.contiguous().to(self.device) for t in (img1, img2, flow, valid))
