# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Diagnostics levels and reasons of one camera, with a fake clock."""

import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from lfn2_ros.node import diagnostics
from lfn2_ros.node.diagnostics import CameraHealth, ModelState


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def health(monkeypatch):
    from lfn2_ros.ops import _build

    # the reasons below are the camera's own; a JIT build elsewhere in this test process must not show
    monkeypatch.setattr(_build, '_status', _build.BuildStatus('idle', 'not loaded', 0.0))
    clock = Clock()
    h = CameraHealth(clock=clock, stall_s=3.0)
    h.clock = clock
    return h


READY = ModelState(state='ready', active=True, enabled=True)


def _period(health, seconds=1.0, frames=10, publish=0, stamp=1, invalid=0, restart=None):
    for _ in range(frames):
        health.received(stamp)
    for _ in range(invalid):
        health.invalid('encoding 32FC1 is not supported')
    if restart:
        health.restarted(restart)
    for _ in range(publish):
        health.published(0.1, 0.2)
    health.clock.t += seconds


def test_running_and_rates(health):
    _period(health, seconds=2.0, frames=60, publish=10)
    level, message, values = health.status(READY, dropped=5)
    assert (level, message) == (DiagnosticStatus.OK, 'running')
    assert values['input rate (Hz)'] == 30.0 and values['output rate (Hz)'] == 5.0
    assert values['inference (ms)'] == pytest.approx(100.0) and values['frames dropped'] == 5


def test_no_input_is_warn_and_inactive_or_disabled_is_ok(health):
    _period(health, frames=0)
    assert health.status(READY, 0)[:2] == (DiagnosticStatus.WARN, 'no input images')
    assert health.status(ModelState('unloaded', active=False), 0)[:2] == (DiagnosticStatus.OK, 'inactive')
    assert health.status(ModelState('unloaded', active=True, enabled=False), 0)[1] == 'disabled'


def test_failed_model_and_runtime_errors_are_error(health):
    level, message, _ = health.status(ModelState('failed', 'weights file not found: /x.pth', active=False), 0)
    assert level == DiagnosticStatus.ERROR and '/x.pth' in message
    health.error('inference failed, frame skipped: CUDA out of memory')
    level, message, _ = health.status(READY, 0)
    assert level == DiagnosticStatus.ERROR and 'out of memory' in message
    _period(health, publish=1)
    assert health.status(READY, 0)[0] == DiagnosticStatus.OK  # errors count per period


@pytest.mark.parametrize('case, words', [
    ('zero', 'stamps are zero'), ('invalid', 'invalid frames (encoding 32FC1'),
    ('restart', 'pairing restarts (gap 0.900 s'), ('first', 'first inference pending'),
])
def test_frames_without_flow_warn_with_the_reason(health, case, words):
    model = {'first': ModelState('ready', active=True, first_inference_pending=True,
                                 busy=True)}.get(case, READY)
    for _ in range(4):  # 4 s of frames and no flow
        _period(health, stamp=0 if case == 'zero' else 1, invalid=3 if case == 'invalid' else 0,
                restart='gap 0.900 s exceeds max_pair_gap 0.500 s' if case == 'restart' else None)
        level, message, _ = health.status(model, 0)
    assert level == DiagnosticStatus.WARN and words in message, message
    assert 'no flow for 4 s' in message


def test_short_pauses_stay_ok_and_the_stall_grows_with_slow_inference(health):
    _period(health, publish=1)
    health.status(READY, 0)
    _period(health, seconds=1.5)
    assert health.status(READY, 0)[0] == DiagnosticStatus.OK  # 2.5 s without flow < 3 s
    for _ in range(5):
        health.published(2.0, 2.0)  # a 2 s model: 3 inference times = 6 s
    _period(health, seconds=5.0)
    assert health.status(READY, 0)[0] == DiagnosticStatus.OK


def test_loading_is_warn_even_before_input(health):
    level_message = health.status(ModelState('loading', active=True), 0)[:2]
    assert level_message == (DiagnosticStatus.WARN, 'loading the model')


def test_zero_stamps_warned_once(health):
    assert [health.received(0) for _ in range(3)] == [True, False, False]
    assert health.totals['zero_stamps'] == 3


def test_a_compiling_extension_is_the_reason_of_a_warn(monkeypatch):
    """While the loader compiles (lfn2_ros.ops.build_status), the WARN names it."""
    import time

    from lfn2_ros.ops import _build

    assert diagnostics.extension_status() is None or _build.build_status().state in ('compiling', 'waiting')
    compiling = _build.BuildStatus('compiling', 'compiling the correlation extension into /tmp/x',
                                   time.monotonic() - 42)
    monkeypatch.setattr(_build, 'build_status', lambda: compiling)
    assert diagnostics.extension_status() == 'compiling the correlation extension into /tmp/x (for 42 s)'
    health = CameraHealth(clock=Clock())
    for _ in range(4):
        health.received(1)
        health._clock.t += 1.0  # noqa: SLF001
        state = ModelState('ready', active=True, first_inference_pending=True, busy=True)
        level, message, _ = health.status(state, 0)
    assert level == DiagnosticStatus.WARN
    assert 'compiling the correlation extension into /tmp/x' in message
    monkeypatch.setattr(_build, 'build_status', lambda: _build.BuildStatus('loaded', 'prebuilt', 0.0))
    assert diagnostics.extension_status() is None
