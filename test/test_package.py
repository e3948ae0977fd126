# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Repository hygiene: manifests validate, ruff is clean, the model side imports without ROS."""

import ast
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


def test_version_has_one_source():
    from catkin_pkg.package import parse_package

    import lfn2_ros

    # package.xml must spell the version out (REP 149); it has to agree with lfn2_ros/_version.py.
    assert parse_package(str(REPO / 'package.xml')).version == lfn2_ros.__version__
    setup_text = (REPO / 'setup.py').read_text()
    assert 'version=_version()' in setup_text and re.search(r"version=['\"]", setup_text) is None


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


def test_io_and_evaluation_do_not_import_torch():
    torch_import = re.compile(r'^\s*(?:from|import)\s+(torch|lfn2_ros\.(?:model|ops|inference|training))\b',
                              re.MULTILINE)
    offenders = []
    for package in ('io', 'evaluation'):
        for path in (REPO / 'lfn2_ros' / package).rglob('*.py'):
            offenders += [f'{path.relative_to(REPO)}: {m}' for m in torch_import.findall(path.read_text())]
    assert not offenders, offenders


# Import name -> rosdep key, for the imports whose key differs from the module name.
ROSDEP_KEYS = {
    'torch': 'python3-torch', 'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'yaml': 'python3-yaml',
    'tqdm': 'python3-tqdm', 'matplotlib': 'python3-matplotlib', 'skimage': 'python3-skimage',
    'rosbags': 'python3-rosbags-pip',
}
# Imported only by optional features that say how to install them when missing (ONNX export).
OPTIONAL_IMPORTS = {'onnx', 'onnxruntime', 'onnxscript'}


def _top_level_imports(paths):
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split('.')[0])
    return names


def test_package_xml_declares_every_run_dependency_and_nothing_unused():
    from catkin_pkg.package import parse_package

    package = parse_package(str(REPO / 'package.xml'))
    declared = {dep.name for dep in package.exec_depends}
    sources = list((REPO / 'lfn2_ros').rglob('*.py')) + list((REPO / 'launch').glob('*.py'))
    imported = _top_level_imports(sources) - set(sys.stdlib_module_names) - {'lfn2_ros', '__future__'}
    needed = {ROSDEP_KEYS.get(name, name) for name in imported - OPTIONAL_IMPORTS}
    assert needed - declared == set(), f'imported but not in package.xml: {sorted(needed - declared)}'
    assert declared - needed == set(), f'in package.xml but never imported: {sorted(declared - needed)}'
