# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Version-1 generator (numpy + OpenCV, small motions): the distribution the first shipped weights saw.

Kept for the held-out checks of those weights; new training uses the batched torch generator in
:mod:`lfn2_ros.training.pairs` (FlyingChairs-like motions up to 100 px, real photos, static pairs).

Each pair is a stack of layers: a background texture (procedural noise, gradients, random shapes,
stripes or a photo bundled with scikit-image) moved by a random global homography (a similarity
with a slight perspective part), and 2-6 foreground objects (textured polygons, blobs or photo
crops, each with a hard alpha mask) moved by the global motion composed with their own affine
motion, so objects occlude each other and the background and flow has motion boundaries. The
textures and silhouettes are :mod:`lfn2_ros.training.data_textures`; this module moves and renders them.

Every layer k is rendered into frame t with ``cv2.warpPerspective`` from its own canvas through a
3x3 matrix ``M_t,k`` (canvas -> frame pixels), so the ground truth is exact: a frame-1 pixel x on
layer k shows the canvas point ``M_1,k^-1 x``, which frame 2 shows at ``M_2,k M_1,k^-1 x``; the
flow is ``proj(M_2,k M_1,k^-1 x) - x`` (px, defined on frame 1, pointing to frame 2, channel
0 = +x right, 1 = +y down), also where x is occluded in frame 2. ``noc`` marks frame-1 pixels still
visible (same top layer) in frame 2. Photometric augmentation (contrast, brightness, per-channel
gain, gamma, blur, noise; mmflow ColorJitter / RandomGamma / GaussianNoise, docs/model.md#training) is
applied after rendering and never changes the flow.

Sample ``index`` of a stream with seed ``seed`` depends only on ``(seed, index)``
(``np.random.default_rng([seed, index])``), so streams are deterministic and resumable, and the
held-out set (:func:`heldout_pairs`, seed :data:`HELDOUT_SEED`) never overlaps training seeds < 10^6.
Everything is numpy + OpenCV on one thread; a 320x448 pair takes about 0.1 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np

from lfn2_ros.training.data_textures import object_mask, texture
from lfn2_ros.training.textures import SKIMAGE_PHOTOS

__all__ = [
    'EVAL_PHOTOS',
    'HELDOUT_SEED',
    'MOTION_PRESETS',
    'TRAIN_PHOTOS',
    'FlowPair',
    'MotionConfig',
    'SyntheticFlowGenerator',
    'heldout_pairs',
    'make_pair',
    'motion_preset',
]

HELDOUT_SEED = 1_000_003
"""Seed of the fixed validation stream (training uses seeds below 10^6)."""

TRAIN_PHOTOS = tuple(SKIMAGE_PHOTOS)
"""scikit-image photos used as training textures: the photo bank's, with their licences there."""

EVAL_PHOTOS = ('coffee', 'rocket')
"""Colour photos never used as training textures (for real-photo checks of trained weights)."""


@dataclass(frozen=True)
class MotionConfig:
    """Distribution of motions and content of generated pairs; sizes in px of the output frames.

    Attributes:
        bg_translation_px: std of the global translation per axis, px (clipped at 3 std).
        bg_rotation_deg: std of the global rotation, degrees.
        bg_scale: std of the global log-scale change.
        bg_perspective: std of the perspective terms, as a px shift at the frame border.
        static_probability: probability that the global motion is scaled down by 10 (near-static camera).
        obj_count: inclusive range of the number of foreground objects.
        obj_size: range of object sizes as a fraction of the shorter frame side.
        obj_translation_px: std of an object's own translation per axis, px (clipped at 3 std).
        obj_rotation_deg: std of an object's own rotation, degrees.
        obj_scale: std of an object's own log-scale change.
        photometric: apply photometric augmentation.
        noise_max: largest std of the additive Gaussian noise, on [0, 1] intensities.
        texture_weights: relative probabilities of the texture kinds (photo, value noise, gradient,
            stripes, shapes); photos are skipped when no photo names are given.

    """

    bg_translation_px: float = 5.0
    bg_rotation_deg: float = 2.0
    bg_scale: float = 0.03
    bg_perspective: float = 2.0
    static_probability: float = 0.1
    obj_count: tuple[int, int] = (2, 6)
    obj_size: tuple[float, float] = (0.2, 0.6)
    obj_translation_px: float = 5.0
    obj_rotation_deg: float = 6.0
    obj_scale: float = 0.05
    photometric: bool = True
    noise_max: float = 0.03
    texture_weights: tuple[float, float, float, float, float] = (0.4, 0.2, 0.1, 0.1, 0.2)


@dataclass
class FlowPair:
    """One generated pair.

    Attributes:
        img1: (H, W, 3) uint8 BGR frame 1.
        img2: (H, W, 3) uint8 BGR frame 2.
        flow: (H, W, 2) float32 exact flow frame 1 -> frame 2, px (channel 0 = +x right, 1 = +y down).
        noc: (H, W) bool, frame-1 pixels whose layer is still on top at ``x + flow`` in frame 2
            (not occluded, not out of view).

    """

    img1: np.ndarray
    img2: np.ndarray
    flow: np.ndarray
    noc: np.ndarray


# ----------------------------------------------------------------------------------------------
# geometry


def _translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)


