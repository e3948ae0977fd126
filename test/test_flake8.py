# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_flake8 where it is installed (ruff covers the same rules everywhere: test_package.py)."""

import pytest


@pytest.mark.linter
def test_flake8():
    main = pytest.importorskip('ament_flake8.main', reason='ament_flake8 is not installed').main_with_errors
    rc, errors = main(argv=[])
    assert rc == 0, f'found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
