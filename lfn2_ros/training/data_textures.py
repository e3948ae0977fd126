# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Textures and object silhouettes of the version-1 generator (:mod:`lfn2_ros.training.data`).

Backgrounds and objects are textured with procedural value noise, gradients, stripes, random shapes or a
crop of a photo bundled with scikit-image; objects are cut out by a random polygon, ellipse or blob.
Everything draws from the pair's ``np.random.Generator`` in a fixed order, so a change here changes every
version-1 pair (and the held-out pairs the shipped weights are checked on). Textures are (h, w, 3)
float32 BGR in [0, 1]; numpy + OpenCV only.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from lfn2_ros.io.photos import load_photo

__all__ = ['object_mask', 'texture']


@functools.cache
def _photo(name: str) -> np.ndarray:
    """A scikit-image photo as (H, W, 3) float32 BGR in [0, 1] (cached)."""
    return load_photo(name).astype(np.float32) / 255.0


def _value_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Multi-octave value noise, (h, w) float32 in [0, 1]."""
    out = np.zeros((h, w), np.float32)
    total = 0.0
    cell = rng.uniform(2.0, 6.0)
    amp = 1.0
    falloff = rng.uniform(0.6, 0.95)
    while cell < max(h, w):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 1.0 / falloff
        cell *= 2.0
    out /= total
    lo, hi = np.percentile(out, (1, 99))
    return np.clip((out - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _colorize(rng: np.random.Generator, gray: np.ndarray) -> np.ndarray:
    """Map a [0, 1] (h, w) field to colour between two random colours."""
    c0 = rng.random(3, dtype=np.float32)
    step = rng.normal(0, 1, 3).astype(np.float32)
    # at least 0.5 of colour distance, so the texture keeps contrast after augmentation
    c1 = np.clip(c0 + step / max(float(np.linalg.norm(step)), 1e-6) * rng.uniform(0.5, 1.0), 0.0, 1.0)
    return gray[:, :, None] * (c1 - c0) + c0


def _noise_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tex = _colorize(rng, _value_noise(rng, h, w))
    return 0.7 * tex + 0.3 * _colorize(rng, _value_noise(rng, h, w))


def _gradient_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * x + np.sin(angle) * y
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    detail = _value_noise(rng, h, w)  # gradients alone are textureless; keep some structure
    return _colorize(rng, 0.6 * ramp + 0.4 * detail)


def _stripes_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(1, 4)):
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(6, 40)
        out += np.sin((np.cos(angle) * x + np.sin(angle) * y) * 2 * np.pi / period + rng.uniform(0, 6.3))
    out = (out - out.min()) / max(float(np.ptp(out)), 1e-6)
    return _colorize(rng, 0.5 * out + 0.5 * _value_noise(rng, h, w))


def _shapes_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tex = (_noise_texture(rng, h, w) * 0.5 + rng.random(3, dtype=np.float32) * 0.5).astype(np.float32)
    tex = np.ascontiguousarray(tex)
    n = int(rng.integers(10, 40))
    for _ in range(n):
        color = tuple(float(c) for c in rng.random(3))
        kind = rng.integers(0, 4)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.integers(4, max(6, min(h, w) // 4)))
        if kind == 0:
            cv2.rectangle(tex, (cx - size, cy - size // 2), (cx + size, cy + size // 2), color, -1)
        elif kind == 1:
            cv2.circle(tex, (cx, cy), size, color, -1)
        elif kind == 2:
            pts = (rng.normal(0, size, (int(rng.integers(3, 7)), 2)) + (cx, cy)).astype(np.int32)
            cv2.fillPoly(tex, [pts], color)
        else:
            x2, y2 = cx + int(rng.integers(-3 * size, 3 * size)), cy + int(rng.integers(-3 * size, 3 * size))
            cv2.line(tex, (cx, cy), (x2, y2), color, int(rng.integers(1, 6)))
    return tex


def _photo_texture(rng: np.random.Generator, h: int, w: int, names: tuple[str, ...]) -> np.ndarray:
    photo = _photo(str(rng.choice(names)))
    ph, pw = photo.shape[:2]
    # random zoom, never so small that the crop does not fit after resizing
    zoom = rng.uniform(0.6, 1.6) * max(h / ph, w / pw, 0.0)
    zoom = max(zoom, h / ph, w / pw)
    crop_h, crop_w = min(ph, int(np.ceil(h / zoom))), min(pw, int(np.ceil(w / zoom)))
    y0, x0 = int(rng.integers(0, ph - crop_h + 1)), int(rng.integers(0, pw - crop_w + 1))
    crop = photo[y0:y0 + crop_h, x0:x0 + crop_w]
    tex = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        tex = tex[:, ::-1]
    if rng.random() < 0.3:  # colour shuffle, more colour variety from few photos
        tex = tex[:, :, rng.permutation(3)]
    return np.ascontiguousarray(tex, dtype=np.float32)


def texture(rng: np.random.Generator, h: int, w: int, photos: tuple[str, ...],
            weights: tuple[float, ...]) -> np.ndarray:
    """A random texture of one of the kinds, lightly blurred (limits aliasing under warps).

    Args:
        rng: the pair's generator (the draws are part of the version-1 stream; do not reorder them).
        h: rows, px.
        w: columns, px.
        photos: scikit-image photo names usable as textures (empty: the photo kind is skipped).
        weights: relative probabilities of photo, value noise, gradient, stripes, shapes
            (``MotionConfig.texture_weights``).

    Returns:
        (h, w, 3) float32 BGR in [0, 1].

    Raises:
        ValueError: negative weights, or none left positive.

    """
    p = np.asarray(weights, np.float64)
    if not photos:
        p[0] = 0.0
    if not (p >= 0).all() or p.sum() <= 0:
        raise ValueError(f'texture_weights must be non-negative with a positive sum, got {weights}')
    kind = rng.choice(5, p=p / p.sum())
    if kind == 0:
        tex = _photo_texture(rng, h, w, photos)
    elif kind == 1:
        tex = _noise_texture(rng, h, w)
    elif kind == 2:
        tex = _gradient_texture(rng, h, w)
    elif kind == 3:
        tex = _stripes_texture(rng, h, w)
    else:
        tex = _shapes_texture(rng, h, w)
    tex = cv2.GaussianBlur(tex, (0, 0), 0.6)
    return np.clip(tex, 0.0, 1.0).astype(np.float32)


def object_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random object silhouette (polygon, ellipse or blob), (size, size) float32 in {0, 1}."""
    mask = np.zeros((size, size), np.float32)
    c = size / 2.0
    kind = rng.integers(0, 3)
    if kind == 0:  # star-shaped random polygon
        n = int(rng.integers(3, 10))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(0.25, 0.48, n) * size
        pts = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1.0)
    elif kind == 1:
        axes = (int(rng.uniform(0.2, 0.48) * size), int(rng.uniform(0.2, 0.48) * size))
        cv2.ellipse(mask, (int(c), int(c)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    else:  # thresholded smooth noise inside a disc: blob
        noise = cv2.GaussianBlur(rng.random((size, size), dtype=np.float32), (0, 0), size / 10)
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        disc = 1.0 - np.hypot(x - c, y - c) / (0.5 * size)
        field = disc + 4.0 * (noise - noise.mean())
        mask = (field > 0.3).astype(np.float32)
    return mask
