# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch the synthetic camera and flow_node: ``ros2 launch lfn2_ros demo.launch.py [weights:=...]``.

The camera publishes a texture moving by (motion_x, motion_y) px per frame on ``camera``; the flow
node (through flow.launch.py, so every override of that file works here too) subscribes to it.
"""

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node


def generate_launch_description():
    """Arguments: camera, rate, width, height, motion_x, motion_y, plus those of flow.launch.py."""
    arguments = [
        DeclareLaunchArgument('camera', default_value='synthetic/image_raw',
                              description='synthetic image topic'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of both nodes'),
        DeclareLaunchArgument('rate', default_value='10.0', description='camera rate in Hz'),
        DeclareLaunchArgument('width', default_value='320', description='image width in px'),
        DeclareLaunchArgument('height', default_value='240', description='image height in px'),
        DeclareLaunchArgument('motion_x', default_value='2.0',
                              description='scene motion along +x, px per frame'),
        DeclareLaunchArgument('motion_y', default_value='1.0',
                              description='scene motion along +y, px per frame'),
    ]
    camera = Node(
        package='lfn2_ros',
        executable='synthetic_camera',
        name='synthetic_camera',
        namespace=LaunchConfiguration('namespace'),
        parameters=[{name: LaunchConfiguration(name)
                     for name in ('rate', 'width', 'height', 'motion_x', 'motion_y')}],
        remappings=[('image', LaunchConfiguration('camera'))],
        output='screen',
    )
    flow = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([get_package_share_directory('lfn2_ros'), 'launch', 'flow.launch.py'])),
        launch_arguments={'camera': LaunchConfiguration('camera'),
                          'namespace': LaunchConfiguration('namespace')}.items(),
    )
    return LaunchDescription(arguments + [camera, flow])
