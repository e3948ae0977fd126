# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch arguments of flow.launch.py from the parameter table: real defaults, named errors, plain logs.

Kept free of ``launch`` imports so it is tested where only rclpy is installed.
"""

from __future__ import annotations

import json
import os
from typing import Any

import yaml
from rcl_interfaces.msg import ParameterType

from lfn2_ros.node.parameters import PARAMETERS, ParameterSpec, validate

__all__ = ['LaunchArgumentError', 'default_text', 'launch_overrides', 'log_settings']


class LaunchArgumentError(ValueError):
    """A launch argument's value is not valid for its parameter; the message names the argument."""


def default_text(spec: ParameterSpec) -> str:
    """The table default as a launch argument string (what ``--show-args`` prints).

    Args:
        spec: the parameter.

    Returns:
        ``'0.5'``, ``'true'``, ``'[0, 0]'``, ``'sensor_data'``, ``''``...

    """
    if isinstance(spec.default, bool):
        return 'true' if spec.default else 'false'
    if isinstance(spec.default, (list, tuple)):
        return json.dumps(list(spec.default))
    return str(spec.default)


def parse(spec: ParameterSpec, text: str) -> Any:
    """Parse one launch argument into the parameter's type.

    Args:
        spec: the parameter.
        text: the argument's string (``max_rate:=5``).

    Returns:
        The value (doubles as float, even from ``5``).

    Raises:
        LaunchArgumentError: unparsable or invalid; the message names the argument and the reason.

    """
    if spec.type == ParameterType.PARAMETER_STRING:
        value: Any = text  # a path of digits is still a path
    else:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LaunchArgumentError(
                f'launch argument {spec.name}:={text!r} is not a value: {exc}') from None
        integer = isinstance(value, int) and not isinstance(value, bool)
        if spec.type == ParameterType.PARAMETER_DOUBLE and integer:
            value = float(value)
        if value is None and spec.type == ParameterType.PARAMETER_STRING_ARRAY:
            value = []
    reason = validate(spec.name, value)
    if reason:
        raise LaunchArgumentError(f'launch argument {spec.name}:={text!r}: {reason}')
    return value


def launch_overrides(texts: dict[str, str]) -> dict[str, Any]:
    """Parameters to pass on top of the params file: the arguments that differ from the table default.

    An argument left at its default leaves the params file's value in force, so ``--show-args`` can
    print the real defaults and a params file still decides what the command line does not.

    Args:
        texts: parameter name -> launch argument string.

    Returns:
        name -> parsed value, for the arguments given with a non-default value.

    Raises:
        LaunchArgumentError: the first invalid argument (named in the message).

    """
    overrides = {}
    for spec in PARAMETERS:
        text = texts.get(spec.name, default_text(spec))
        if text.strip() != default_text(spec):
            overrides[spec.name] = parse(spec, text)
    return overrides


def log_settings(stream: Any = None) -> tuple[bool, dict[str, str]]:
    """``emulate_tty`` and environment for the node's output: colour only on a terminal.

    Args:
        stream: the launch process's output (default ``sys.stdout``).

    Returns:
        ``(emulate_tty, additional_env)``: redirected output gets no colour codes and no carriage
        returns (a pseudo-terminal turns every newline into CR LF), and line-buffered logs.

    """
    import sys

    stream = stream if stream is not None else sys.stdout
    tty = bool(getattr(stream, 'isatty', lambda: False)())
    env = {'RCUTILS_COLORIZED_OUTPUT': os.environ.get('RCUTILS_COLORIZED_OUTPUT', '1' if tty else '0'),
           'RCUTILS_LOGGING_BUFFERED_STREAM': '1', 'PYTHONUNBUFFERED': '1'}
    return tty, env
