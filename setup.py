# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_python build of lfn2_ros: the Python package, its launch/config files and console scripts."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'lfn2_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    package_data={
        f'{PACKAGE}.ops': ['csrc/*.h', 'csrc/*.cpp', 'csrc/cpu/*.h', 'csrc/cpu/*.cpp', 'csrc/cuda/*.cu'],
    },
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml')),
        # the embedded default weights (README, model card); found through the ament index
        (f'share/{PACKAGE}/weights', glob(f'{PACKAGE}/weights/*.pth')),
    ],
    install_requires=['setuptools'],
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
