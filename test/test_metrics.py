# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Metrics against hand-computed values on crafted predictions."""

import numpy as np
import pytest

from lfn2_ros.evaluation import accumulator, accuracy, consistency, stats


def _crafted():
    """gt = (4, 0) everywhere; prediction errors along x: 0, 1, 2.5 / 3.5, 10, 0 px."""
    gt = np.zeros((2, 3, 2), np.float32)
    gt[..., 0] = 4.0
    err = np.array([[0.0, 1.0, 2.5], [3.5, 10.0, 0.0]], np.float32)
    pred = gt.copy()
    pred[..., 0] += err
    return pred, gt


def test_endpoint_error_map_is_euclidean():
    pred = np.array([[[3.0, 4.0]]], np.float32)
    assert accuracy.endpoint_error_map(pred, np.zeros_like(pred))[0, 0] == pytest.approx(5.0)
    with pytest.raises(ValueError, match='same shape'):
        accuracy.endpoint_error_map(pred, np.zeros((1, 2, 2)))


def test_pair_accuracy_hand_computed():
    pred, gt = _crafted()
    out = accuracy.pair_accuracy(pred, gt)
    a = out.all.summary()
    assert a['pixels'] == 6
    assert a['epe'] == pytest.approx(17.0 / 6.0)
    # Fl: EPE > 3 and > 5 % of |gt| = 0.2 -> 3.5 and 10.
    assert a['fl_pct'] == pytest.approx(100.0 * 2 / 6)
    assert a['outlier_1px_pct'] == pytest.approx(100.0 * 3 / 6)
    assert a['outlier_3px_pct'] == pytest.approx(100.0 * 2 / 6)
    assert a['outlier_5px_pct'] == pytest.approx(100.0 * 1 / 6)
    assert out.noc is None


def test_fl_needs_both_absolute_and_relative_error():
    gt = np.array([[[100.0, 0.0], [1.0, 0.0]]], np.float32)  # |gt| = 100 and 1
    pred = gt + np.array([[[4.0, 0.0], [4.0, 0.0]]], np.float32)  # EPE 4 at both
    a = accuracy.pair_accuracy(pred, gt).all.summary()
    # 4 > 3 px at both, but 4 < 5 % of 100: only the second pixel is an Fl outlier.
    assert a['fl_pct'] == pytest.approx(50.0)
    assert a['outlier_3px_pct'] == pytest.approx(100.0)


def test_valid_and_noc_masks():
    pred, gt = _crafted()
    valid = np.ones((2, 3), bool)
    valid[1, 1] = False  # drop the 10 px error
    noc = np.array([[True, True, False], [True, True, True]])
    out = accuracy.pair_accuracy(pred, gt, valid, noc)
    assert out.all.summary()['epe'] == pytest.approx(7.0 / 5.0)
    # noc & valid = errors 0, 1, 3.5, 0
    assert out.noc.summary()['epe'] == pytest.approx(4.5 / 4.0)
    assert out.noc.pixels == 4
    nan_gt = gt.copy()
    nan_gt[0, 0] = np.nan  # non-finite ground truth is never counted
    assert accuracy.pair_accuracy(pred, nan_gt).all.pixels == 5


def test_photometric_error_of_exact_shift_is_zero():
    rng = np.random.default_rng(0)
    img2 = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img1 = np.zeros_like(img2)
    img1[:, :6] = img2[:, 2:]  # pixel x of frame 1 is at x + 2 in frame 2
    flow = np.zeros((6, 8, 2), np.float32)
    flow[..., 0] = 2.0
    err, inside = consistency.photometric_error_map(img1, img2, flow)
    assert inside[:, :6].all() and not inside[:, 6:].any()
    assert np.abs(err[inside]).max() == 0.0
    # Half-pixel flow: bilinear average of two neighbours.
    flow[..., 0] = 0.5
    warped, inside = consistency.warp_back(img2, flow)
    expect = (img2[:, :-1].astype(np.float32) + img2[:, 1:]) / 2
    np.testing.assert_allclose(warped[:, :7], expect, atol=1e-3)
    assert not inside[:, 7].any()


