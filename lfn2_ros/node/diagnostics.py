# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Honest per-camera health of the flow node: what the diagnostics level and message say, and why.

Levels (one ``DiagnosticStatus`` per camera on ``/diagnostics``):

* ERROR: the model failed to load, or an inference failed in the last period.
* WARN: no input images; or images arrive but no flow was published for a while, with the reason
  (the model is loading or the correlation extension compiling, zero stamps, invalid frames,
  pairing restarts with the last restart's cause).
* OK: running, inactive (lifecycle) or disabled (``~/enable false``).

Pure Python with an injectable clock, so every message is tested without a graph.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus

__all__ = ['CameraHealth', 'ModelState', 'extension_status']

STALL_S = 3.0
"""No flow for this long while frames arrive (or 3 inference times, if longer) is a WARN."""


def extension_status() -> str | None:
    """What the correlation extension's loader is doing, when that explains a missing flow.

    Returns:
        e.g. "compiling the correlation extension into ... (for 42 s)" while a JIT build runs or waits for
        another process's build (``lfn2_ros.ops.build_status``), else None.

    """
    try:
        from lfn2_ros.ops._build import build_status  # imports torch: only once a model is loading

        status = build_status()
    except Exception:  # noqa: BLE001 - a diagnostics probe must never break the node
        return None
    if status.state not in ('compiling', 'waiting'):
        return None
    return f'{status.message} (for {time.monotonic() - status.since:.0f} s)'


@dataclass
class ModelState:
    """The shared model's state as the worker reports it.

    Attributes:
        state: ``'unloaded'`` | ``'loading'`` | ``'ready'`` | ``'failed'``.
        message: why it failed (or the model name when ready).
        first_inference_pending: a model was loaded and has not finished an inference yet.
        busy: a forward pass is running now.
        active: the lifecycle node is active.
        enabled: ``~/enable`` is true.

    """

    state: str = 'unloaded'
    message: str = ''
    first_inference_pending: bool = False
    busy: bool = False
    active: bool = False
    enabled: bool = True


class CameraHealth:
    """Counters of one camera and the status they imply; thread-safe (callback, worker, timer).

    Args:
        clock: monotonic time in s (tests inject a fake one).
        stall_s: minimum time without flow, while frames arrive, before a WARN.

    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, stall_s: float = STALL_S) -> None:
        self._clock = clock
        self._stall_s = stall_s
        self._lock = threading.Lock()
        self.totals = {'received': 0, 'published': 0, 'invalid': 0, 'errors': 0, 'zero_stamps': 0,
                       'restarts': 0}
        self._window = self._empty_window()
        self._last_flow = clock()  # the stall timer starts with the node
        self._last_invalid = self._last_restart = self._last_error = ''
        self._mean_inference_s = 0.0

    def _empty_window(self) -> dict[str, float]:
        return {'start': self._clock(), 'received': 0, 'published': 0, 'errors': 0, 'invalid': 0,
                'zero_stamps': 0, 'restarts': 0, 'inference_s': 0.0, 'latency_s': 0.0}

    def _add(self, key: str, count: int = 1) -> None:
        self.totals[key] += count
        self._window[key] += count

    def received(self, stamp_ns: int) -> bool:
        """Count a frame; returns True for the first zero-stamped frame (warn once)."""
        with self._lock:
            self._add('received')
            if stamp_ns != 0:
                return False
            self._add('zero_stamps')
            return self.totals['zero_stamps'] == 1

    def invalid(self, reason: str) -> None:
        """Count a malformed or unsupported frame."""
        with self._lock:
            self._add('invalid')
            self._last_invalid = reason

    def restarted(self, reason: str) -> None:
        """Count a pairing restart (every first frame of a stream, too)."""
        with self._lock:
            self._add('restarts')
            self._last_restart = reason

    def error(self, message: str) -> None:
        """Count a runtime (inference) error."""
        with self._lock:
            self._add('errors')
            self._last_error = message

    def published(self, inference_s: float, latency_s: float) -> None:
        """Count a published flow."""
        with self._lock:
            self._add('published')
            self._window['inference_s'] += inference_s
            self._window['latency_s'] += latency_s
            self._last_flow = self._clock()
            mean = self._mean_inference_s or inference_s
            self._mean_inference_s = 0.8 * mean + 0.2 * inference_s

    def restart_stall_timer(self) -> None:
        """Start counting the time without flow again (activation, enable, reset)."""
        with self._lock:
            self._last_flow = self._clock()

    def status(self, model: ModelState, dropped: int) -> tuple[bytes, str, dict[str, object]]:
        """Level, message and key values for the period since the previous call (which starts a new one).

        Args:
            model: the shared model's state.
            dropped: frames of this camera dropped since start (model busy or ``max_rate``).

        Returns:
            ``(level, message, values)`` for :func:`lfn2_ros.node.conversions.build_diagnostics`.

        """
        with self._lock:
            window, self._window = self._window, self._empty_window()
            now = self._clock()
            since_flow = now - self._last_flow
            stall = max(self._stall_s, 3.0 * self._mean_inference_s)
            totals = dict(self.totals)
            last = {'invalid': self._last_invalid, 'restart': self._last_restart, 'error': self._last_error}
        elapsed = max(now - window['start'], 1e-9)
        published = window['published']
        values = {
            'input rate (Hz)': window['received'] / elapsed,
            'output rate (Hz)': published / elapsed,
            'inference (ms)': 1e3 * window['inference_s'] / published if published else float('nan'),
            'latency (ms)': 1e3 * window['latency_s'] / published if published else float('nan'),
            'frames dropped': dropped,
            'invalid frames': totals['invalid'],
            'zero stamps': totals['zero_stamps'],
            'pairing restarts': totals['restarts'],
            'runtime errors': totals['errors'],
            'model state': model.state,
            'seconds without flow': since_flow,
        }
        level, message = _level(model, window, totals, last, since_flow, stall)
        return level, message, values


def _level(model: ModelState, window: dict, totals: dict, last: dict, since_flow: float,
           stall: float) -> tuple[bytes, str]:
    if model.state == 'failed':
        return DiagnosticStatus.ERROR, f'model failed: {model.message}'
    if window['errors']:
        return DiagnosticStatus.ERROR, last['error']
    if not model.active:
        return DiagnosticStatus.OK, 'inactive'
    if not model.enabled:
        return DiagnosticStatus.OK, 'disabled'
    if model.state == 'loading':
        return DiagnosticStatus.WARN, 'loading the model'
    if window['received'] == 0:
        return DiagnosticStatus.WARN, 'no input images'
    if window['published'] or since_flow < stall:
        return DiagnosticStatus.OK, 'running'
    no_flow = f'frames arrive but no flow for {since_flow:.0f} s'
    if model.first_inference_pending and model.busy:
        ext = extension_status()
        what = ext or 'first inference pending'
        return DiagnosticStatus.WARN, f'{no_flow}: {what}'
    if window['zero_stamps']:
        return DiagnosticStatus.WARN, \
            f'{no_flow}: input header stamps are zero (pairing needs increasing stamps)'
    if window['invalid']:
        return DiagnosticStatus.WARN, f'{no_flow}: {window["invalid"]} invalid frames ({last["invalid"]})'
    if window['restarts']:
        return DiagnosticStatus.WARN, f'{no_flow}: pairing restarts ({last["restart"]})'
    if model.busy:
        return DiagnosticStatus.WARN, f'{no_flow}: an inference is running (slower than {stall:.0f} s)'
    return DiagnosticStatus.WARN, f'{no_flow}: no pair formed'
