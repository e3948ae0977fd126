# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_python build of lfn2_ros: the Python package, the compiled correlation ops, launch/config files.

``colcon build`` and ``pip install --no-build-isolation .`` compile ``lfn2_ros.ops._C`` with torch's
BuildExtension (README, "The compiled extension"): the CPU kernels always, the CUDA kernels when torch is a
CUDA build and nvcc is found (``LFN2_BUILD_CUDA=0|1`` forces either). Without torch or a compiler the package
still installs, says so, and uses the pure-PyTorch reference correlation.
"""

import importlib.util
import os
import re
import sys
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'lfn2_ros'
HERE = Path(__file__).resolve().parent
CSRC = f'{PACKAGE}/ops/csrc'


def _version() -> str:
    """The version in lfn2_ros/_version.py, read as text: setup.py must not import the package."""
    text = (HERE / PACKAGE / '_version.py').read_text()
    return re.search(r"^__version__ = '([^']+)'", text, re.M).group(1)


def _say(message: str) -> None:
    print(f'lfn2_ros setup: {message}', file=sys.stderr, flush=True)


def _load_build_rules():
    """Import lfn2_ros/ops/_build.py by path: the flags, sources and hash the run-time loader also uses."""
    spec = importlib.util.spec_from_file_location('_lfn2_build_rules', HERE / PACKAGE / 'ops' / '_build.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _compiled_extension() -> tuple[dict, list]:
    """The cmdclass and ext_modules that compile lfn2_ros.ops._C, or none when torch is not importable."""
    if os.environ.get('LFN2_BUILD_EXTENSION', '1') == '0':
        return {}, []
    try:
        from torch.utils import cpp_extension
    except ImportError:
        if {'build_ext', 'develop', 'install', 'bdist_wheel'} & set(sys.argv):
            _say('torch is not importable in this build environment, so the correlation extension is not '
                 'compiled (pip: install torch first and use --no-build-isolation); the package will use the '
                 'pure-PyTorch reference correlation')
        return {}, []
    rules = _load_build_rules()
    with_cuda, reason = rules.want_cuda()
    if with_cuda:
        cpp_extension.CUDA_HOME = rules.find_cuda_home()
    marker = [f'-DLFN2_SOURCES_HASH=h{rules.sources_hash(HERE / CSRC)}']
    extra = {'cxx': rules.cxx_flags() + marker}
    if with_cuda:
        extra['nvcc'] = rules.NVCC_FLAGS + marker
    factory = cpp_extension.CUDAExtension if with_cuda else cpp_extension.CppExtension
    extension = factory(
        f'{PACKAGE}.ops._C',
        [os.path.relpath(s, HERE) for s in rules.sources(with_cuda, HERE / CSRC)],
        include_dirs=[str(HERE / CSRC)],
        extra_compile_args=extra,
        extra_link_args=rules.LD_FLAGS,
    )

    class BuildCorrelationExtension(cpp_extension.BuildExtension):
        """torch's BuildExtension that reports its decision and never fails the install."""

        def build_extensions(self) -> None:  # noqa: D102
            _say(f'compiling lfn2_ros.ops._C, CUDA kernels {"on" if with_cuda else "off"} ({reason})')
            try:
                super().build_extensions()
            except Exception as exc:  # noqa: BLE001  (no compiler, a compile error: install without it)
                self.extensions = []
                _say(f'could not compile the correlation extension ({type(exc).__name__}: {exc}); the '
                     'package is installed without it and uses the pure-PyTorch reference correlation')
                return
            _say('built lfn2_ros.ops._C')

    return {'build_ext': BuildCorrelationExtension}, [extension]


CMDCLASS, EXT_MODULES = _compiled_extension()

setup(
    name=PACKAGE,
    version=_version(),
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    package_data={
        f'{PACKAGE}.ops': ['csrc/*.h', 'csrc/*.cpp', 'csrc/*/*.h', 'csrc/*/*.cpp', 'csrc/*/*.cu',
                           'csrc/*/*.cuh'],
    },
    ext_modules=EXT_MODULES,
    cmdclass=CMDCLASS,
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml')),
        # the embedded default weights (README, model card); found through the ament index
        (f'share/{PACKAGE}/weights', glob(f'{PACKAGE}/weights/*.pth')),
    ],
    install_requires=['setuptools'],
    # colcon runs pytest (not unittest) when pytest is the package's test dependency (the `test` extra;
    # setuptools no longer knows tests_require).
    extras_require={'test': ['pytest']},
    zip_safe=False,
    maintainer='lfn2_ros maintainers',
    maintainer_email='maintainers@lfn2-ros.dev',
    description='Dense optical flow for ROS 2 with LiteFlowNet2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'flow_node = lfn2_ros.node.flow_node:main',
            'synthetic_camera = lfn2_ros.node.synthetic_camera:main',
            'predict = lfn2_ros.predict:main',
            'evaluate = lfn2_ros.evaluate:main',
            'play_bag = lfn2_ros.node.play_bag:main',
            'train = lfn2_ros.train:main',
            'export = lfn2_ros.export:main',
        ],
    },
)
