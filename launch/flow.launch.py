# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch flow_node: ``ros2 launch lfn2_ros flow.launch.py camera:=/front/image_raw weights:=/path/w.pth``.

Every parameter is an argument whose default is the real one (``--show-args`` prints it); values come
from ``params_file`` (share/lfn2_ros/config/flow.yaml) unless an argument gives another value. A bad
value stops the launch with an error that names the argument. Colour and pseudo-terminal output only
when the launch itself runs on a terminal.
"""

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from lfn2_ros.node.launch_args import default_text, launch_overrides, log_settings
from lfn2_ros.node.parameters import PARAMETERS


def _flow_node(context, *args, **kwargs):
    texts = {spec.name: LaunchConfiguration(spec.name).perform(context) for spec in PARAMETERS}
    overrides = launch_overrides(texts)  # raises LaunchArgumentError naming the bad argument
    sim_text = LaunchConfiguration('use_sim_time').perform(context)
    use_sim_time = yaml.safe_load(sim_text)
    if not isinstance(use_sim_time, bool):
        raise ValueError(f'launch argument use_sim_time:={sim_text!r} must be true or false')
    emulate_tty, env = log_settings()
    remappings = [] if overrides.get('cameras') else [('image', LaunchConfiguration('camera'))]
    return [Node(
        package='lfn2_ros',
        executable='flow_node',
        name='flow_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), overrides, {'use_sim_time': use_sim_time}],
        remappings=remappings,
        output='screen',
        emulate_tty=emulate_tty,
        additional_env=env,
    )]


def generate_launch_description():
    """Arguments: camera, namespace, params_file, use_sim_time, and one per parameter."""
    share = get_package_share_directory('lfn2_ros')
    arguments = [
        DeclareLaunchArgument('camera', default_value='image_raw',
                              description='input image topic (remap of the node input "image"; '
                                          'not used with cameras)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its topics'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'flow.yaml'),
                              description='YAML file with the node parameters'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='use /clock (bag replay)'),
    ]
    arguments += [
        DeclareLaunchArgument(spec.name, default_value=default_text(spec),
                              description=f'{spec.description} (the default leaves the params_file value)')
        for spec in PARAMETERS
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_flow_node)])
