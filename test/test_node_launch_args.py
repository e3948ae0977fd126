# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""flow.launch.py's argument handling, without launch: defaults, parsing, named errors, plain logs."""

import io

import pytest

from lfn2_ros.node.launch_args import LaunchArgumentError, default_text, launch_overrides, log_settings
from lfn2_ros.node.parameters import PARAMETERS, SPECS


def test_defaults_are_the_real_ones_and_leave_the_params_file_alone():
    texts = {spec.name: default_text(spec) for spec in PARAMETERS}
    assert texts['max_pair_gap'] == '0.5' and texts['autostart'] == 'true'
    assert texts['network_size'] == '[0, 0]' and texts['input_qos'] == 'sensor_data'
    assert all(text != '' for name, text in texts.items() if name not in ('weights',))
    assert launch_overrides(texts) == {}


def test_given_values_are_typed():
    overrides = launch_overrides({'max_rate': '5', 'cameras': '[left, right]', 'weights': '0123',
                                  'network_size': '[256, 320]', 'compute_confidence': 'true'})
    assert overrides == {'max_rate': 5.0, 'cameras': ['left', 'right'], 'weights': '0123',
                         'network_size': [256, 320], 'compute_confidence': True}
    assert isinstance(overrides['max_rate'], float)


@pytest.mark.parametrize('name, text', [('max_rate', 'abc'), ('max_rate', '-1'),
                                        ('network_size', '[32000, 32000]'), ('input_qos', 'fast'),
                                        ('compute_confidence', 'maybe'),
                                        ('cameras', '[a, a]'), ('max_pair_gap', '[1')])
def test_bad_values_name_the_argument(name, text):
    with pytest.raises(LaunchArgumentError, match=f'launch argument {name}:='):
        launch_overrides({name: text})


def test_logs_are_plain_when_not_on_a_terminal(monkeypatch):
    monkeypatch.delenv('RCUTILS_COLORIZED_OUTPUT', raising=False)
    tty, env = log_settings(io.StringIO())
    assert tty is False and env['RCUTILS_COLORIZED_OUTPUT'] == '0'

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty, env = log_settings(Terminal())
    assert tty is True and env['RCUTILS_COLORIZED_OUTPUT'] == '1'
    assert SPECS['cameras'].read_only
