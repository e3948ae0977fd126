# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""FlyingChairs-style training pairs rendered in batches with torch ops, with exact ground-truth flow.

A pair is a stack of layers: a background (photo or procedural texture) moved by a camera motion
(affine with a slight perspective part), and up to ``obj_count`` foreground objects (analytic
silhouettes with their own texture) moved by the camera motion composed with their own affine
motion, so objects occlude each other and the background and the flow has motion boundaries.

Layer k is defined on its own canvas and shown in frame t through a 3x3 map ``M_t,k`` (canvas px ->
frame px) with ``M_2,k = A_k M_1,k``. Both frames are rendered with ``grid_sample`` at
``M_t,k^-1 x``; the flow of a frame-1 pixel x on top layer k is ``proj(A_k x) - x`` exactly (px, frame
1 -> frame 2, channel 0 = +x right, 1 = +y down), also where x is occluded in frame 2. ``noc`` marks
frame-1 pixels whose layer is still on top at the rounded target in frame 2, inside the frame.

Batch ``key`` of a stream ``seed`` depends only on ``(seed, key)`` and the device type (CPU and CUDA
random streams differ), so streams are deterministic and resumable; the held-out set
(:func:`heldout_batches`) is always drawn on the CPU from :data:`HELDOUT_SEED`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from lfn2_ros.training.motion import (
    PairConfig,
    layer_motions,
    project,
    shrink_static,
    silhouette,
    translation_matrix,
)
from lfn2_ros.training.textures import bank_volume, photo_textures, procedural_textures

__all__ = [
    'HELDOUT_SEED',
    'PairBatch',
    'PairStream',
    'heldout_batches',
    'make_generator',
    'photometric',
    'render_pairs',
]

HELDOUT_SEED = 1_000_003
"""Seed of the fixed validation stream (training uses seeds below 10^6)."""

_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


