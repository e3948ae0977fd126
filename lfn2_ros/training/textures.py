# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Batched textures for generated training pairs: a bank of real photos and procedural patterns, in torch.

Every function here works on a whole batch at once on any device (no per-sample Python loop), so the
generator (:mod:`lfn2_ros.training.pairs`) runs on the GPU when training does. Textures are
(B, 3, h, w) float32 BGR in [0, 1].

Photos: :func:`load_photo_bank` reads the images written by ``scripts/fetch_training_photos.py``
(Debian wallpaper packages; each file's package and licence are in the folder's ``manifest.json``)
from ``$LFN2_PHOTOS`` or ``~/.cache/lfn2_ros/photos/images``, plus scikit-image's bundled photos when
scikit-image is installed. With neither, generation falls back to procedural textures only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from lfn2_ros.io.photos import load_photo

__all__ = [
    'BANK_SIZE',
    'bank_volume',
    'DEFAULT_PHOTO_DIR',
    'PHOTO_DIR_ENV',
    'SKIMAGE_PHOTOS',
    'load_photo_bank',
    'photo_directory',
    'photo_textures',
    'procedural_textures',
    'value_noise',
]

PHOTO_DIR_ENV = 'LFN2_PHOTOS'
DEFAULT_PHOTO_DIR = Path('~/.cache/lfn2_ros/photos/images')
BANK_SIZE = (384, 576)
"""(height, width) of every bank photo, px: photos are scaled to cover it and centre-cropped."""

SKIMAGE_PHOTOS: dict[str, str] = {
    # name -> the licence its scikit-image docstring states. Only photos with a stated licence that allows
    # training are listed: 'stereo_motorcycle' is Middlebury 2014 (a research benchmark the shipped weights
    # must never see); 'moon' and 'page' state none. 'coffee' and 'rocket' are kept for evaluation.
    'astronaut': 'public domain (NASA): "no known copyright restrictions"',
    'chelsea': 'CC0 (photographer Stefan van der Walt)',
    'immunohistochemistry': '"no known copyright restrictions"',
    'hubble_deep_field': 'public domain (NASA)',
    'retina': 'CC0 1.0 (Mikael Haggstrom)',
    'coins': '"no known copyright restrictions" (Brooklyn Museum)',
    'camera': 'CC0 (photographer Lav Varshney)',
    'brick': 'CC0 (CC0Textures)',
    'grass': 'CC0 (CC0Textures)',
    'gravel': 'CC0 (CC0Textures)',
    'clock': 'public domain (photographer Stefan van der Walt)',
    'cell': 'CC0',
    'text': 'public domain: "no known copyright restrictions"',
}
"""scikit-image photos used as training textures, with the licence each one's docstring states."""

_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.webp', '.bmp')


def photo_directory(directory: Optional[os.PathLike] = None) -> Optional[Path]:
    """The photo folder to use: ``directory``, else ``$LFN2_PHOTOS``, else the default cache, if it exists."""
    for candidate in (directory, os.environ.get(PHOTO_DIR_ENV), DEFAULT_PHOTO_DIR):
        if candidate:
            path = Path(candidate).expanduser()
            if path.is_dir():
                return path
    return None


