# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The flow node's parameters: declared once, in one table, with their descriptors and validation.

``config/flow.yaml`` mirrors this table and the launch files read it for their argument list, so
defaults live here only. Parameters that need a restart are ``read_only`` (they can still be set at
start-up from a params file or ``-p``); the others apply live and are validated in the on-set
callback (ros2/demos set_parameters_callback.py pattern).

Every parameter has a value, so ``ros2 param get`` and ``dump`` work for all of them (an array
declared by type only stays "not set" and breaks rclpy's get_parameters). Doubles accept integers
(``max_rate:=5``): they are declared with dynamic typing and stored as floats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from lfn2_ros.node.qos import INPUT_QOS

__all__ = [
    'MAX_NETWORK_SIDE', 'PARAMETERS', 'SPECS', 'ParameterSpec', 'coerce_parameters', 'declare_parameters',
    'validate', 'validate_parameters', 'validate_values',
]


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter.

    Attributes:
        name: snake_case parameter name.
        type: a ``rcl_interfaces.msg.ParameterType`` constant.
        default: default value (never None: every parameter has a value).
        description: one line, with the unit.
        read_only: a change needs a restart (weights, device, QoS...).
        choices: accepted strings, or None.
        float_range: inclusive (min, max) for doubles, or None.
        int_range: inclusive (min, max) for integers, or None.
        dynamic: declared with dynamic typing (doubles, to accept integers; ``cameras``, whose empty
            default has no array type); the type is checked by :func:`validate`.

    """

    name: str
    type: int
    default: Any
    description: str
    read_only: bool = False
    choices: tuple[str, ...] | None = None
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    dynamic: bool = False

    def descriptor(self) -> ParameterDescriptor:
        """The ``ParameterDescriptor`` declared for this parameter."""
        desc = ParameterDescriptor(
            name=self.name, type=self.type, description=self.description, read_only=self.read_only,
            dynamic_typing=self.dynamic,
        )
        if self.choices:
            desc.additional_constraints = 'one of: ' + ', '.join(self.choices)
        if self.float_range:
            desc.floating_point_range = [
                FloatingPointRange(from_value=self.float_range[0], to_value=self.float_range[1], step=0.0)
            ]
        if self.int_range:
            low, high = self.int_range
            desc.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
        return desc


_T = ParameterType
MAX_NETWORK_SIDE = 4096
"""Longest network input side in px (memory grows with the area: 4096 x 4096 is several GB)."""

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec('autostart', _T.PARAMETER_BOOL, True,
                  'configure and activate at start-up; false = wait for a lifecycle manager',
                  read_only=True),
    ParameterSpec('cameras', _T.PARAMETER_STRING_ARRAY, [],
                  'camera names: camera NAME reads NAME/image and publishes NAME/optical_flow; '
                  'empty = one camera on image', read_only=True, dynamic=True),
    ParameterSpec('weights', _T.PARAMETER_STRING, '',
                  'LiteFlowNet2 checkpoint path (mmflow .pth); empty = the embedded default weights',
                  read_only=True),
    ParameterSpec('variant', _T.PARAMETER_STRING, 'auto',
                  "mmflow config name or alias of the checkpoint's variant; 'auto' detects it",
                  read_only=True),
    ParameterSpec('device', _T.PARAMETER_STRING, 'auto',
                  "inference device: auto | cpu | cuda | cuda:N (absent CUDA falls back to the CPU)",
                  read_only=True),
    ParameterSpec('require_device', _T.PARAMETER_BOOL, False,
                  'exit instead of falling back to the CPU when the requested CUDA device is absent',
                  read_only=True),
    ParameterSpec('precision', _T.PARAMETER_STRING, 'fp32',
                  'network precision: fp32 | fp16 (CUDA only) | bf16', read_only=True,
                  choices=('fp32', 'fp16', 'bf16')),
    ParameterSpec('channels_last', _T.PARAMETER_BOOL, False,
                  'run the network channels-last (NHWC): ~1.3x faster on CPU, not bit-identical to mmflow',
                  read_only=True),
    ParameterSpec('network_size', _T.PARAMETER_INTEGER_ARRAY, [0, 0],
                  f'fixed network input [height, width] in px (multiples of 32, at most {MAX_NETWORK_SIDE}); '
                  '[0, 0] = mmflow resize of the input size', read_only=True),
    ParameterSpec('max_input_size', _T.PARAMETER_INTEGER, 4096,
                  'longest accepted input image side in px; larger frames are skipped as invalid',
                  read_only=True, int_range=(32, 16384)),
    ParameterSpec('num_threads', _T.PARAMETER_INTEGER, 0,
                  'CPU threads for torch (process-wide); 0 = leave the torch default', read_only=True,
                  int_range=(0, 256)),
    ParameterSpec('input_qos', _T.PARAMETER_STRING, 'sensor_data',
                  'image subscription QoS: sensor_data (best effort) | reliable | system_default',
                  read_only=True, choices=tuple(INPUT_QOS)),
    ParameterSpec('image_transport', _T.PARAMETER_STRING, 'raw',
                  'raw: sensor_msgs/Image on image; compressed: sensor_msgs/CompressedImage on '
                  'image/compressed', read_only=True, choices=('raw', 'compressed')),
    ParameterSpec('max_rate', _T.PARAMETER_DOUBLE, 0.0,
                  'maximum processing rate in Hz; frames arriving faster are skipped; 0 = unlimited',
                  float_range=(0.0, 1000.0), dynamic=True),
    ParameterSpec('max_pair_gap', _T.PARAMETER_DOUBLE, 0.5,
                  'longest interval in s between the two frames of a pair (at least 1.5 / max_rate); '
                  'a longer gap restarts pairing',
                  float_range=(0.001, 3600.0), dynamic=True),
    ParameterSpec('publish_visualization', _T.PARAMETER_BOOL, True,
                  'publish optical_flow/visualization (bgr8 colour wheel) when it has subscribers'),
    ParameterSpec('compute_confidence', _T.PARAMETER_BOOL, False,
                  'forward-backward consistency confidence in OpticalFlow.confidence (runs the model twice)'),
)
"""Every parameter of ``flow_node``, in declaration order."""

SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in PARAMETERS}

_PYTHON_TYPES = {
    _T.PARAMETER_STRING: (str,),
    _T.PARAMETER_BOOL: (bool,),
    _T.PARAMETER_INTEGER: (int,),
    _T.PARAMETER_DOUBLE: (float, int),
    _T.PARAMETER_INTEGER_ARRAY: (list, tuple),
    _T.PARAMETER_STRING_ARRAY: (list, tuple),
}


def declare_parameters(node: Node) -> dict[str, Any]:
    """Declare every parameter of :data:`PARAMETERS` on ``node``.

    Args:
        node: the node.

    Returns:
        name -> current value (overrides applied; doubles as float, arrays as lists).

    Raises:
        rclpy.exceptions.ParameterException: an override of the wrong type (e.g. a string for a
            bool); the message names the parameter.

    """
    values = {}
    for spec in PARAMETERS:
        value = node.declare_parameter(spec.name, spec.default, spec.descriptor()).value
        if value is None:  # an empty YAML list arrives as "not set"; keep the parameter readable
            value = spec.default
            node.set_parameters([Parameter(spec.name, value=value)])
        if spec.type == _T.PARAMETER_DOUBLE and _is_number(value) and not isinstance(value, float):
            value = float(value)  # an integer override (max_rate:=5): store the double
            node.set_parameters([Parameter(spec.name, Parameter.Type.DOUBLE, value)])
        values[spec.name] = list(value) if isinstance(value, (list, tuple)) else value
    return values


def coerce_parameters(params: list[Parameter]) -> list[Parameter]:
    """Pre-set callback body: integers set on double parameters become doubles (``param set max_rate 5``).

    Args:
        params: the parameters being set.

    Returns:
        The same list with integer values of double parameters converted; others unchanged.

    """
    out = []
    for param in params:
        spec = SPECS.get(param.name)
        if spec is not None and spec.type == _T.PARAMETER_DOUBLE and param.type_ == Parameter.Type.INTEGER:
            param = Parameter(param.name, Parameter.Type.DOUBLE, float(param.value))
        out.append(param)
    return out


def validate(name: str, value: Any) -> str | None:
    """Check one parameter value against the table.

    Args:
        name: parameter name.
        value: proposed value.

    Returns:
        None when valid, otherwise the reason (names the parameter, the expected and actual value).

    """
    spec = SPECS.get(name)
    if spec is None:
        return None  # not ours (use_sim_time, qos_overrides.*): rclpy checks those
    if spec.type == _T.PARAMETER_INTEGER_ARRAY:
        return _network_size_error(name, value)
    if spec.type == _T.PARAMETER_STRING_ARRAY:
        return _camera_names_error(name, value)
    if spec.type == _T.PARAMETER_DOUBLE and not _is_number(value):
        return f'{name} must be a number, got {value!r}'
    wrong_bool = isinstance(value, bool) and spec.type != _T.PARAMETER_BOOL
    if wrong_bool or not isinstance(value, _PYTHON_TYPES[spec.type]):
        return f'{name} must be of type {spec.descriptor().type}, got {value!r}'
    if spec.choices and value not in spec.choices:
        return f'{name} must be one of {list(spec.choices)}, got {value!r}'
    if spec.float_range and not spec.float_range[0] <= value <= spec.float_range[1]:
        return f'{name} must be in [{spec.float_range[0]}, {spec.float_range[1]}], got {value!r}'
    if spec.int_range and not spec.int_range[0] <= value <= spec.int_range[1]:
        return f'{name} must be in [{spec.int_range[0]}, {spec.int_range[1]}], got {value!r}'
    if name == 'device' and not _is_device(value):
        return f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}"
    return None


def validate_values(values: dict[str, Any]) -> list[str]:
    """Validate a whole set of values (start-up check of the read-only parameters).

    Args:
        values: name -> value, as returned by :func:`declare_parameters`.

    Returns:
        The reasons of every invalid value (empty when all are valid).

    """
    return [reason for name, value in values.items() if (reason := validate(name, value))]


def validate_parameters(params: Sequence[Parameter] | Iterable[Parameter]) -> SetParametersResult:
    """On-set callback body: accept the change only if every value is valid.

    Args:
        params: the parameters being set.

    Returns:
        ``SetParametersResult`` with ``successful`` and, when rejected, the reason.

    """
    for param in params:
        reason = validate(param.name, param.value)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
    return SetParametersResult(successful=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _network_size_error(name: str, value: Any) -> str | None:
    values = list(value) if isinstance(value, (list, tuple)) else None
    if values is None or len(values) != 2 or not all(_is_number(v) and int(v) == v for v in values):
        return f'{name} must be [height, width] in px or [0, 0] (automatic), got {value!r}'
    if values == [0, 0]:
        return None
    if not all(32 <= v <= MAX_NETWORK_SIDE and v % 32 == 0 for v in values):
        return (f'{name} must be [0, 0] or two multiples of 32 in [32, {MAX_NETWORK_SIDE}] px, got {values} '
                f'(memory grows with the area)')
    return None


_CAMERA_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$')


def _camera_names_error(name: str, value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return f'{name} must be a list of camera names, got {value!r}'
    bad = [v for v in value if not _CAMERA_NAME.match(v)]
    if bad:
        return f'{name}: {bad} are not relative ROS names (letters, digits, _ and /, starting with a letter)'
    if len(set(value)) != len(value):
        return f'{name} must not repeat a name, got {list(value)}'
    return None


def _is_device(value: str) -> bool:
    value = value.strip().lower()
    if value in ('auto', 'cpu', 'cuda'):
        return True
    head, _, index = value.partition(':')
    return head == 'cuda' and index.isdigit()
