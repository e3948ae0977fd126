# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import cv2
import numpy as np
import pytest

from lfn2_ros.training.data import (
    EVAL_PHOTOS,
    HELDOUT_SEED,
    TRAIN_PHOTOS,
    FlowPair,
    MotionConfig,
    SyntheticFlowGenerator,
    heldout_pairs,
    make_pair,
    motion_preset,
    without_photometric,
)

H, W = 64, 96


def _warp_back(img2: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Frame 2 sampled at x + flow(x): equals frame 1 where x is visible in both frames."""
    gy, gx = np.mgrid[0:flow.shape[0], 0:flow.shape[1]].astype(np.float32)
    return cv2.remap(img2, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def test_shapes_and_dtypes():
    pair = make_pair(0, 0, H, W)
    assert isinstance(pair, FlowPair)
    assert pair.img1.shape == (H, W, 3) and pair.img1.dtype == np.uint8
    assert pair.img2.shape == (H, W, 3) and pair.img2.dtype == np.uint8
    assert pair.flow.shape == (H, W, 2) and pair.flow.dtype == np.float32
    assert pair.noc.shape == (H, W) and pair.noc.dtype == bool
    assert np.isfinite(pair.flow).all()


def test_batch_shapes():
    batch = SyntheticFlowGenerator(H, W, seed=1).batch(3)
    assert batch['img1'].shape == (3, H, W, 3) and batch['img1'].dtype == np.uint8
    assert batch['flow'].shape == (3, H, W, 2) and batch['flow'].dtype == np.float32
    assert batch['noc'].shape == (3, H, W) and batch['noc'].dtype == bool


def test_deterministic_per_seed_and_index():
    a, b = make_pair(7, 3, H, W), make_pair(7, 3, H, W)
    for name in ('img1', 'img2', 'flow', 'noc'):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = make_pair(8, 3, H, W)
    d = make_pair(7, 4, H, W)
    assert not np.array_equal(a.flow, c.flow)
    assert not np.array_equal(a.flow, d.flow)


def test_generator_stream_is_resumable():
    gen = SyntheticFlowGenerator(H, W, seed=5)
    first = [next(gen) for _ in range(3)]
    assert gen.index == 3
    resumed = SyntheticFlowGenerator(H, W, seed=5, start_index=2)
    np.testing.assert_array_equal(next(resumed).flow, first[2].flow)
    np.testing.assert_array_equal(first[1].img1, make_pair(5, 1, H, W).img1)


@pytest.mark.parametrize('index', range(6))
def test_ground_truth_is_exact_without_augmentation(index):
    pair = make_pair(11, index, 96, 128, without_photometric())
    back = _warp_back(pair.img2, pair.flow).astype(np.float32)
    # away from layer boundaries (bilinear mixing of two layers) the warp must reproduce frame 1
    inner = cv2.erode(pair.noc.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert inner.mean() > 0.5
    err = np.abs(back - pair.img1.astype(np.float32)).mean(axis=2)[inner]
    zero = np.abs(pair.img2.astype(np.float32) - pair.img1.astype(np.float32)).mean(axis=2)[inner]
    # the residual is interpolating an already interpolated texture: far below no motion, and below a flow
    # off by half a pixel on the same texture
    off = _warp_back(pair.img2, pair.flow + np.float32([0.5, 0.0])).astype(np.float32)
    half_px = np.abs(off - pair.img1.astype(np.float32)).mean(axis=2)[inner]
    assert err.mean() < 0.3 * zero.mean()
    assert err.mean() < half_px.mean(), (err.mean(), half_px.mean())


def test_wrong_flow_does_not_reproduce_frame1():
    pair = make_pair(11, 0, 96, 128, without_photometric())
    inner = cv2.erode(pair.noc.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    good = np.abs(_warp_back(pair.img2, pair.flow).astype(np.float32) - pair.img1).mean(axis=2)[inner]
    bad = np.abs(_warp_back(pair.img2, -pair.flow).astype(np.float32) - pair.img1).mean(axis=2)[inner]
    assert good.mean() < 0.3 * bad.mean()


def test_occlusions_and_motion_boundaries_exist():
    pairs = [make_pair(3, i, 96, 128) for i in range(6)]
    noc = np.mean([p.noc.mean() for p in pairs])
    assert 0.5 < noc < 1.0
    # several distinct motions per pair: flow is not one global smooth field
    jumps = [np.abs(np.diff(p.flow, axis=1)).max() for p in pairs]
    assert max(jumps) > 1.0


def test_motion_magnitudes_follow_config():
    still = MotionConfig(bg_translation_px=0.0, bg_rotation_deg=0.0, bg_scale=0.0, bg_perspective=0.0,
                         obj_count=(0, 0))
    pair = make_pair(0, 0, H, W, still)
    np.testing.assert_allclose(pair.flow, 0.0, atol=1e-4)
    default = np.mean([np.linalg.norm(make_pair(0, i, 96, 128).flow, axis=2).mean() for i in range(8)])
    assert 1.0 < default < 30.0


def test_heldout_set_is_fixed_and_separate():
    a = heldout_pairs(2, H, W)
    b = heldout_pairs(2, H, W)
    np.testing.assert_array_equal(a[0].img1, b[0].img1)
    np.testing.assert_array_equal(a[1].flow, make_pair(HELDOUT_SEED, 1, H, W).flow)
    assert not np.array_equal(a[0].flow, make_pair(0, 0, H, W).flow)


def test_eval_photos_are_not_training_textures():
    assert not set(EVAL_PHOTOS) & set(TRAIN_PHOTOS)


def test_procedural_only_textures():
    pair = make_pair(0, 0, H, W, photos=())
    assert pair.img1.std() > 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match='at least 8x8'):
        make_pair(0, 0, 4, 64)
    with pytest.raises(ValueError, match='>= 0'):
        make_pair(-1, 0, H, W)


def test_translation_preset_is_one_rigid_shift():
    pair = make_pair(0, 3, H, W, motion_preset('translation'))
    # one global translation: the same flow vector at every pixel, nothing occluded inside the frame
    np.testing.assert_allclose(pair.flow - pair.flow[0, 0], 0.0, atol=1e-3)
    assert np.linalg.norm(pair.flow[0, 0]) > 0.0
    back = _warp_back(pair.img2, pair.flow).astype(np.float32)
    inner = cv2.erode(pair.noc.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(back - pair.img1)[inner].mean() < 2.0


def test_texture_weights_select_texture_kinds():
    # stripes only, no objects: every background is a periodic pattern, never a photo
    stripes = MotionConfig(obj_count=(0, 0), photometric=False, texture_weights=(0.0, 0.0, 0.0, 1.0, 0.0))
    assert make_pair(0, 0, H, W, stripes).img1.std() > 1.0
    with pytest.raises(ValueError, match='texture_weights'):
        make_pair(0, 0, H, W, MotionConfig(texture_weights=(0.0, 0.0, 0.0, 0.0, 0.0)))
    with pytest.raises(ValueError, match='texture_weights'):  # photos only, but no photos given
        make_pair(0, 0, H, W, motion_preset('translation'), photos=())


def test_default_preset_is_the_heldout_distribution():
    assert motion_preset('default') == MotionConfig()
    assert not motion_preset('rigid').photometric
    with pytest.raises(ValueError, match='unknown motion preset .*translation'):
        motion_preset('nope')
