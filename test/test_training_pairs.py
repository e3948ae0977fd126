# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lfn2_ros.training.motion import PairConfig, preset
from lfn2_ros.training.pairs import HELDOUT_SEED, PairStream, heldout_batches, render_pairs
from lfn2_ros.training.textures import load_photo_bank, procedural_textures

H, W = 64, 96
RIGID = PairConfig(photometric=False, noise_max=0.0)


def _warp_back(img2: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Frame 2 sampled at x + flow(x): equals frame 1 where x is visible in both frames."""
    b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing='ij')
    gx = (2 * (xs + flow[:, 0]) + 1) / w - 1
    gy = (2 * (ys + flow[:, 1]) + 1) / h - 1
    return F.grid_sample(img2, torch.stack((gx, gy), -1), align_corners=False, padding_mode='border')


def _inner(noc: torch.Tensor) -> torch.Tensor:
    """Visible pixels at least 2 px away from any occlusion or layer boundary (no bilinear mixing)."""
    return -F.max_pool2d(-noc[:, None].float(), 5, 1, 2)[:, 0] > 0.5


def test_shapes_dtypes_and_range():
    b = render_pairs(0, 0, 3, H, W)
    assert b.img1.shape == (3, 3, H, W) and b.img1.dtype == torch.float32
    assert b.flow.shape == (3, 2, H, W) and b.noc.shape == (3, H, W) and b.noc.dtype == torch.bool
    assert 0.0 <= float(b.img1.min()) and float(b.img2.max()) <= 1.0
    assert torch.isfinite(b.flow).all()
    # 8-bit camera: values on 1/255 steps
    torch.testing.assert_close(b.img1 * 255, torch.round(b.img1 * 255), rtol=0, atol=1e-3)


def test_deterministic_per_seed_and_key():
    a, b = render_pairs(7, 3, 2, H, W), render_pairs(7, 3, 2, H, W)
    for name in ('img1', 'img2', 'flow', 'noc'):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.flow, render_pairs(8, 3, 2, H, W).flow)
    assert not torch.equal(a.flow, render_pairs(7, 4, 2, H, W).flow)


def test_stream_is_resumable_and_ranks_draw_disjoint_batches():
    s = PairStream(H, W, seed=5)
    first = [s.next_batch(2) for _ in range(3)]
    assert s.position == 3
    resumed = PairStream(H, W, seed=5, position=2)
    assert torch.equal(resumed.next_batch(2).flow, first[2].flow)
    r0 = PairStream(H, W, seed=5, rank=0, world=2).next_batch(2)
    r1 = PairStream(H, W, seed=5, rank=1, world=2).next_batch(2)
    assert not torch.equal(r0.flow, r1.flow)
    assert torch.equal(r0.flow, render_pairs(5, 0, 2, H, W).flow)
    assert torch.equal(r1.flow, render_pairs(5, 1, 2, H, W).flow)


@pytest.mark.parametrize('key', range(3))
def test_ground_truth_is_exact(key):
    b = render_pairs(11, key, 4, 96, 128, RIGID)
    inner = _inner(b.noc)
    assert inner.float().mean() > 0.3
    err = (_warp_back(b.img2, b.flow) - b.img1).abs().mean(1)[inner]
    wrong = (_warp_back(b.img2, -b.flow) - b.img1).abs().mean(1)[inner]
    zero = (b.img2 - b.img1).abs().mean(1)[inner]
    # residual = resampling an already resampled texture: a fraction of the zero-flow difference
    assert float(err.mean()) < 0.3 * float(zero.mean())
    assert float(err.mean()) < 0.3 * float(wrong.mean())
    assert float(err.mean()) < 3.0 / 255


def test_static_share_has_zero_flow_and_only_noise():
    still = replace(PairConfig(), static_share=1.0, near_static_share=0.0, photometric=False, noise_max=0.02)
    b = render_pairs(0, 0, 3, H, W, still)
    assert float(b.flow.abs().max()) < 1e-3
    diff = (b.img1 - b.img2).abs()
    assert 0 < float(diff.mean()) < 0.05  # sensor noise differs between the frames
    near = replace(PairConfig(), static_share=0.0, near_static_share=1.0, near_static_px=0.5)
    assert float(render_pairs(0, 1, 3, H, W, near).flow.norm(dim=1).max()) <= 0.5 + 1e-3


@pytest.mark.slow
def test_displacements_are_heavy_tailed():
    # 32 pairs; the displacements are in px, so a smaller frame than 384x512 shows the same tail
    mags = torch.cat([render_pairs(HELDOUT_SEED + 1, k, 8, 192, 256).flow.norm(dim=1).flatten()
                      for k in range(4)])
    median = float(mags.median())
    assert median < 10.0  # most pixels under 10 px
    assert float((mags > 40).float().mean()) > 0.005  # a tail...
    assert float(mags.max()) > 60.0  # ...reaching past 60 px
    assert float(mags.max()) < 100.0 * math.sqrt(2) + 30  # bounded by the configured tail


def test_objects_make_motion_boundaries_and_occlusions():
    b = render_pairs(3, 0, 4, 96, 128)
    assert 0.5 < float(b.noc.float().mean()) < 1.0
    jumps = (b.flow[..., 1:] - b.flow[..., :-1]).abs().amax(dim=(1, 2, 3))
    assert float(jumps.max()) > 1.0


def test_procedural_only_and_photo_bank():
    tex = procedural_textures(torch.Generator().manual_seed(0), 4, 32, 48, torch.device('cpu'))
    assert tex.shape == (4, 3, 32, 48) and float(tex.std()) > 0.01
    b = render_pairs(0, 0, 2, H, W, bank=None)
    assert float(b.img1.std()) > 0.01
    bank = load_photo_bank(directory='/nonexistent', limit=2)  # scikit-image photos, if installed
    if bank is not None:
        assert bank.dtype == torch.uint8 and bank.shape[1] == 3
        photos = render_pairs(0, 0, 2, H, W, replace(PairConfig(), photo_share=1.0), bank=bank)
        assert float(photos.img1.std()) > 0.01


def test_heldout_set_is_fixed_and_separate():
    a, b = heldout_batches(3, H, W, chunk=2), heldout_batches(3, H, W, chunk=2)
    assert [x.flow.shape[0] for x in a] == [2, 1]
    assert torch.equal(a[1].flow, b[1].flow)
    assert not torch.equal(a[0].flow, render_pairs(0, 0, 2, H, W).flow)


def test_numpy_view_and_presets():
    img1, img2, flow, noc = render_pairs(0, 0, 1, H, W).numpy_pair(0)
    assert img1.dtype == np.uint8 and img1.shape == (H, W, 3) and flow.shape == (H, W, 2)
    assert preset('chairs') == PairConfig() and not preset('rigid').photometric
    with pytest.raises(ValueError, match='unknown data preset'):
        preset('nope')
    with pytest.raises(ValueError, match='at least 8x8'):
        render_pairs(0, 0, 1, 4, 64)


def test_translation_preset_moves_one_plane_rigidly():
    flow = render_pairs(0, 0, 6, H, W, preset('translation')).flow
    per_pair = flow.flatten(2)
    assert torch.allclose(per_pair, per_pair[..., :1].expand_as(per_pair), atol=1e-4)  # one vector per pair
    assert float(flow.norm(dim=1).max()) <= 40.0 + 1e-3


def test_photo_bank_holds_no_benchmark_and_only_licensed_photos():
    from lfn2_ros.training.textures import SKIMAGE_PHOTOS

    # Middlebury 2014's motorcycle is a benchmark image: never a training texture (model card, Weights)
    assert 'stereo_motorcycle' not in SKIMAGE_PHOTOS
    assert not {'coffee', 'rocket'} & set(SKIMAGE_PHOTOS)  # kept for evaluation
    assert all(licence for licence in SKIMAGE_PHOTOS.values())