def _similarity(rng: np.random.Generator, center: tuple[float, float], translation_px: float,
                rotation_deg: float, log_scale: float, scale_motion: float = 1.0) -> np.ndarray:
    """A random rotation + scale about ``center`` followed by a translation (3x3, frame px)."""
    t = np.clip(rng.normal(0, translation_px, 2), -3 * translation_px, 3 * translation_px) * scale_motion
    angle = np.deg2rad(rng.normal(0, rotation_deg)) * scale_motion
    scale = np.exp(rng.normal(0, log_scale) * scale_motion)
    rot = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 0],
                    [scale * np.sin(angle), scale * np.cos(angle), 0], [0, 0, 1]])
    return _translate(center[0] + t[0], center[1] + t[1]) @ rot @ _translate(-center[0], -center[1])


def _apply(h_mat: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project frame pixel grids through a 3x3 matrix."""
    den = h_mat[2, 0] * gx + h_mat[2, 1] * gy + h_mat[2, 2]
    x = (h_mat[0, 0] * gx + h_mat[0, 1] * gy + h_mat[0, 2]) / den
    y = (h_mat[1, 0] * gx + h_mat[1, 1] * gy + h_mat[1, 2]) / den
    return x, y


# ----------------------------------------------------------------------------------------------
# photometric augmentation


def _photometric(rng: np.random.Generator, img1: np.ndarray, img2: np.ndarray,
                 noise_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Shared contrast/brightness/gain/gamma/blur with small per-frame jitter, then per-frame noise."""
    contrast = float(rng.uniform(0.6, 1.4))
    brightness = float(rng.uniform(-0.2, 0.2))
    gain = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    gamma = float(np.exp(rng.uniform(np.log(0.7), np.log(1.5))))
    blur_sigma = float(rng.uniform(0.3, 1.2)) if rng.random() < 0.3 else 0.0
    noise_std = float(rng.uniform(0.0, noise_max))
    out = []
    for img in (img1, img2):
        c = contrast * float(rng.uniform(0.97, 1.03))
        b = brightness + float(rng.uniform(-0.02, 0.02))
        g = gain * rng.uniform(0.98, 1.02, 3).astype(np.float32)
        x = np.clip((img - 0.5) * c + 0.5 + b, 0.0, 1.0) * g
        x = cv2.pow(np.clip(x, 0.0, 1.0), gamma)
        if blur_sigma > 0:
            x = cv2.GaussianBlur(x, (0, 0), blur_sigma)
        if noise_std > 0:
            x = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(noise_std)
        out.append(x)
    return out[0], out[1]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# pair generation


def make_pair(seed: int, index: int, height: int, width: int,
              config: MotionConfig | None = None, photos: tuple[str, ...] = TRAIN_PHOTOS) -> FlowPair:
    """Generate pair ``index`` of the stream ``seed`` (deterministic).

    Args:
        seed: stream seed (>= 0).
        index: sample index in the stream (>= 0).
        height: frame rows, px.
        width: frame columns, px.
        config: motion/content distribution; default :class:`MotionConfig`.
        photos: scikit-image photo names usable as textures (empty: procedural textures only).

    Returns:
        The :class:`FlowPair`.

    Raises:
        ValueError: non-positive size or negative seed/index.

    """
    if height < 8 or width < 8:
        raise ValueError(f'frame size must be at least 8x8, got {height}x{width}')
    if seed < 0 or index < 0:
        raise ValueError(f'seed and index must be >= 0, got {seed} and {index}')
    cfg = config or MotionConfig()
    rng = np.random.default_rng([seed, index])
    center = ((width - 1) / 2.0, (height - 1) / 2.0)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float64)

    # global motion G: frame-1 px -> frame-2 px (similarity + small perspective about the centre)
    scale_motion = 0.1 if rng.random() < cfg.static_probability else 1.0
    glob = _similarity(rng, center, cfg.bg_translation_px, cfg.bg_rotation_deg, cfg.bg_scale, scale_motion)
    persp = np.eye(3)
    persp[2, :2] = rng.normal(0, cfg.bg_perspective, 2) * scale_motion / np.array([width, height]) ** 2 * 4
    glob = _translate(*center) @ persp @ _translate(-center[0], -center[1]) @ glob
    glob /= glob[2, 2]

    layers = []  # (texture, mask or None, M1 canvas->frame1, M2 canvas->frame2, relative motion)
    margin = int(np.ceil(3 * cfg.bg_translation_px + 0.1 * max(height, width))) + 8
    bg_h, bg_w = height + 2 * margin, width + 2 * margin
    m1 = _translate(-margin, -margin)
    layers.append((texture(rng, bg_h, bg_w, photos, cfg.texture_weights), None, m1, glob @ m1, glob))

    n_obj = int(rng.integers(cfg.obj_count[0], cfg.obj_count[1] + 1))
    short = min(height, width)
    for _ in range(n_obj):
        size = max(8, int(rng.uniform(*cfg.obj_size) * short))
        tex = texture(rng, size, size, photos, cfg.texture_weights)
        mask = object_mask(rng, size)
        # placement in frame 1: random rotation/scale about the canvas centre, centre inside the frame
        angle = rng.uniform(0, 2 * np.pi)
        place = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        pos = (rng.uniform(0, width), rng.uniform(0, height))
        m1 = _translate(*pos) @ place @ _translate(-size / 2.0, -size / 2.0)
        own = _similarity(rng, pos, cfg.obj_translation_px, cfg.obj_rotation_deg, cfg.obj_scale)
        rel = glob @ own
        layers.append((tex, mask, m1, rel @ m1, rel))

    frames, ids = zip(*(_render(layers, t, height, width) for t in (0, 1)), strict=True)
    flow, noc = _flow_and_visibility(layers, ids, gx, gy)
    img1, img2 = frames
    if cfg.photometric:
        img1, img2 = _photometric(rng, img1, img2, cfg.noise_max)
    return FlowPair(_to_uint8(img1), _to_uint8(img2), flow, noc)


