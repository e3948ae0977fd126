# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""data_textures.py: the version-1 textures and silhouettes (the pairs themselves: test_training_data.py)."""

import numpy as np
import pytest

from lfn2_ros.training.data_textures import object_mask, texture


@pytest.mark.parametrize('kind', range(5))  # photo, value noise, gradient, stripes, shapes
def test_each_texture_kind_is_bgr_in_unit_range(kind):
    weights = tuple(1.0 if k == kind else 0.0 for k in range(5))
    tex = texture(np.random.default_rng(kind), 24, 40, ('camera',), weights)
    assert tex.shape == (24, 40, 3) and tex.dtype == np.float32
    assert 0.0 <= tex.min() and tex.max() <= 1.0 and tex.std() > 0.01  # not flat


def test_texture_rejects_weights_with_nothing_to_draw():
    with pytest.raises(ValueError, match='texture_weights'):
        texture(np.random.default_rng(0), 8, 8, (), (1.0, 0.0, 0.0, 0.0, 0.0))  # photos only, no photos
    with pytest.raises(ValueError, match='texture_weights'):
        texture(np.random.default_rng(0), 8, 8, ('camera',), (1.0, -1.0, 0.0, 0.0, 0.0))


def test_object_masks_are_binary_and_inside_their_square():
    for seed in (0, 1, 11):  # the first draw picks a blob, an ellipse and a polygon
        mask = object_mask(np.random.default_rng(seed), 32)
        assert mask.shape == (32, 32) and set(np.unique(mask)) <= {0.0, 1.0}
        assert 0 < mask.sum() < 32 * 32