def test_fb_consistency():
    fw = np.zeros((4, 6, 2), np.float32)
    fw[..., 0] = 2.0
    bw = -fw
    ok, inside = consistency.fb_consistency_mask(fw, bw)
    assert inside.sum() == 4 * 4  # targets of the last two columns leave the image
    assert ok.sum() == 16
    ok, _ = consistency.fb_consistency_mask(fw, np.zeros_like(fw))  # |f + b|^2 = 4 > 0.01 * 4 + 0.5
    assert ok.sum() == 0
    # Tolerance: |f + b|^2 = 0.25 < 0.5 + 0.01 * (4 + 3.0625)
    ok, _ = consistency.fb_consistency_mask(fw, bw + np.array([0.5, 0.0], np.float32))
    assert ok.sum() == 16


def test_magnitude_and_runtime_stats():
    flow = np.zeros((1, 4, 2), np.float32)
    flow[0, :, 0] = [0.0, 3.0, 4.0, 0.0]
    flow[0, 2, 1] = 3.0  # |(4, 3)| = 5
    s = stats.flow_magnitude_stats(flow)
    assert s['mean'] == pytest.approx(2.0) and s['max'] == pytest.approx(5.0)
    assert s['median'] == pytest.approx(1.5)
    r = stats.runtime_stats([10.0, 20.0, 30.0, 40.0])
    assert r.mean_ms == pytest.approx(25.0)
    assert r.median_ms == pytest.approx(25.0)
    assert r.p95_ms == pytest.approx(38.5)
    assert r.throughput_pairs_per_s == pytest.approx(40.0)
    assert stats.runtime_stats([]).mean_ms is None


def test_histogram_percentiles():
    h = stats.Histogram(0.01, 100.0)
    h.add(np.arange(1000) / 10.0)  # 0.0 .. 99.9
    assert h.percentile(50) == pytest.approx(50.0, abs=0.1)
    assert h.percentile(95) == pytest.approx(95.0, abs=0.1)
    h.add(np.array([np.nan, 500.0]))  # NaN ignored, 500 overflows
    assert h.total == 1001 and h.max_seen == 500.0
    edges, counts = h.edges_counts(10)
    assert counts.sum() == 1000  # the overflow value is not plotted
    assert len(edges) == len(counts) + 1


def test_accumulator_pools_pixels_over_pairs():
    acc = accumulator.MetricAccumulator()
    pred, gt = _crafted()  # 6 px, EPE sum 17
    img = np.zeros((2, 3, 3), np.uint8)
    row1 = acc.add_pair(img, img, pred, gt=gt, time_ms=10.0).row
    gt2 = np.zeros((1, 2, 2), np.float32)
    pred2 = gt2.copy()
    pred2[..., 1] = 1.0  # 2 px, EPE sum 2
    img2 = np.zeros((1, 2, 3), np.uint8)
    row2 = acc.add_pair(img2, img2, pred2, gt=gt2, time_ms=30.0).row
    assert row1['epe_all'] == pytest.approx(17 / 6)
    assert row2['epe_all'] == pytest.approx(1.0)
    s = acc.summary()
    assert s['pairs'] == 2 and s['pairs_with_gt'] == 2
    assert s['gt']['all']['epe'] == pytest.approx(19.0 / 8.0)  # pooled, not (17/6 + 1) / 2
    assert s['gt']['all']['fl_pct'] == pytest.approx(100.0 * 2 / 8)
    assert s['runtime']['mean_ms'] == pytest.approx(20.0)
    assert s['fb_consistency'] is None
    assert s['photometric']['l1_zero_flow_mean'] == 0.0


