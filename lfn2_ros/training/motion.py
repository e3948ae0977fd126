# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Motion distribution of generated pairs: heavy-tailed affine motions and object silhouettes, batched.

:func:`layer_motions` draws a batch's camera and object motions and :func:`shrink_static` makes a share of
them static; :mod:`lfn2_ros.training.pairs` renders the layers they move.

Matrices are (..., 3, 3) float32 maps between pixel coordinates (pixel centres at integers, x right,
y down). The displacement distribution follows FlyingChairs' shape: log-uniform translation
magnitudes put most pixels under 10 px with a tail to ``max_translation_px`` (100 px at 384x512), and
a share of pairs is static or near-static (sub-pixel), for which only sensor noise differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    'PRESETS',
    'PairConfig',
    'layer_motions',
    'preset',
    'project',
    'sample_affine',
    'shrink_static',
    'silhouette',
    'translation_matrix',
]


@dataclass(frozen=True)
class PairConfig:
    """Distribution of motions and content of generated pairs; lengths in px of the output frames.

    Attributes:
        typical_translation_px: median of the log-normal (sigma 1) body of the translation magnitudes.
        tail_share: share of translations drawn log-uniformly in [min, max] instead (the tail).
        min_translation_px: lower end of the log-uniform tail.
        max_translation_px: upper end of the tail; every translation (and each object's total
            displacement at its centre) is bounded by it.
        bg_rotation_deg: std of the camera (background) rotation, degrees.
        bg_log_scale: std of the camera log-scale change (zoom).
        bg_shear: std of the background's anisotropic part (shear / aspect change).
        bg_perspective: std of the perspective terms, as a px shift at the frame border.
        obj_rotation_deg: std of an object's own rotation, degrees.
        obj_log_scale: std of an object's own log-scale change.
        obj_shear: std of an object's own shear.
        obj_count: inclusive range of foreground objects (at most 8).
        obj_size: range of object sizes as a fraction of the shorter frame side.
        static_share: share of pairs with no motion at all (only noise differs).
        near_static_share: share of pairs whose motions are shrunk below ``near_static_px``.
        near_static_px: largest translation of a near-static pair.
        photo_share: share of textures cut from the photo bank (when there is one).
        photometric: apply photometric augmentation (contrast, brightness, gain, gamma, blur).
        noise_max: largest std of the additive sensor noise, on [0, 1] intensities.

    """

    typical_translation_px: float = 2.0
    tail_share: float = 0.35
    min_translation_px: float = 0.5
    max_translation_px: float = 100.0
    bg_rotation_deg: float = 1.5
    bg_log_scale: float = 0.03
    bg_shear: float = 0.01
    bg_perspective: float = 2.0
    obj_rotation_deg: float = 10.0
    obj_log_scale: float = 0.08
    obj_shear: float = 0.03
    obj_count: tuple[int, int] = (1, 6)
    obj_size: tuple[float, float] = (0.15, 0.6)
    static_share: float = 0.08
    near_static_share: float = 0.08
    near_static_px: float = 0.5
    photo_share: float = 0.7
    photometric: bool = True
    noise_max: float = 0.03


PRESETS: dict[str, PairConfig] = {
    'chairs': PairConfig(),
    # a gentler start: motions to 40 px, fewer objects; the network leaves the zero-flow plateau sooner
    'easy': PairConfig(max_translation_px=40.0, tail_share=0.15, obj_count=(0, 3), photometric=False),
    'rigid': PairConfig(photometric=False),
    # the fine-tune for a still camera: chairs with 20 % static and 20 % near-static pairs (instead of 8 %
    # each), so that identical frames with sensor noise give (near) zero flow, not texture-following flow
    'chairs_still': PairConfig(static_share=0.2, near_static_share=0.2),
    # the fine-tune for large object motions: half the translations in the log-uniform tail from 4 px (about
    # 14 % past 40 px, against 6 % in chairs), still 15 % static and 15 % near-static pairs; meant for crops
    # as large as the held-out frames (384x512), so that a 70 px motion mostly stays inside the crop
    'chairs_far': PairConfig(tail_share=0.5, min_translation_px=4.0,
                             static_share=0.15, near_static_share=0.15),
    # chairs_far's motions with chairs_still's still pairs (20 % static, 20 % near-static): chairs_far alone
    # made large motions read larger (a 40 px shift as 41.6 px) and noisy identical frames move more
    'chairs_far_still': PairConfig(tail_share=0.5, min_translation_px=4.0,
                                   static_share=0.2, near_static_share=0.2),
    # chairs with half the pairs still (25 % static, 25 % near-static): the flow on identical noisy frames
    # fell as the still share rose (0.32 px at 8 %, 0.22 px at 20 % of each), and chairs' own motions are
    # meant to stop a 40 px shift from reading ever larger, as chairs_far's tail made it (README, session 9)
    'chairs_half_still': PairConfig(static_share=0.25, near_static_share=0.25),
    # the warm-up of a network trained from scratch: one textured plane under a pure translation (typically
    # 6 px, to 40 px), the easiest case for the correlation. With the default body (median 2 px) most pairs
    # barely move, zero flow is nearly optimal and a fresh network stays there.
    'translation': PairConfig(
        typical_translation_px=6.0, max_translation_px=40.0, obj_count=(0, 0), bg_rotation_deg=0.0,
        bg_log_scale=0.0, bg_shear=0.0, bg_perspective=0.0, photometric=False,
    ),
}
"""Named distributions for the trainer's ``--data`` (``chairs`` is the held-out distribution)."""


