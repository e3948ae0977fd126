# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Two cameras on one model: ``ros2 launch lfn2_ros two_cameras.launch.py``.

Two synthetic cameras publish ``left/image`` and ``right/image`` (different motions); one flow_node
with ``cameras:=[left, right]`` publishes ``left/optical_flow`` and ``right/optical_flow``, with one
model in memory and one batched forward for the pairs that are ready together.
"""

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node


def generate_launch_description():
    """Arguments: namespace, rate, width, height, weights."""
    arguments = [
        DeclareLaunchArgument('namespace', default_value='', description='namespace of every node'),
        DeclareLaunchArgument('rate', default_value='10.0', description='camera rate in Hz'),
        DeclareLaunchArgument('width', default_value='320', description='image width in px'),
        DeclareLaunchArgument('height', default_value='240', description='image height in px'),
        DeclareLaunchArgument('weights', default_value='', description='checkpoint; empty = default weights'),
    ]
    cameras = [
        Node(package='lfn2_ros', executable='synthetic_camera', name=f'{name}_camera',
             namespace=LaunchConfiguration('namespace'),
             parameters=[{'rate': LaunchConfiguration('rate'), 'width': LaunchConfiguration('width'),
                          'height': LaunchConfiguration('height'),
                          'motion_x': motion[0], 'motion_y': motion[1],
                          'seed': seed, 'frame_id': f'{name}_optical'}],
             remappings=[('image', f'{name}/image')], output='screen')
        for name, motion, seed in (('left', (2.0, 1.0), 1), ('right', (-1.0, 2.0), 2))
    ]
    flow = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([get_package_share_directory('lfn2_ros'), 'launch', 'flow.launch.py'])),
        launch_arguments={'namespace': LaunchConfiguration('namespace'), 'cameras': '[left, right]',
                          'weights': LaunchConfiguration('weights')}.items(),
    )
    return LaunchDescription(arguments + cameras + [flow])
