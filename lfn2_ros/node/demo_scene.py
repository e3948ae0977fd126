# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The demo's scene: a photo seen by a translating camera, with two photo cut-outs moving on their own.

Every motion is a constant translation per frame, so the true flow between any two frames j < k is
known exactly: (k - j) x the camera motion on the background and (k - j) x an object's own motion on
the pixels that object covers in frame j (the top-most object wins). Photos come from scikit-image's
bundled data (``coffee`` behind, ``chelsea`` and ``astronaut`` cut-outs in front).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lfn2_ros.io.photos import load_photo

__all__ = ['PhotoScene']


@dataclass
class _Sprite:
    image: np.ndarray  # (h, w, 3) uint8 BGR
    mask: np.ndarray  # (h, w) float32 in [0, 1]
    start: tuple[float, float]  # top-left (x, y) in frame 0, px
    motion: tuple[float, float]  # px per frame


def _cutout(photo: np.ndarray, box: tuple[int, int, int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """An elliptical cut-out of ``photo[y0:y1, x0:x1]`` resized to ``size`` px wide."""
    x0, y0, x1, y1 = box
    crop = photo[y0:y1, x0:x1]
    height = max(8, round(size * crop.shape[0] / crop.shape[1]))
    crop = cv2.resize(crop, (size, height), interpolation=cv2.INTER_AREA)
    mask = np.zeros((height, size), np.float32)
    cv2.ellipse(mask, (size // 2, height // 2), (size // 2 - 1, height // 2 - 1), 0, 0, 360, 1.0, -1)
    return crop, mask


class PhotoScene:
    """Frames and exact flow of the demo scene.

    Args:
        height: frame height in px.
        width: frame width in px.
        camera_motion: (dx, dy) background displacement per frame in px (+x right, +y down).
        object_motions: per object, its own (dx, dy) per frame in px.

    Raises:
        ImportError: scikit-image is not installed (its photos are the scene).

    """

    def __init__(self, height: int = 240, width: int = 320, camera_motion: tuple[float, float] = (3.0, 1.5),
                 object_motions: tuple[tuple[float, float], ...] = ((-2.5, 1.0), (1.5, -2.0))) -> None:
        self.height, self.width = int(height), int(width)
        self.camera_motion = (float(camera_motion[0]), float(camera_motion[1]))
        background = load_photo('coffee')
        scale = 1.5 * max(self.height / background.shape[0], self.width / background.shape[1])
        self.background = cv2.resize(background, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        size = max(16, self.width // 4)
        cat = _cutout(load_photo('chelsea'), (80, 20, 380, 270), size)
        face = _cutout(load_photo('astronaut'), (150, 20, 330, 220), size * 4 // 5)
        starts = ((0.55 * self.width, 0.15 * self.height), (0.1 * self.width, 0.45 * self.height))
        self.sprites = [_Sprite(img, mask, start, (float(m[0]), float(m[1])))
                        for (img, mask), start, m in zip((cat, face), starts, object_motions, strict=False)]

    def _place(self, image: np.ndarray, x: float, y: float, border: int) -> np.ndarray:
        matrix = np.float32([[1.0, 0.0, x], [0.0, 1.0, y]])  # content moves by +(x, y)
        return cv2.warpAffine(image, matrix, (self.width, self.height), flags=cv2.INTER_LINEAR,
                              borderMode=border)

    def _masks(self, index: int) -> list[np.ndarray]:
        return [self._place(s.mask, s.start[0] + index * s.motion[0], s.start[1] + index * s.motion[1],
                            cv2.BORDER_CONSTANT) for s in self.sprites]

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (>= 0): (height, width, 3) uint8 BGR."""
        cx, cy = self.camera_motion
        off_x = -(self.background.shape[1] - self.width) / 2
        off_y = -(self.background.shape[0] - self.height) / 2
        out = self._place(self.background, off_x + index * cx, off_y + index * cy, cv2.BORDER_REFLECT)
        out = out.astype(np.float32)
        for sprite, mask in zip(self.sprites, self._masks(index), strict=True):
            x, y = sprite.start[0] + index * sprite.motion[0], sprite.start[1] + index * sprite.motion[1]
            pixels = self._place(sprite.image, x, y, cv2.BORDER_CONSTANT).astype(np.float32)
            out = out * (1.0 - mask[..., None]) + pixels * mask[..., None]
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def flow(self, first: int, second: int) -> tuple[np.ndarray, np.ndarray]:
        """True flow from frame ``first`` to frame ``second`` on the first frame's grid.

        Returns:
            ``(flow, on_object)``: (H, W, 2) float32 px (u right, v down) and an (H, W) bool mask of
            the pixels an object covers in frame ``first``.

        """
        steps = second - first
        flow = np.empty((self.height, self.width, 2), np.float32)
        flow[...] = (steps * self.camera_motion[0], steps * self.camera_motion[1])
        on_object = np.zeros((self.height, self.width), bool)
        for sprite, mask in zip(self.sprites, self._masks(first), strict=True):
            covered = mask > 0.5
            flow[covered] = (steps * sprite.motion[0], steps * sprite.motion[1])
            on_object |= covered
        return flow, on_object
