# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""FlowEstimator.push_batch (several cameras, one model) against per-stream push (untrained weights)."""

import numpy as np
import pytest

from lfn2_ros import inference
from lfn2_ros.node.synthetic_camera import MovingTexture


@pytest.fixture(scope='module')
def estimator():
    return inference.FlowEstimator(device='cpu', random_weights=True, num_threads=1)


def test_batched_streams_equal_separate_streams(estimator):
    scenes = {'a': MovingTexture(64, 96, (2.0, 1.0), seed=1), 'b': MovingTexture(64, 96, (-1.0, 2.0), seed=2)}
    estimator.reset()
    assert estimator.push_batch([scenes['a'].frame(0), scenes['b'].frame(0)], ['a', 'b']) == [None, None]
    batched = estimator.push_batch([scenes['a'].frame(1), scenes['b'].frame(1)], ['a', 'b'])
    for name, flow in zip(('a', 'b'), batched, strict=True):
        alone = estimator(scenes[name].frame(0), scenes[name].frame(1))
        assert flow.shape == (64, 96, 2)
        np.testing.assert_allclose(flow, alone, atol=1e-3)
    assert not np.allclose(batched[0], batched[1])  # streams never mix


def test_sizes_new_streams_and_reset(estimator):
    small, large = MovingTexture(40, 60, seed=1), MovingTexture(64, 96, seed=2)
    estimator.reset()
    estimator.push_batch([small.frame(0), large.frame(0)], ['s', 'l'])  # two network sizes, one call
    out = estimator.push_batch([small.frame(1), large.frame(1), large.frame(0)], ['s', 'l', 'new'])
    assert out[0].shape == (40, 60, 2) and out[1].shape == (64, 96, 2) and out[2] is None
    np.testing.assert_allclose(out[0], estimator(small.frame(0), small.frame(1)), atol=1e-3)
    estimator.reset('s')
    assert estimator.push_batch([small.frame(2), large.frame(2)], ['s', 'l'])[0] is None
    out = estimator.push_batch([small.frame(2)], ['l'])  # size change within a stream restarts it
    assert out == [None]
    with pytest.raises(ValueError, match='distinct'):
        estimator.push_batch([small.frame(0), small.frame(1)], ['x', 'x'])