@dataclass
class PairBatch:
    """A batch of generated pairs.

    Attributes:
        img1: (B, 3, H, W) float32 BGR in [0, 1], quantised to 8-bit steps.
        img2: (B, 3, H, W) float32 BGR in [0, 1].
        flow: (B, 2, H, W) float32 exact flow frame 1 -> frame 2, px.
        noc: (B, H, W) bool, frame-1 pixels still visible in frame 2.

    """

    img1: torch.Tensor
    img2: torch.Tensor
    flow: torch.Tensor
    noc: torch.Tensor

    def numpy_pair(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pair ``i`` as (H, W, 3) uint8 BGR twice, (H, W, 2) float32 flow and (H, W) bool noc."""

        def u8(x: torch.Tensor) -> np.ndarray:
            return (x[i].permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)

        return (
            u8(self.img1),
            u8(self.img2),
            self.flow[i].permute(1, 2, 0).cpu().numpy(),
            self.noc[i].cpu().numpy(),
        )


def make_generator(seed: int, key: int, device: Union[str, torch.device] = 'cpu') -> torch.Generator:
    """A torch generator on ``device`` seeded from ``(seed, key)`` (a fixed integer mix, no Python hash)."""
    if seed < 0 or key < 0:
        raise ValueError(f'seed and key must be >= 0, got {seed} and {key}')
    mixed = (seed * _MIX[0] + key * _MIX[1] + _MIX[2]) % (2**63 - 1)
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(mixed)
    return gen


def _blur3(x: torch.Tensor) -> torch.Tensor:
    """Separable [1, 2, 1] / 4 blur per channel (limits aliasing of warped textures)."""
    c = x.shape[1]
    k = torch.tensor([0.25, 0.5, 0.25], device=x.device, dtype=x.dtype)
    x = F.conv2d(F.pad(x, (1, 1, 0, 0), mode='replicate'), k.view(1, 1, 1, 3).expand(c, 1, 1, 3), groups=c)
    return F.conv2d(F.pad(x, (0, 0, 1, 1), mode='replicate'), k.view(1, 1, 3, 1).expand(c, 1, 3, 1), groups=c)


def _textures(
    gen: torch.Generator,
    n: int,
    h: int,
    w: int,
    bank: Optional[torch.Tensor],
    photo_share: float,
    device: torch.device,
) -> torch.Tensor:
    """``n`` textures, a ``photo_share`` of them photo crops (when there is a bank), lightly blurred."""
    use = torch.rand(n, generator=gen, device=device) < (photo_share if bank is not None else 0.0)
    photo, proc = torch.nonzero(use).flatten(), torch.nonzero(~use).flatten()
    tex = torch.empty(n, 3, h, w, device=device)
    if proc.numel():
        tex[proc] = procedural_textures(gen, int(proc.numel()), h, w, device)
    if photo.numel():
        tex[photo] = photo_textures(gen, bank, int(photo.numel()), h, w)
    return _blur3(tex)


def _sample(tex: torch.Tensor, coords: torch.Tensor, h: int, w: int, padding: str) -> torch.Tensor:
    """Sample (N, 3, Hc, Wc) textures at (N, h*w, 2) canvas px -> (N, 3, h, w)."""
    hc, wc = tex.shape[-2:]
    norm = torch.stack(((2 * coords[..., 0] + 1) / wc - 1, (2 * coords[..., 1] + 1) / hc - 1), dim=-1)
    return F.grid_sample(
        tex, norm.view(-1, h, w, 2), mode='bilinear', padding_mode=padding, align_corners=False
    )


def render_pairs(
    seed: int,
    key: int,
    batch: int,
    height: int,
    width: int,
    config: Optional[PairConfig] = None,
    bank: Optional[torch.Tensor] = None,
    device: Union[str, torch.device] = 'cpu',
) -> PairBatch:
    """Render batch ``key`` of the stream ``seed`` (deterministic per device type).

    Args:
        seed: stream seed (>= 0).
        key: batch key in the stream (>= 0).
        batch: pairs in the batch.
        height: frame rows, px (>= 8).
        width: frame columns, px (>= 8).
        config: distribution (default :class:`PairConfig`).
        bank: (N, 3, Hb, Wb) float32 [0, 1] photos on ``device`` (``textures.bank_volume``; None:
            procedural textures only).
        device: where to render.

    Returns:
        The :class:`PairBatch` on ``device``.

    """
    if height < 8 or width < 8 or batch < 1:
        raise ValueError(f'need batch >= 1 and frames of at least 8x8, got {batch} x {height}x{width}')
    cfg = config or PairConfig()
    device = torch.device(device)
    if bank is not None and bank.dtype == torch.uint8:
        bank = bank_volume(bank, device)
    gen = make_generator(seed, key, device)
    b, h, w, k = batch, height, width, max(1, cfg.obj_count[1])
    margin = int(0.1 * max(h, w)) + 8  # reflection padding covers motions beyond it
    size = max(8, int(math.ceil(cfg.obj_size[1] * min(h, w))))
    bg = _textures(gen, b, h + 2 * margin, w + 2 * margin, bank, cfg.photo_share, device)
    obj = _with_silhouettes(gen, _textures(gen, b * k, size, size, bank, cfg.photo_share, device), b, k)
    count = torch.randint(cfg.obj_count[0], cfg.obj_count[1] + 1, (b, 1), generator=gen, device=device)
    active = torch.arange(k, device=device).view(1, k) < count  # (b, k)

    _, motions, pos = layer_motions(gen, cfg, b, k, h, w, device)  # (b, 1 + k, 3, 3), layer 0 = camera
    motions = shrink_static(gen, cfg, motions, h, w)
    place = _placements(gen, cfg, pos, size, margin, h, w)  # M_1 per layer, (b, 1 + k, 3, 3)

    ys, xs = torch.meshgrid(
        torch.arange(h, device=device, dtype=torch.float32),
        torch.arange(w, device=device, dtype=torch.float32),
        indexing='ij',
    )
    grid = torch.stack((xs.flatten(), ys.flatten(), torch.ones_like(xs.flatten())), -1)  # (h*w, 3)
    frames, ids = zip(*(_composite(bg, obj, place if t == 0 else motions @ place, grid, active, h, w)
                        for t in range(2)), strict=True)
    flow, noc = _flow_and_visibility(motions, grid, ids, xs, ys)
    img1, img2 = photometric(gen, frames[0], frames[1], cfg)
    return PairBatch(img1, img2, flow, noc)


def _with_silhouettes(gen: torch.Generator, obj: torch.Tensor, b: int, k: int) -> torch.Tensor:
    """(b*k, 3, S, S) object textures -> (b*k, 4, S, S): a random silhouette (0 or 1) as 4th channel.

    The silhouettes are rasterised once on the object canvases and then resampled with the texture, so
    both frames see the same mask, at a fraction of the cost of an analytic test per frame pixel.
    """
    size, device = obj.shape[-1], obj.device
    inside = silhouette(gen, b, k, device)
    c = (torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2) / (size / 2)
    cv, cu = torch.meshgrid(c, c, indexing='ij')
    mask = inside(cu.expand(b, k, size, size), cv.expand(b, k, size, size)).float()
    return torch.cat((obj, mask.view(b * k, 1, size, size)), dim=1)


def _placements(gen: torch.Generator, cfg: PairConfig, pos: torch.Tensor, size: int, margin: int, h: int,
                w: int) -> torch.Tensor:
    """Each layer's canvas -> frame-1 px map M_1: (b, 1 + k, 3, 3), layer 0 = the background.

    The background canvas has ``margin`` px on every side; an object's S x S canvas (``size``) is turned
    by a random angle, scaled to a log-uniform side in ``cfg.obj_size`` (a share of the shorter frame
    side) and centred on its frame-1 centre ``pos`` (b, k, 2) px.
    """
    (b, k), device = pos.shape[:2], pos.device
    angle = torch.rand(b, k, generator=gen, device=device) * (2 * math.pi)
    scale = torch.exp(
        torch.rand(b, k, generator=gen, device=device) * math.log(cfg.obj_size[1] / cfg.obj_size[0])
    )
    scale = scale * cfg.obj_size[0] * min(h, w) / size  # object side in frame px / canvas px
    rot = torch.zeros(b, k, 3, 3, device=device)
    rot[..., 0, 0], rot[..., 0, 1] = torch.cos(angle) * scale, -torch.sin(angle) * scale
    rot[..., 1, 0], rot[..., 1, 1] = torch.sin(angle) * scale, torch.cos(angle) * scale
    rot[..., 2, 2] = 1.0
    half = torch.full((b, k), -(size - 1) / 2, device=device)
    place_obj = translation_matrix(pos[..., 0], pos[..., 1]) @ rot @ translation_matrix(half, half)
    place_bg = translation_matrix(
        torch.full((b, 1), -float(margin), device=device), torch.full((b, 1), -float(margin), device=device)
    )
    return torch.cat((place_bg, place_obj), 1)


def _composite(bg: torch.Tensor, obj: torch.Tensor, placement: torch.Tensor, grid: torch.Tensor,
               active: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One frame: the background and the active objects (later ones on top) seen through ``placement``.

    Args:
        bg: (B, 3, Hb, Wb) background canvases.
        obj: (B*K, 4, S, S) object canvases, texture and silhouette.
        placement: (B, 1 + K, 3, 3) canvas -> frame px per layer (layer 0 = background).
        grid: (h*w, 3) homogeneous frame pixel centres.
        active: (B, K) bool, the objects present in each pair.
        h: frame rows, px.
        w: frame columns, px.

    Returns:
        ``(image, layer_id)``: (B, 3, h, w) float32 [0, 1] and (B, h, w) long, 0 = background.

    """
    b, k = active.shape
    canvas = project(torch.linalg.inv(placement), grid)  # (b, 1 + k, h*w, 2) canvas px
    img = _sample(bg, canvas[:, 0], h, w, 'reflection')
    lid = torch.zeros(b, h, w, dtype=torch.long, device=bg.device)
    obj_img = _sample(obj, canvas[:, 1:].reshape(b * k, h * w, 2), h, w, 'zeros').view(b, k, 4, h, w)
    masks = (obj_img[:, :, 3] > 0.5) & active.view(b, k, 1, 1)
    for j in range(k):  # later objects are on top
        img = torch.where(masks[:, j, None], obj_img[:, j, :3], img)
        lid = torch.where(masks[:, j], j + 1, lid)
    return img, lid


def _flow_and_visibility(motions: torch.Tensor, grid: torch.Tensor, ids: Sequence[torch.Tensor],
                         xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact flow of the top layer of frame 1, and where that point is still the top layer in frame 2.

    Args:
        motions: (B, 1 + K, 3, 3) frame-1 px -> frame-2 px per layer.
        grid: (h*w, 3) homogeneous frame pixel centres.
        ids: the two frames' (B, h, w) layer ids.
        xs: (h, w) pixel column coordinates, px.
        ys: (h, w) pixel row coordinates, px.

    Returns:
        ``(flow, noc)``: (B, 2, h, w) float32 px (u right, v down) and (B, h, w) bool non-occluded mask.

    """
    b, h, w = ids[0].shape
    targets = project(motions, grid).view(b, motions.shape[1], h, w, 2)
    top = ids[0].view(b, 1, h, w, 1).expand(b, 1, h, w, 2)
    flow = (targets.gather(1, top)[:, 0] - torch.stack((xs, ys), -1)).permute(0, 3, 1, 2).contiguous()
    tx = torch.round(xs + flow[:, 0]).long()
    ty = torch.round(ys + flow[:, 1]).long()
    inb = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    flat = (ty.clamp(0, h - 1) * w + tx.clamp(0, w - 1)).view(b, -1)
    noc = inb & (ids[1].view(b, -1).gather(1, flat).view(b, h, w) == ids[0])
    return flow, noc


def photometric(
    gen: torch.Generator, img1: torch.Tensor, img2: torch.Tensor, cfg: PairConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shared contrast/brightness/gain/gamma/blur with small per-frame jitter, per-frame sensor noise, 8 bits.

    Args:
        gen: random generator on the images' device.
        img1: (B, 3, H, W) float32 in [0, 1].
        img2: same shape.
        cfg: ``photometric`` switches the colour changes; ``noise_max`` bounds the noise std.

    Returns:
        The two augmented frames, (B, 3, H, W) float32 in [0, 1] on 1/255 steps.

    """
    b, device = img1.shape[0], img1.device

    def draw(shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
        return torch.rand(shape, generator=gen, device=device) * (hi - lo) + lo

    on = 1.0 if cfg.photometric else 0.0
    contrast = 1.0 + on * draw((b, 1, 1, 1), -0.4, 0.4)
    brightness = on * draw((b, 1, 1, 1), -0.2, 0.2)
    gain = 1.0 + on * draw((b, 3, 1, 1), -0.15, 0.15)
    gamma = torch.exp(on * draw((b, 1, 1, 1), math.log(0.7), math.log(1.5)))
    blur = on * draw((b, 1, 1, 1), 0.0, 1.0) * (torch.rand(b, 1, 1, 1, generator=gen, device=device) < 0.3)
    noise = draw((b, 1, 1, 1), 0.0, cfg.noise_max)
    out = []
    for img in (img1, img2):
        c = contrast * (1.0 + on * draw((b, 1, 1, 1), -0.03, 0.03))
        x = ((img - 0.5) * c + 0.5 + brightness + on * draw((b, 1, 1, 1), -0.02, 0.02)).clamp(0, 1)
        x = (x * gain * (1.0 + on * draw((b, 3, 1, 1), -0.02, 0.02))).clamp(0, 1) ** gamma
        x = x + blur * (_blur3(_blur3(x)) - x)
        x = x + torch.randn(x.shape, generator=gen, device=device) * noise
        out.append(torch.round(x.clamp(0, 1) * 255.0) / 255.0)
    return out[0], out[1]


class PairStream:
    """Endless, resumable stream of generated batches for one process of a (possibly distributed) run.

    Batch ``i`` of rank ``r`` among ``world`` processes is ``render_pairs(seed, i * world + r, ...)``, so
    processes draw disjoint batches and the combined batch of step i is the same for any restart.

    Args:
        height: frame rows, px.
        width: frame columns, px.
        seed: stream seed (0 <= seed < 10^6 for training).
        config: distribution.
        bank: photo bank, uint8 or float32 (converted and moved to ``device`` once) or None.
        device: where batches are rendered.
        rank: this process's rank.
        world: number of processes.
        position: index of the next batch (resume: pass the stored :attr:`position`).

    """

    def __init__(
        self,
        height: int,
        width: int,
        *,
        seed: int = 0,
        config: Optional[PairConfig] = None,
        bank: Optional[torch.Tensor] = None,
        device: Union[str, torch.device] = 'cpu',
        rank: int = 0,
        world: int = 1,
        position: int = 0,
    ) -> None:
        self.height, self.width, self.seed = int(height), int(width), int(seed)
        self.config = config or PairConfig()
        self.device = torch.device(device)
        self.bank = (
            None
            if bank is None
            else (bank_volume(bank, self.device) if bank.dtype == torch.uint8 else bank.to(self.device))
        )
        self.rank, self.world, self.position = int(rank), int(world), int(position)

    def next_batch(self, size: int) -> PairBatch:
        """The next ``size`` pairs of this rank."""
        key = self.position * self.world + self.rank
        self.position += 1
        return render_pairs(
            self.seed, key, size, self.height, self.width, self.config, self.bank, self.device
        )


def heldout_batches(
    count: int,
    height: int = 384,
    width: int = 512,
    config: Optional[PairConfig] = None,
    bank: Optional[torch.Tensor] = None,
    chunk: int = 4,
) -> list[PairBatch]:
    """The fixed validation pairs, rendered on the CPU from :data:`HELDOUT_SEED` in chunks of ``chunk``."""
    out = []
    for key, start in enumerate(range(0, count, chunk)):
        out.append(
            render_pairs(HELDOUT_SEED, key, min(chunk, count - start), height, width, config, bank, 'cpu')
        )
    return out