def test_accumulator_without_gt():
    acc = accumulator.MetricAccumulator()
    img1 = np.full((4, 6, 3), 10, np.uint8)
    img2 = np.full((4, 6, 3), 40, np.uint8)
    flow = np.zeros((4, 6, 2), np.float32)
    result = acc.add_pair(img1, img2, flow, flow_bw=flow)
    row = result.row
    assert result.epe_map is None and result.fb_mask.all() and result.photo_map.shape == (4, 6)
    assert row['epe_all'] is None
    assert row['photometric_l1'] == pytest.approx(30.0)
    assert row['fb_consistent_pct'] == pytest.approx(100.0)
    s = acc.summary()
    assert s['gt'] is None
    assert s['photometric']['l1_mean'] == pytest.approx(30.0)
    assert s['fb_consistency']['consistent_pct'] == pytest.approx(100.0)
    assert s['flow_magnitude']['max_px'] == 0.0


def test_flow_stats_ignore_nan():
    flow = np.zeros((10, 10, 2), np.float32)
    flow[..., 0] = 3.0
    flow[..., 1] = 4.0  # magnitude 5
    flow[0, :5] = np.nan
    flow[1, 0, 1] = np.inf  # one non-finite component makes the pixel invalid
    summary = stats.flow_stats(flow)
    assert summary.valid_fraction == pytest.approx(0.94)
    assert (summary.mean_u, summary.mean_v) == pytest.approx((3.0, 4.0))
    assert summary.mean_magnitude == pytest.approx(5.0) and summary.p95_magnitude == pytest.approx(5.0)
    assert summary.median_magnitude == pytest.approx(5.0) and summary.max_magnitude == pytest.approx(5.0)
    empty = stats.flow_stats(np.full((2, 2, 2), np.nan, np.float32))
    assert empty.valid_fraction == 0.0 and np.isnan(empty.mean_u) and np.isnan(empty.max_magnitude)
    assert stats.flow_magnitude_stats(np.full((2, 2, 2), np.nan, np.float32))['p95'] is None
    with pytest.raises(ValueError, match=r'\(H, W, 2\)'):
        stats.flow_stats(flow[..., 0])


def test_fb_confidence_is_the_soft_consistency_test():
    h, w = 20, 30
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 2.0
    conf = consistency.fb_confidence(fwd, -fwd)
    assert conf.dtype == np.float32 and conf.shape == (h, w)
    assert np.all(conf[:, : w - 2] > 0.99)      # consistent pair
    assert np.all(conf[:, w - 2:] == 0.0)        # lands outside the image
    assert np.all(consistency.fb_confidence(fwd, fwd)[:, : w - 2] < 0.01)  # inconsistent
    # Above exp(-1) exactly where the hard test passes.
    bw = -fwd + np.random.default_rng(3).normal(0, 0.8, fwd.shape).astype(np.float32)
    bw[3, 4] = np.nan
    conf = consistency.fb_confidence(fwd, bw)
    consistent, inside = consistency.fb_consistency_mask(fwd, bw)
    np.testing.assert_array_equal(conf > np.exp(-1.0), consistent)
    assert conf[~inside].max() == 0.0 and np.isfinite(conf).all()
    with pytest.raises(ValueError):
        consistency.fb_confidence(fwd, fwd[:, :-1])


def test_noc_pooled_over_fewer_pairs_than_all_is_labelled():
    """A dataset where only some pairs have occlusion masks: 'noc' says over how many pairs it is."""
    from lfn2_ros.evaluation.report import _split_table

    pred, gt = _crafted()
    image = np.zeros((2, 3, 3), np.uint8)
    acc = accumulator.MetricAccumulator()
    acc.add_pair(image, image, pred, gt=gt, noc=np.ones((2, 3), bool))
    acc.add_pair(image, image, pred, gt=gt)
    summary = acc.summary()
    assert (summary['pairs_with_gt'], summary['pairs_with_noc']) == (2, 1)
    assert '(1 of 2 pairs)' in _split_table({'splits': {'s': summary}})
    both = accumulator.MetricAccumulator()
    for _ in range(2):
        both.add_pair(image, image, pred, gt=gt, noc=np.ones((2, 3), bool))
    assert 'of 2 pairs' not in _split_table({'splits': {'s': both.summary()}})
