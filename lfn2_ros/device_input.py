# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""uint8 frames to network input tensors on the device: staged, uploaded once, normalised there.

The rule is :func:`lfn2_ros.processing.normalise` (float32 division of every uint8 value by 255, mmflow's
``mean 0, std 255``). Here its 256 possible results are computed once on the host and kept on the device as a
lookup table; each frame is uploaded as uint8 (a quarter of the float32 bytes) and mapped through the table,
so the result is bit-identical to the host computation on every device. (Dividing on the device is not: the
CUDA kernels of ``tensor / scalar`` multiply by the reciprocal, which rounds some values differently.)

On CUDA every frame goes through a pinned host buffer (two per frame size, used alternately so a copy in
flight is never overwritten) with a non-blocking copy, so the upload overlaps the host work that follows.
Resizing stays on the host (``cv2.resize`` on uint8, as mmcv does): a device resize would change the flow.
"""

from __future__ import annotations

import numpy as np
import torch

from lfn2_ros.processing import normalisation_table

__all__ = ['DeviceInput']

_MAX_STAGED_SIZES = 2


class DeviceInput:
    """Turns (H, W, 3) uint8 BGR frames into (1, 3, H, W) float tensors in [0, 1] on ``device``.

    Args:
        device: where the network runs.
        dtype: network dtype; the normalised values are rounded to it after the float32 lookup.
        memory_format: memory format of the returned tensor (contiguous or channels_last).

    """

    def __init__(self, device: torch.device, dtype: torch.dtype = torch.float32,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.memory_format = memory_format
        self._table = torch.from_numpy(normalisation_table()).to(self.device)
        self._pinned = self.device.type == 'cuda'
        self._staging: dict[tuple[int, ...], list[tuple[torch.Tensor, object]]] = {}
        self._turn = 0

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        """Upload and normalise one frame.

        Args:
            image: (H, W, 3) uint8 BGR, already at the network input size.

        Returns:
            (1, 3, H, W) tensor on the device in ``dtype`` and ``memory_format``, values v / 255.

        Raises:
            ValueError: ``image`` is not (H, W, 3) uint8.

        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}')
        raw = self._upload(np.ascontiguousarray(image))
        normalised = self._table[raw.long()]  # (H, W, 3) float32, exactly image / 255 in float32
        batch = normalised.permute(2, 0, 1).unsqueeze(0)
        return batch.to(dtype=self.dtype).contiguous(memory_format=self.memory_format)

    def _upload(self, image: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(image)
        if not self._pinned:
            return host.to(self.device)
        buffers = self._staging.get(image.shape)
        if buffers is None:
            if len(self._staging) >= _MAX_STAGED_SIZES:  # a size change: give the old buffers back
                self._staging.clear()
            buffers = [(torch.empty(image.shape, dtype=torch.uint8, pin_memory=True), torch.cuda.Event())
                       for _ in range(2)]
            self._staging[image.shape] = buffers
        self._turn ^= 1
        staged, copied = buffers[self._turn]
        copied.synchronize()  # the copy that last read this buffer has finished
        staged.copy_(host)
        on_device = staged.to(self.device, non_blocking=True)
        copied.record()
        return on_device
