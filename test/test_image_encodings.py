# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""image_encodings.py: the encoding table's lookup and the error classes."""

import numpy as np
import pytest

from lfn2_ros.io.image_encodings import (
    ENCODINGS,
    ImageError,
    MalformedImage,
    UnsupportedEncoding,
    raw_encoding,
)


def test_exception_hierarchy():
    assert issubclass(UnsupportedEncoding, ImageError) and issubclass(MalformedImage, ImageError)
    assert issubclass(ImageError, ValueError)


def test_raw_encoding_returns_the_table_entry_or_names_the_encoding():
    assert raw_encoding('rgb8') is ENCODINGS['rgb8']
    assert (raw_encoding('mono16').dtype, raw_encoding('mono16').channels) == (np.dtype(np.uint16), 1)
    with pytest.raises(UnsupportedEncoding, match="'32FC2'; supported: bgr8, rgb8"):
        raw_encoding('32FC2')  # flow is not a camera image
