# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_pep257 where it is installed (ruff's D rules cover docstrings everywhere)."""

import pytest


@pytest.mark.linter
def test_pep257():
    main = pytest.importorskip('ament_pep257.main', reason='ament_pep257 is not installed').main
    assert main(argv=['.', 'test']) == 0, 'found code style errors / warnings'
