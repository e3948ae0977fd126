# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_copyright on a real ROS install; here the same rule is checked directly."""

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
HEADER = '# Copyright 2026 The lfn2_ros Authors'
SKIP_DIRS = {'.venv', '.venv-cuda', 'build', 'install', 'log', '.git'}


def _sources():
    for path in REPO.rglob('*.py'):
        if not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            yield path


@pytest.mark.linter
def test_every_python_file_has_the_licence_header():
    missing = [str(p.relative_to(REPO)) for p in _sources()
               if HEADER not in p.read_text().split('\n', 3)[0:3]]
    assert not missing, f'files without "{HEADER}": {missing}'


@pytest.mark.linter
def test_ament_copyright():
    main = pytest.importorskip('ament_copyright.main', reason='ament_copyright is not installed').main
    assert main(argv=['.', 'test']) == 0