def preset(name: str) -> PairConfig:
    """The :data:`PRESETS` entry ``name``; ValueError naming the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f'unknown data preset {name!r}; choose from {", ".join(PRESETS)}') from None


def translation_matrix(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """(...,) translations in px -> (..., 3, 3) matrices."""
    m = torch.zeros(*tx.shape, 3, 3, device=tx.device, dtype=tx.dtype)
    m[..., 0, 0] = m[..., 1, 1] = m[..., 2, 2] = 1.0
    m[..., 0, 2] = tx
    m[..., 1, 2] = ty
    return m


def _heavy_tailed_translation(
    gen: torch.Generator, shape: tuple[int, ...], cfg: PairConfig, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Translation with a heavy-tailed magnitude and a uniform direction.

    The body is log-normal (median ``typical_translation_px``, sigma 1), a ``tail_share`` is
    log-uniform in [min, max]: most magnitudes stay under 10 px and a few per cent pass 60 px.
    """
    lo, hi = math.log(cfg.min_translation_px), math.log(cfg.max_translation_px)
    tail = torch.exp(lo + torch.rand(shape, generator=gen, device=device) * (hi - lo))
    body = cfg.typical_translation_px * torch.exp(torch.randn(shape, generator=gen, device=device))
    use_tail = torch.rand(shape, generator=gen, device=device) < cfg.tail_share
    magnitude = torch.where(use_tail, tail, body).clamp(max=cfg.max_translation_px)
    direction = torch.rand(shape, generator=gen, device=device) * (2 * math.pi)
    return magnitude * torch.cos(direction), magnitude * torch.sin(direction)


def sample_affine(
    gen: torch.Generator,
    center: torch.Tensor,
    *,
    cfg: PairConfig,
    rotation_deg: float,
    log_scale: float,
    shear: float,
) -> torch.Tensor:
    """Random affine motions about ``center``: rotation, zoom and shear about it, then a translation.

    Args:
        gen: random generator on ``center``'s device.
        center: (..., 2) fixed points of the linear part, px.
        cfg: the translation-magnitude distribution (``typical_translation_px``, tail, bounds).
        rotation_deg: std of the rotation, degrees.
        log_scale: std of the log zoom.
        shear: std of the shear and of the log aspect change.

    Returns:
        (..., 3, 3) float32 matrices mapping frame-1 px to frame-2 px.

    """
    shape, device = tuple(center.shape[:-1]), center.device
    tx, ty = _heavy_tailed_translation(gen, shape, cfg, device)
    angle = torch.randn(shape, generator=gen, device=device) * math.radians(rotation_deg)
    scale = torch.exp(torch.randn(shape, generator=gen, device=device) * log_scale)
    aspect = torch.exp(torch.randn(shape, generator=gen, device=device) * shear)
    skew = torch.randn(shape, generator=gen, device=device) * shear
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    lin = torch.zeros(*shape, 3, 3, device=device)
    # rotation-zoom times (aspect, skew) upper-triangular part
    lin[..., 0, 0] = cos * aspect
    lin[..., 0, 1] = cos * skew - sin / aspect
    lin[..., 1, 0] = sin * aspect
    lin[..., 1, 1] = sin * skew + cos / aspect
    lin[..., 2, 2] = 1.0
    cx, cy = center[..., 0], center[..., 1]
    return translation_matrix(cx + tx, cy + ty) @ lin @ translation_matrix(-cx, -cy)


