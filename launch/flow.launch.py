# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch flow_node: ``ros2 launch lfn2_ros flow.launch.py camera:=/front/image_raw weights:=/path/w.pth``.

Defaults come from ``params_file`` (share/lfn2_ros/config/flow.yaml); every other argument is an
override that is applied only when given, so no default is restated here.
"""

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from rcl_interfaces.msg import ParameterType

from lfn2_ros.node.parameters import PARAMETERS


def _flow_node(context, *args, **kwargs):
    overrides = {}
    for spec in PARAMETERS:
        text = LaunchConfiguration(spec.name).perform(context)
        if text != '':
            # Strings stay strings (a path of digits is still a path); others parse as YAML values,
            # and doubles accept integers (max_rate:=5).
            value = text if spec.type == ParameterType.PARAMETER_STRING else yaml.safe_load(text)
            overrides[spec.name] = float(value) if spec.type == ParameterType.PARAMETER_DOUBLE else value
    use_sim_time = yaml.safe_load(LaunchConfiguration('use_sim_time').perform(context))
    return [Node(
        package='lfn2_ros',
        executable='flow_node',
        name='flow_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), overrides, {'use_sim_time': bool(use_sim_time)}],
        remappings=[('image', LaunchConfiguration('camera'))],
        output='screen',
        emulate_tty=True,
    )]


def generate_launch_description():
    """Arguments: camera, namespace, params_file, use_sim_time, and one override per parameter."""
    share = get_package_share_directory('lfn2_ros')
    arguments = [
        DeclareLaunchArgument('camera', default_value='image_raw',
                              description='input image topic (remap of the node input "image")'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its topics'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'flow.yaml'),
                              description='YAML file with the node parameters'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='use /clock (bag replay)'),
    ]
    arguments += [
        DeclareLaunchArgument(spec.name, default_value='',
                              description=f'{spec.description} (empty = value from params_file)')
        for spec in PARAMETERS
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_flow_node)])