def _render(layers: list, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t`` (0 or 1) of the layer stack, later layers on top.

    Returns:
        ``(image, layer_id)``: (H, W, 3) float32 BGR in [0, 1] and (H, W) int32 index of the top layer.

    """
    dsize = (width, height)
    img = np.zeros((height, width, 3), np.float32)
    lid = np.zeros((height, width), np.int32)
    for k, (tex, mask, m1, m2, _) in enumerate(layers):
        mat = m1 if t == 0 else m2
        if mask is None:
            img = cv2.warpPerspective(tex, mat, dsize, flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT_101)
            continue
        alpha = cv2.warpPerspective(mask, mat, dsize, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        inside = alpha > 0.5
        if not inside.any():
            continue
        layer = cv2.warpPerspective(tex, mat, dsize, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT_101)
        img[inside] = layer[inside]
        lid[inside] = k
    return img, lid


def _flow_and_visibility(layers: list, ids: tuple[np.ndarray, np.ndarray], gx: np.ndarray,
                         gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact flow of frame 1's top layer, and where frame 2 shows that layer at the (rounded) target.

    Returns:
        ``(flow, noc)``: (H, W, 2) float32 px (u right, v down) and (H, W) bool non-occluded mask.

    """
    height, width = gx.shape
    flow = np.zeros((height, width, 2), np.float64)
    for k, (_, _, _, _, rel) in enumerate(layers):
        sel = ids[0] == k
        if not sel.any():
            continue
        x2, y2 = _apply(rel, gx[sel], gy[sel])
        flow[sel, 0] = x2 - gx[sel]
        flow[sel, 1] = y2 - gy[sel]
    flow = flow.astype(np.float32)
    tx, ty = gx + flow[..., 0], gy + flow[..., 1]
    rx, ry = np.rint(tx).astype(np.int64), np.rint(ty).astype(np.int64)
    inb = (rx >= 0) & (rx < width) & (ry >= 0) & (ry < height)
    target_id = np.full((height, width), -1, np.int32)
    target_id[inb] = ids[1][ry[inb], rx[inb]]
    return flow, inb & (target_id == ids[0])


class SyntheticFlowGenerator:
    """Endless, resumable stream of generated pairs.

    Args:
        height: frame rows, px.
        width: frame columns, px.
        seed: stream seed (0 <= seed < 10^6 for training; see :data:`HELDOUT_SEED`).
        config: motion/content distribution.
        start_index: index of the first sample (resume: pass the stored :attr:`index`).
        photos: scikit-image photo names used as textures.

    Example:
        >>> gen = SyntheticFlowGenerator(64, 96, seed=0)
        >>> pair = next(gen)                      # FlowPair, pair.flow (64, 96, 2) float32 px

    """

    def __init__(self, height: int, width: int, *, seed: int = 0, config: MotionConfig | None = None,
                 start_index: int = 0, photos: tuple[str, ...] = TRAIN_PHOTOS) -> None:
        self.height = int(height)
        self.width = int(width)
        self.seed = int(seed)
        self.config = config or MotionConfig()
        self.index = int(start_index)
        self.photos = tuple(photos)

    def __iter__(self) -> Iterator[FlowPair]:
        return self

    def __next__(self) -> FlowPair:
        pair = make_pair(self.seed, self.index, self.height, self.width, self.config, self.photos)
        self.index += 1
        return pair

    def batch(self, size: int) -> dict[str, np.ndarray]:
        """The next ``size`` pairs stacked.

        Returns:
            ``img1``, ``img2``: (B, H, W, 3) uint8 BGR; ``flow``: (B, H, W, 2) float32 px;
            ``noc``: (B, H, W) bool.

        """
        pairs = [next(self) for _ in range(size)]
        return {
            'img1': np.stack([p.img1 for p in pairs]),
            'img2': np.stack([p.img2 for p in pairs]),
            'flow': np.stack([p.flow for p in pairs]),
            'noc': np.stack([p.noc for p in pairs]),
        }


def heldout_pairs(count: int, height: int = 320, width: int = 448,
                  config: MotionConfig | None = None) -> list[FlowPair]:
    """The fixed validation pairs: indices 0..count-1 of the stream :data:`HELDOUT_SEED`.

    Args:
        count: number of pairs.
        height: frame rows, px (320 as mmflow's FlyingChairs crops).
        width: frame columns, px (448).
        config: distribution; default :class:`MotionConfig` (with photometric augmentation).

    Returns:
        ``count`` :class:`FlowPair` (identical on every call).

    """
    return [make_pair(HELDOUT_SEED, i, height, width, config) for i in range(count)]


def without_photometric(config: MotionConfig | None = None) -> MotionConfig:
    """``config`` (default :class:`MotionConfig`) with photometric augmentation switched off."""
    return replace(config or MotionConfig(), photometric=False)


MOTION_PRESETS: dict[str, MotionConfig] = {
    'default': MotionConfig(),
    # warm-up: one rigid shift of a photo, nothing else; the network leaves the zero-flow plateau on
    # this in a few hundred steps, where the full distribution keeps it there for thousands
    'translation': MotionConfig(bg_translation_px=6.0, bg_rotation_deg=0.0, bg_scale=0.0, bg_perspective=0.0,
                                static_probability=0.0, obj_count=(0, 0), photometric=False,
                                texture_weights=(1.0, 0.0, 0.0, 0.0, 0.0)),
    # the default geometry (objects, occlusions, rotation, scale) without photometric changes
    'rigid': without_photometric(),
}
"""Named distributions for the trainer's ``--motion`` (``default`` is the held-out distribution)."""


def motion_preset(name: str) -> MotionConfig:
    """The :data:`MOTION_PRESETS` entry ``name``; ValueError naming the choices otherwise."""
    try:
        return MOTION_PRESETS[name]
    except KeyError:
        raise ValueError(f'unknown motion preset {name!r}; choose from {", ".join(MOTION_PRESETS)}') from None

