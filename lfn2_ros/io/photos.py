# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The photos bundled with scikit-image, as uint8 BGR: real texture for tests, quality checks and training."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ['load_photo']


@functools.cache
def _photo(name: str) -> np.ndarray:
    import skimage.data  # optional dependency: only quality checks, tests and training use photos

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f'skimage.data has no image {name!r}')
    image = loader()
    if isinstance(image, tuple):  # stereo_motorcycle -> (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)  # grey: B = G = R, as cv2.imread(IMREAD_COLOR)
    bgr = np.ascontiguousarray(image[:, :, 2::-1])  # RGB or RGBA -> BGR
    bgr.flags.writeable = False  # cached: shared by every caller
    return bgr


def load_photo(name: str = 'astronaut') -> np.ndarray:
    """A photo bundled with scikit-image, as BGR.

    Args:
        name: a ``skimage.data`` function, e.g. ``'astronaut'``, ``'coffee'``, ``'chelsea'``.

    Returns:
        (H, W, 3) uint8 BGR, a fresh copy (the decoded photo is cached).

    Raises:
        ImportError: scikit-image is not installed.
        ValueError: unknown name.

    """
    return _photo(name).copy()