def silhouette(gen: torch.Generator, batch: int, objects: int, device: torch.device):
    """Draw random object silhouettes as parameters of an analytic inside test.

    Shapes: ellipses, regular-ish polygons (3-8 sides), Fourier blobs and rectangles, in canvas units
    where the object's canvas is [-1, 1]^2.

    Returns:
        A function ``inside(u, v)`` of (batch, objects, ...) canvas coordinates returning a bool tensor
        of the same shape (True inside the object).

    """
    shape = (batch, objects)

    def draw(lo: float, hi: float) -> torch.Tensor:
        return (torch.rand(shape, generator=gen, device=device) * (hi - lo) + lo).view(*shape, 1, 1)

    kind = torch.randint(0, 4, shape, generator=gen, device=device).view(*shape, 1, 1)
    ax, ay = draw(0.45, 0.98), draw(0.45, 0.98)
    sides = torch.randint(3, 9, shape, generator=gen, device=device).view(*shape, 1, 1).float()
    phase = draw(0.0, 2 * math.pi)
    harm = [(draw(0.0, 0.3) / j, draw(0.0, 2 * math.pi)) for j in range(1, 5)]
    radius = draw(0.55, 0.8)

    def inside(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r = torch.sqrt(u * u + v * v)
        t = torch.atan2(v, u)
        ellipse = (u / ax) ** 2 + (v / ay) ** 2 < 1.0
        sector = 2 * math.pi / sides
        local = torch.remainder(t - phase, sector) - sector / 2
        polygon = r * torch.cos(local) < 0.95 * torch.cos(sector / 2)
        edge = radius * (1.0 + sum(a * torch.cos((j + 1) * t + p) for j, (a, p) in enumerate(harm)))
        blob = r < edge.clamp(max=0.99)
        rect = (u.abs() < ax) & (v.abs() < ay)
        out = torch.where(
            kind == 0, ellipse, torch.where(kind == 1, polygon, torch.where(kind == 2, blob, rect))
        )
        return out & (u.abs() < 1.0) & (v.abs() < 1.0)

    return inside


def project(mat: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) matrices applied to (P, 3) homogeneous px -> (..., P, 2) px (P points, e.g. H*W)."""
    out = torch.einsum('...ij,pj->...pi', mat, grid)
    return out[..., :2] / out[..., 2:3]


def layer_motions(
    gen: torch.Generator, cfg: PairConfig, b: int, k: int, h: int, w: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The motions of one batch: the camera's, then each object's composed with it.

    The camera moves about a random point with a slight perspective part about the frame centre; each
    object moves about its centre, and its total displacement there is bounded by ``max_translation_px``.

    Args:
        gen: random generator on ``device``.
        cfg: the distribution.
        b: pairs.
        k: object slots per pair.
        h: frame rows, px.
        w: frame columns, px.
        device: where to draw.

    Returns:
        Camera motions (b, 3, 3), layer motions A (b, 1 + k, 3, 3; layer 0 = the camera), both frame-1 px
        -> frame-2 px, and the object centres in frame 1 (b, k, 2) px.

    """
    center = torch.tensor([(w - 1) / 2, (h - 1) / 2], device=device)
    offset = (torch.rand(b, 2, generator=gen, device=device) - 0.5) * torch.tensor([w, h], device=device)
    cam = sample_affine(
        gen,
        center + offset,
        cfg=cfg,
        rotation_deg=cfg.bg_rotation_deg,
        log_scale=cfg.bg_log_scale,
        shear=cfg.bg_shear,
    )
    persp = torch.eye(3, device=device).repeat(b, 1, 1)
    persp[:, 2, :2] = (
        torch.randn(b, 2, generator=gen, device=device)
        * cfg.bg_perspective
        * 4
        / torch.tensor([w * w, h * h], device=device, dtype=torch.float32)
    )
    about = translation_matrix(center[0].expand(b), center[1].expand(b))
    cam = about @ persp @ torch.linalg.inv(about) @ cam
    pos = torch.rand(b, k, 2, generator=gen, device=device) * torch.tensor([w, h], device=device)
    own = sample_affine(
        gen, pos, cfg=cfg, rotation_deg=cfg.obj_rotation_deg, log_scale=cfg.obj_log_scale, shear=cfg.obj_shear
    )
    full = cam[:, None] @ own
    # bound each object's total displacement at its centre by the tail of the distribution
    ones = torch.ones(b, k, 1, device=device)
    moved = (full @ torch.cat((pos, ones), -1)[..., None])[..., 0]
    disp = moved[..., :2] / moved[..., 2:] - pos
    norm = disp.norm(dim=-1, keepdim=True)
    fix = disp * (cfg.max_translation_px / norm.clamp(min=1e-6)).clamp(max=1.0) - disp
    full = translation_matrix(fix[..., 0], fix[..., 1]) @ full
    return cam, torch.cat((cam[:, None], full), 1), pos


def shrink_static(
    gen: torch.Generator, cfg: PairConfig, motions: torch.Tensor, h: int, w: int
) -> torch.Tensor:
    """Shrink the motions of the static and near-static share of pairs towards the identity.

    A ``static_share`` of the pairs gets the identity; a ``near_static_share`` is scaled so that its
    largest frame-corner displacement becomes about a uniform draw below ``near_static_px`` (the scaling
    is of the matrices, so with a perspective part it is not exact).

    Args:
        gen: random generator on ``motions``' device.
        cfg: the distribution.
        motions: (b, L, 3, 3) layer motions, frame-1 px -> frame-2 px.
        h: frame rows, px.
        w: frame columns, px.

    Returns:
        (b, L, 3, 3) the motions, each pair's layers scaled alike.

    """
    b, device = motions.shape[0], motions.device
    corners = torch.tensor(
        [[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], device=device, dtype=torch.float32
    )
    largest = (project(motions, corners) - corners[:, :2]).norm(dim=-1).flatten(1).amax(1)
    u = torch.rand(b, generator=gen, device=device)
    target = torch.rand(b, generator=gen, device=device) * cfg.near_static_px
    scale = torch.where(
        u < cfg.static_share,
        torch.zeros_like(u),
        torch.where(
            u < cfg.static_share + cfg.near_static_share,
            (target / largest.clamp(min=1e-6)).clamp(max=1.0),
            torch.ones_like(u),
        ),
    )
    eye = torch.eye(3, device=device)
    return eye + scale.view(b, 1, 1, 1) * (motions - eye)