def _cover_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale an (H, W, 3) uint8 image to cover ``size`` (h, w) and centre-crop it."""
    import cv2

    h, w = size
    scale = max(h / image.shape[0], w / image.shape[1])
    new = (max(w, int(math.ceil(image.shape[1] * scale))), max(h, int(math.ceil(image.shape[0] * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = cv2.resize(image, new, interpolation=interp)
    y0, x0 = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return image[y0 : y0 + h, x0 : x0 + w]


def _skimage_photo(name: str) -> Optional[np.ndarray]:
    """A scikit-image photo as uint8 BGR, or None without scikit-image or that photo."""
    try:
        return load_photo(name)
    except Exception:  # noqa: BLE001 - no scikit-image, or a photo downloaded on first use (no network)
        return None


def load_photo_bank(
    directory: Optional[os.PathLike] = None,
    *,
    skimage_names: Sequence[str] = tuple(SKIMAGE_PHOTOS),
    size: tuple[int, int] = BANK_SIZE,
    limit: Optional[int] = None,
) -> Optional[torch.Tensor]:
    """Read the photo bank.

    Args:
        directory: folder of images (default: :func:`photo_directory`); absent folders are skipped.
        skimage_names: scikit-image photos added to the bank (skipped without scikit-image).
        size: (height, width) of every bank entry, px.
        limit: keep at most this many photos (sorted by file name, then the scikit-image ones).

    Returns:
        (N, 3, h, w) uint8 BGR CPU tensor, or None when no photo was found.

    """
    import cv2

    images = []
    folder = photo_directory(directory)
    if folder is not None:
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None and min(image.shape[:2]) >= 64:
                images.append(_cover_crop(image, size))
    for name in skimage_names:
        image = _skimage_photo(name)
        if image is not None:
            images.append(_cover_crop(image, size))
    if limit is not None:
        images = images[:limit]
    if not images:
        return None
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _uniform(
    gen: torch.Generator, shape: Sequence[int], lo: float, hi: float, device: torch.device
) -> torch.Tensor:
    return torch.rand(tuple(shape), generator=gen, device=device) * (hi - lo) + lo


def value_noise(
    gen: torch.Generator, batch: int, height: int, width: int, device: torch.device, octaves: int = 6
) -> torch.Tensor:
    """Multi-octave value noise with a random spectrum per sample.

    Returns:
        (batch, 1, height, width) float32, each sample normalised to [0, 1].

    """
    out = torch.zeros(batch, 1, height, width, device=device)
    # per-sample octave weights: the falloff decides between smooth and grainy textures
    falloff = _uniform(gen, (batch, 1), 0.45, 1.1, device)
    weights = falloff ** torch.arange(octaves, device=device, dtype=torch.float32)
    for octave in range(octaves):
        cells = 2 ** (octave + 2)  # 4 .. 128 cells along the longer side
        gh = max(2, int(round(cells * height / max(height, width))) + 1)
        gw = max(2, int(round(cells * width / max(height, width))) + 1)
        grid = torch.rand(batch, 1, gh, gw, generator=gen, device=device)
        up = F.interpolate(grid, size=(height, width), mode='bilinear', align_corners=True)
        out += weights[:, octave].view(batch, 1, 1, 1) * up
    flat = out.view(batch, -1)
    lo, hi = flat.amin(dim=1).view(batch, 1, 1, 1), flat.amax(dim=1).view(batch, 1, 1, 1)
    return ((out - lo) / (hi - lo).clamp(min=1e-6)).clamp(0.0, 1.0)


def _colorize(gen: torch.Generator, field: torch.Tensor) -> torch.Tensor:
    """Map a (B, 1, h, w) [0, 1] field between two random colours at least 0.5 apart -> (B, 3, h, w)."""
    batch, device = field.shape[0], field.device
    c0 = torch.rand(batch, 3, 1, 1, generator=gen, device=device)
    step = torch.randn(batch, 3, 1, 1, generator=gen, device=device)
    step = step / step.flatten(1).norm(dim=1).clamp(min=1e-6).view(batch, 1, 1, 1)
    c1 = (c0 + step * _uniform(gen, (batch, 1, 1, 1), 0.5, 1.0, device)).clamp(0.0, 1.0)
    return c0 + field * (c1 - c0)


def _coords(batch: int, height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    y = (
        torch.arange(height, device=device, dtype=torch.float32)
        .view(1, 1, height, 1)
        .expand(batch, 1, height, width)
    )
    x = (
        torch.arange(width, device=device, dtype=torch.float32)
        .view(1, 1, 1, width)
        .expand(batch, 1, height, width)
    )
    return x, y


def _stripes(gen: torch.Generator, batch: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    x, y = _coords(batch, height, width, device)
    out = torch.zeros(batch, 1, height, width, device=device)
    for _ in range(2):
        angle = _uniform(gen, (batch, 1, 1, 1), 0.0, math.pi, device)
        period = torch.exp(_uniform(gen, (batch, 1, 1, 1), math.log(5.0), math.log(60.0), device))
        phase = _uniform(gen, (batch, 1, 1, 1), 0.0, 2 * math.pi, device)
        out += torch.sin((torch.cos(angle) * x + torch.sin(angle) * y) * (2 * math.pi / period) + phase)
    return out * 0.25 + 0.5


def _shapes(gen: torch.Generator, base: torch.Tensor, count: int = 16) -> torch.Tensor:
    """Paint ``count`` random discs and rectangles of random colours over (B, 3, h, w) ``base``."""
    batch, _, height, width = base.shape
    device = base.device
    x, y = _coords(batch, height, width, device)
    out = base.clone()
    short = float(min(height, width))
    for _ in range(count):
        cx = _uniform(gen, (batch, 1, 1, 1), 0.0, width, device)
        cy = _uniform(gen, (batch, 1, 1, 1), 0.0, height, device)
        r = torch.exp(_uniform(gen, (batch, 1, 1, 1), math.log(2.0), math.log(short / 4), device))
        aspect = _uniform(gen, (batch, 1, 1, 1), 0.3, 1.0, device)
        disc = ((x - cx) / r) ** 2 + ((y - cy) / (r * aspect)) ** 2 < 1.0
        box = ((x - cx).abs() < r) & ((y - cy).abs() < r * aspect)
        use_disc = torch.rand(batch, 1, 1, 1, generator=gen, device=device) < 0.5
        inside = torch.where(use_disc, disc, box)
        color = torch.rand(batch, 3, 1, 1, generator=gen, device=device)
        out = torch.where(inside, color, out)
    return out


def procedural_textures(
    gen: torch.Generator, batch: int, height: int, width: int, device: torch.device
) -> torch.Tensor:
    """Random procedural textures: coloured noise, stripes, gradients or painted shapes (one kind per sample).

    Each kind is computed only for the samples that drew it (boolean indexing, no per-sample loop).

    Returns:
        (batch, 3, height, width) float32 BGR in [0, 1].

    """
    choice = torch.randint(0, 4, (batch,), generator=gen, device=device)
    out = torch.zeros(batch, 3, height, width, device=device)
    for kind in range(4):
        sel = torch.nonzero(choice == kind).flatten()
        n = int(sel.numel())
        if n == 0:
            continue
        base = 0.7 * _colorize(gen, value_noise(gen, n, height, width, device)) + 0.3 * _colorize(
            gen, value_noise(gen, n, height, width, device, octaves=4)
        )
        if kind == 1:
            tex = _colorize(
                gen,
                0.5 * _stripes(gen, n, height, width, device)
                + 0.5 * value_noise(gen, n, height, width, device, octaves=4),
            )
        elif kind == 2:  # a gradient alone is textureless: keep some noise on it
            x, y = _coords(n, height, width, device)
            angle = _uniform(gen, (n, 1, 1, 1), 0.0, 2 * math.pi, device)
            ramp = torch.cos(angle) * x / width + torch.sin(angle) * y / height
            lo, hi = ramp.amin(dim=(2, 3), keepdim=True), ramp.amax(dim=(2, 3), keepdim=True)
            tex = 0.5 * base + 0.5 * _colorize(gen, (ramp - lo) / (hi - lo).clamp(min=1e-6))
        elif kind == 3:
            tex = _shapes(gen, 0.5 * base + 0.5 * torch.rand(n, 3, 1, 1, generator=gen, device=device))
        else:
            tex = base
        out[sel] = tex
    return out.clamp(0.0, 1.0)


def photo_textures(
    gen: torch.Generator, bank: torch.Tensor, batch: int, height: int, width: int
) -> torch.Tensor:
    """Random crops of bank photos: random photo, zoom (0.5-2x), rotation, flip and channel order.

    The bank is sampled as one 3-D volume (photos stacked along depth, each sample's depth coordinate
    at the centre of its photo's slice, so no two photos blend): one ``grid_sample`` call, no copy of
    the photos per sample.

    Args:
        gen: random generator on the bank's device.
        bank: (N, 3, Hb, Wb) float32 BGR photos in [0, 1] on the target device (see :func:`bank_volume`).
        batch: number of textures.
        height: texture rows, px.
        width: texture columns, px.

    Returns:
        (batch, 3, height, width) float32 BGR in [0, 1].

    """
    device = bank.device
    n, _, hb, wb = bank.shape
    index = torch.randint(0, n, (batch,), generator=gen, device=device)
    zoom = torch.exp(_uniform(gen, (batch,), math.log(0.5), math.log(2.0), device))
    fit = min(hb / height, wb / width)  # scale at which the output just fits inside the photo
    half_w = (width * fit / zoom) / wb  # half extents of the crop in normalised photo units
    half_h = (height * fit / zoom) / hb
    angle = torch.randn(batch, generator=gen, device=device) * 0.3
    flip = torch.where(torch.rand(batch, generator=gen, device=device) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    aspect = wb / hb  # rotation in px space: convert between the normalised axes
    theta = torch.zeros(batch, 2, 3, device=device)
    theta[:, 0, 0] = cos * half_w * flip
    theta[:, 0, 1] = -sin * half_h / aspect
    theta[:, 1, 0] = sin * half_w * flip * aspect
    theta[:, 1, 1] = cos * half_h
    reach_x = (theta[:, 0, 0].abs() + theta[:, 0, 1].abs()).clamp(max=1.0)
    reach_y = (theta[:, 1, 0].abs() + theta[:, 1, 1].abs()).clamp(max=1.0)
    theta[:, 0, 2] = (torch.rand(batch, generator=gen, device=device) * 2 - 1) * (1 - reach_x)
    theta[:, 1, 2] = (torch.rand(batch, generator=gen, device=device) * 2 - 1) * (1 - reach_y)
    grid = F.affine_grid(theta, [batch, 3, height, width], align_corners=False)
    depth = ((2 * index.float() + 1) / n - 1).view(batch, 1, 1, 1).expand(batch, height, width, 1)
    volume = bank.permute(1, 0, 2, 3).unsqueeze(0)  # (1, 3, N, Hb, Wb)
    grid3 = torch.cat((grid, depth), dim=-1).unsqueeze(0)  # (1, batch, h, w, 3)
    out = F.grid_sample(volume, grid3, mode='bilinear', padding_mode='reflection', align_corners=False)
    out = out[0].permute(1, 0, 2, 3)  # (batch, 3, h, w)
    # channel shuffle for a third of the samples: more colour variety from few photos
    perm = torch.argsort(torch.rand(batch, 3, generator=gen, device=device), dim=1)
    keep = torch.rand(batch, 1, generator=gen, device=device) < 0.67
    perm = torch.where(keep, torch.arange(3, device=device).expand(batch, 3), perm)
    return out.gather(1, perm.view(batch, 3, 1, 1).expand(batch, 3, height, width))


def bank_volume(bank: torch.Tensor, device: torch.device | str = 'cpu') -> torch.Tensor:
    """uint8 (N, 3, H, W) photo bank -> float32 [0, 1] on ``device`` (what :func:`photo_textures` reads)."""
    return bank.to(device).float().div_(255.0)
