#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Point the ROS 2 PyPI wheels' CMake exports at this machine's Python and numpy headers.

The ros-jazzy-* wheels are built in a manylinux container, so their exported targets name
``/opt/python/cp3XX-cp3XX/include/python3.XX`` and that container's numpy include directory.
CMake refuses imported targets whose include directories do not exist, which breaks any
interface package (lfn2_msgs) built against the wheels. Rewriting the paths inside the venv
needs no root and is idempotent.

Usage: patch_wheel_cmake.py PREFIX   (PREFIX = the venv holding the wheels' share/ directory)
"""

import pathlib
import re
import sys
import sysconfig

import numpy

PYTHON_INCLUDE = re.compile(r'/opt/python/cp3\d+-cp3\d+/include/python3\.\d+')
NUMPY_INCLUDE = re.compile(
    r'/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include')


def patch(prefix: pathlib.Path) -> int:
    """Rewrite every matching cmake file under ``prefix/share``; return how many changed."""
    python_include = sysconfig.get_paths()['include']
    numpy_include = numpy.get_include()
    changed = 0
    for path in (prefix / 'share').glob('*/cmake/*.cmake'):
        text = path.read_text()
        new = NUMPY_INCLUDE.sub(numpy_include, PYTHON_INCLUDE.sub(python_include, text))
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


if __name__ == '__main__':
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    print(f'patch_wheel_cmake: {patch(root)} cmake export files now use this machine\'s Python/numpy headers')
