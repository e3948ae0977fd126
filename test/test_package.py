# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Repository hygiene: manifests validate, ruff is clean, the model side imports without ROS."""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('manifest', ['package.xml', 'lfn2_msgs/package.xml'])
def test_package_xml_validates(manifest):
    from catkin_pkg.package import parse_package

    package = parse_package(str(REPO / manifest))
    package.validate()
    assert package.package_format == 3


def test_ruff_clean():
    ruff = shutil.which('ruff') or str(pathlib.Path(sys.executable).with_name('ruff'))
    result = subprocess.run([ruff, 'check', str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_node_package_imports_ros():
    ros_import = re.compile(r'^\s*(?:from|import)\s+(rclpy|\w+_msgs|cv_bridge|launch\w*)\b', re.MULTILINE)
    offenders = []
    for path in (REPO / 'lfn2_ros').rglob('*.py'):
        if 'node' in path.relative_to(REPO / 'lfn2_ros').parts:
            continue
        offenders += [f'{path.relative_to(REPO)}: {m}' for m in ros_import.findall(path.read_text())]
    assert not offenders, offenders
