# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stand-in estimators for node tests (never used by the node itself).

They implement the FlowEstimator surface the node uses (``push_batch``, ``reset``, ``__call__``,
``model_name``, ``device``) so the node's plumbing, stamps and direction conventions are tested
without trained LiteFlowNet2 weights and at any speed.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np


class DisFlowStandIn:
    """OpenCV DIS optical flow behind the FlowEstimator interface (a classical stand-in, not LiteFlowNet2).

    Flow convention as FlowEstimator: (H, W, 2) float32 px from the first image to the second,
    channel 0 = u (+x right), 1 = v (+y down).
    """

    model_name = 'test-standin-opencv-dis'
    device = 'cpu'

    def __init__(self, params: dict | None = None) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._prev: dict = {}
        self.calls = 0
        self.pushes = 0
        self.batches: list[int] = []  # size of every push_batch call

    def __call__(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        self.calls += 1
        g1 = cv2.cvtColor(img1, cv2.COLOR_BGR2GRAY)
        g2 = cv2.cvtColor(img2, cv2.COLOR_BGR2GRAY)
        return self._dis.calc(g1, g2, None).astype(np.float32)

    def push_batch(self, frames, streams) -> list:
        self.batches.append(len(frames))
        out = []
        for frame, stream in zip(frames, streams, strict=True):
            self.pushes += 1
            prev, self._prev[stream] = self._prev.get(stream), frame
            out.append(None if prev is None or prev.shape != frame.shape else self(prev, frame))
        return out

    def reset(self, stream=None) -> None:
        if stream is None:
            self._prev.clear()
        else:
            self._prev.pop(stream, None)


class SlowFakeEstimator:
    """Returns a constant flow after sleeping ``delay_s``: a model slower than the camera.

    Attributes:
        pushes: frames pushed (thread-safe counter).
        max_concurrent: most calls running at the same time (must stay 1).
        started: set while an inference runs (tests wait on it).
        spans: (start, end) ``time.monotonic()`` of every inference, s.

    """

    model_name = 'test-fake-slow'
    device = 'cpu'

    def __init__(self, delay_s: float = 0.1, flow_px: tuple[float, float] = (1.0, -2.0)) -> None:
        self.delay_s = delay_s
        self.flow_px = flow_px
        self._prev_shape: dict = {}
        self._lock = threading.Lock()
        self._running = 0
        self.pushes = 0
        self.max_concurrent = 0
        self.nan_next = False
        self.started = threading.Event()
        self.spans: list[tuple[float, float]] = []
        self.batches: list[int] = []

    def _sleep(self) -> None:
        with self._lock:
            self._running += 1
            self.max_concurrent = max(self.max_concurrent, self._running)
        start = time.monotonic()
        self.started.set()
        time.sleep(self.delay_s)
        self.spans.append((start, time.monotonic()))
        self.started.clear()
        with self._lock:
            self._running -= 1

    def _constant(self, shape) -> np.ndarray:
        flow = np.empty(shape[:2] + (2,), np.float32)
        flow[..., 0], flow[..., 1] = self.flow_px
        if self.nan_next:
            self.nan_next = False
            flow[0, 0, 0] = np.nan
        return flow

    def _flow(self, shape) -> np.ndarray:
        self._sleep()
        return self._constant(shape)

    def __call__(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        return -self._flow(img1.shape)

    def push_batch(self, frames, streams) -> list:
        """One sleep for the whole batch (a batched forward), one result per stream."""
        self.batches.append(len(frames))
        out = []
        for frame, stream in zip(frames, streams, strict=True):
            self.pushes += 1
            prev, self._prev_shape[stream] = self._prev_shape.get(stream), frame.shape
            out.append(None if prev is None or prev != frame.shape else True)
        if any(r is not None for r in out):
            self._sleep()
        return [self._constant(frame.shape) if r else None for frame, r in zip(frames, out, strict=True)]

    def reset(self, stream=None) -> None:
        if stream is None:
            self._prev_shape.clear()
        else:
            self._prev_shape.pop(stream, None)
