# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image pairs with exactly known flow, made by warping a real photo with a smooth motion.

Frame 2 is (a crop of) the photo; frame 1 samples the photo at ``x + flow(x)`` with
``cv2.remap`` (bilinear), so pixel x of frame 1 shows the content found at ``x + flow(x)`` in
frame 2: ``flow`` is exactly the forward flow frame 1 -> frame 2 (defined on frame 1), with no
inversion of the motion field. Used by quality checks of the model on real texture (the photos of
:func:`lfn2_ros.io.photos.load_photo`).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ['smooth_flow', 'warp_photo_pair']


def warp_photo_pair(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make a frame pair whose ground-truth flow is ``flow``.

    Args:
        image: (H0, W0, 3) uint8 BGR (or (H0, W0) grey) photo with H0 >= H, W0 >= W. When larger,
            frames are taken from its centre and the margin supplies the content that moves in,
            so no border is invented as long as the motion stays within the margin.
        flow: (H, W, 2) float flow in px on frame 1 (u = +x right, v = +y down), pointing to frame 2.

    Returns:
        ``(img1, img2, gt_flow)``: (H, W, 3) uint8 BGR frames and the (H, W, 2) float32 flow.
        Where ``x + flow(x)`` leaves the photo, frame 1 repeats the border (BORDER_REFLECT_101)
        and the flow is no longer exact there.

    Raises:
        ValueError: bad shapes, or the photo is smaller than the flow.

    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'image must be (H, W, 3) uint8 BGR, got {image.shape} {image.dtype}')
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f'flow must have shape (H, W, 2), got {flow.shape}')
    height, width = flow.shape[:2]
    if image.shape[0] < height or image.shape[1] < width:
        raise ValueError(f'image {image.shape[:2]} is smaller than the flow {flow.shape[:2]}')
    oy = (image.shape[0] - height) // 2
    ox = (image.shape[1] - width) // 2
    img2 = np.ascontiguousarray(image[oy:oy + height, ox:ox + width])
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = gx + np.float32(ox) + flow[..., 0]
    map_y = gy + np.float32(oy) + flow[..., 1]
    img1 = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return img1, img2, flow.copy()


def smooth_flow(
    height: int, width: int, *, max_px: float = 4.0, seed: int = 0
) -> np.ndarray:
    """A smooth random motion: translation + small affine part + one low-frequency sinusoid.

    Args:
        height: rows.
        width: columns.
        max_px: bound on |u| and |v|, px.
        seed: random seed (deterministic output).

    Returns:
        (height, width, 2) float32 flow, px, with |u|, |v| <= max_px.

    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    xn = x / max(width - 1, 1) - 0.5
    yn = y / max(height - 1, 1) - 0.5
    out = []
    for _ in range(2):
        t, a, b, s = rng.uniform(-1, 1, 4)
        phase = rng.uniform(0, 2 * np.pi)
        out.append(0.4 * t + 0.3 * (a * xn + b * yn) + 0.3 * s * np.sin(2 * np.pi * (xn + yn) + phase))
    flow = np.stack(out, axis=2)
    return (flow * max_px).astype(np.float32)
