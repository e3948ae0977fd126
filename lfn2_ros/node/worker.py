# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The flow node's inference worker: one model for every camera, one batched forward per round.

The worker thread owns the model and the pairing state. Executor callbacks (services, parameters,
lifecycle transitions) never wait for an inference: they set flags that the worker applies between
rounds (reset, unload, load), and no lock is held across the forward pass. Model loading requested by
``~/enable`` runs on the worker thread too, so the service answers at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lfn2_ros.evaluation.consistency import fb_confidence
from lfn2_ros.node.camera import CameraPipeline
from lfn2_ros.node.diagnostics import ModelState
from lfn2_ros.node.pairing import Frame, FrameBoard

__all__ = ['InferenceWorker', 'ModelLoadError']


class ModelLoadError(RuntimeError):
    """The estimator could not be built (message from the loader)."""


class InferenceWorker:
    """Runs the shared estimator for every camera on one thread.

    Args:
        factory: builds the estimator from the parameter values (``push_batch``, ``reset``,
            ``__call__``, ``model_name``, ``device``).
        params: the node's live parameter dict.
        board: where the cameras post their newest frames.
        cameras: camera name -> pipeline.
        logger: the node's logger.

    """

    def __init__(self, factory: Callable[[dict[str, Any]], Any], params: dict[str, Any], board: FrameBoard,
                 cameras: dict[str, CameraPipeline], logger: Any) -> None:
        self._factory, self._params, self._board, self._cameras = factory, params, board, cameras
        self._log = logger
        self._estimator: Any = None
        self.model = ModelState()
        self._load_requested = False
        self._unload_requested = False
        self._stop = threading.Event()
        self._idle = threading.Event()  # set when no round is in progress
        self._idle.set()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------ model

    def load(self) -> None:
        """Build the estimator now (caller's thread; activation).

        Raises:
            ModelLoadError: the loader's reason (also kept in :attr:`model` for diagnostics).

        """
        self.model.state, self.model.message = 'loading', ''
        try:
            estimator = self._factory(self._params)
        except (FileNotFoundError, ValueError, ImportError, RuntimeError, OSError) as exc:
            self.model.state, self.model.message = 'failed', f'cannot load the flow model: {exc}'
            raise ModelLoadError(self.model.message) from exc
        wanted = self._params['device']
        if wanted.startswith('cuda') and not str(estimator.device).startswith('cuda'):
            self._log.warning(f'device {wanted!r} requested but not available; running on the CPU')
        self._estimator = estimator
        self.model.state, self.model.message = 'ready', estimator.model_name
        self.model.first_inference_pending = True

    def request_load(self) -> None:
        """Load the model on the worker thread (``~/enable true``); returns at once."""
        self._unload_requested = False
        self._load_requested = True
        self._board.clear()

    def request_unload(self) -> None:
        """Drop the model after the running round (``~/enable false``); returns at once."""
        self._load_requested = False
        self._unload_requested = True
        self._board.clear()

    def unload(self, timeout_s: float = 30.0) -> None:
        """Stop the thread, drop the model and give CUDA's cached memory back (deactivation)."""
        self.stop(timeout_s)
        self._release()

    def _release(self) -> None:
        estimator, self._estimator = self._estimator, None
        self.model.state, self.model.first_inference_pending = 'unloaded', False
        self._unload_requested = False
        for camera in self._cameras.values():  # a new model starts new streams
            camera.pairer.reset()
        if estimator is not None:
            estimator.reset()
        if estimator is not None and str(estimator.device).startswith('cuda'):
            del estimator
            import torch

            torch.cuda.empty_cache()

    @property
    def model_name(self) -> str:
        """Name of the loaded model, or 'none'."""
        return self._estimator.model_name if self._estimator is not None else 'none'

    @property
    def device_name(self) -> str:
        """Device of the loaded model, or 'none'."""
        return str(self._estimator.device) if self._estimator is not None else 'none'

    # ----------------------------------------------------------------------------- thread

    def start(self) -> None:
        """Start the thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name='flow_worker', daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread after its current round (it publishes nothing afterwards)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout_s)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no round is in progress."""
        return self._idle.wait(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._unload_requested:
                self._release()
            if self._load_requested:
                self._load_requested = False
                try:
                    self.load()
                except ModelLoadError as exc:
                    self._log.error(str(exc))
            taken = self._board.take_all(timeout_s=0.1)
            if not taken or self._estimator is None or self._stop.is_set():
                continue
            self._idle.clear()
            self.model.busy = True
            try:
                self._round(taken)
            finally:
                self.model.busy = False
                self._idle.set()

    def _round(self, taken: dict) -> None:
        estimator = self._estimator
        frames: list[tuple[CameraPipeline, Frame, Frame | None]] = []
        for name, (frame, dropped) in taken.items():
            camera = self._cameras[name]
            if camera.reset_requested:
                camera.reset_requested = False
                camera.pairer.reset()
                estimator.reset(name)
            frame.frames_skipped = dropped
            decision = camera.pair(frame)
            if decision.previous is None:
                estimator.reset(name)
            frames.append((camera, frame, decision.previous))
        start = time.perf_counter()
        try:
            flows = estimator.push_batch([f.image for _, f, _ in frames], [c.name for c, _, _ in frames])
        except (RuntimeError, FloatingPointError, ValueError) as exc:  # CUDA OOM is a RuntimeError
            for camera, _, _ in frames:
                self._fail(estimator, camera, exc)
            return
        inference_s = time.perf_counter() - start
        if any(flow is not None for flow in flows):
            self.model.first_inference_pending = False
        for (camera, frame, previous), flow in zip(frames, flows, strict=True):
            if camera.reset_requested:  # ~/reset during the forward pass: drop what it stored
                camera.reset_requested = False
                camera.pairer.reset()
                estimator.reset(camera.name)
            if flow is None or previous is None or self._stop.is_set():
                continue
            try:  # per camera: one camera's bad output does not cost the others their flow
                confidence = self._confidence(estimator, flow, frame, previous)
            except (RuntimeError, FloatingPointError, ValueError) as exc:
                self._fail(estimator, camera, exc)
                continue
            camera.publish(frame, previous, flow, confidence, inference_s, estimator.model_name)

    def _fail(self, estimator: Any, camera: CameraPipeline, exc: Exception) -> None:
        estimator.reset(camera.name)
        camera.pairer.reset()
        message = f'inference failed, frame skipped: {exc}'
        camera.health.error(message)
        self._log.error(f'{camera.prefix}{message}', throttle_duration_sec=5.0)

    def _confidence(self, estimator: Any, flow: np.ndarray, frame: Frame,
                    previous: Frame) -> np.ndarray | None:
        if not np.isfinite(flow).all():
            raise FloatingPointError('the model returned NaN or infinite flow')
        if not self._params['compute_confidence']:
            return None
        return fb_confidence(flow, estimator(frame.image, previous.image))
