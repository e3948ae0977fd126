# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""FlowEstimator: LiteFlowNet2 inference with mmflow's exact pre- and post-processing.

The ROS node, ``predict``, ``evaluate`` and the benchmarks all go through it.

The steps themselves (input size, normalisation, end level to px, flow back to the image size) live in
:mod:`lfn2_ros.processing` (docs/model.md#inference-pipeline); this class validates the images, keeps the
model and the streaming state, and runs the steps in order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from lfn2_ros import default_weights, processing
from lfn2_ros.device_input import DeviceInput
from lfn2_ros.model import (
    FlowFeatures,
    LiteFlowNet2,
    Variant,
    build_liteflownet2,
    get_variant,
    load_checkpoint,
)

__all__ = [
    'FlowEstimator',
    'parse_dtype',
    'resolve_device',
]

_LOG = logging.getLogger(__name__)

_RANDOM_WEIGHTS_VARIANT = 'pre_M3S3R3'  # the full 4-level architecture (docs/model.md#variants)

_DTYPES = {
    'float32': torch.float32,
    'fp32': torch.float32,
    'float': torch.float32,
    'float16': torch.float16,
    'fp16': torch.float16,
    'half': torch.float16,
    'bfloat16': torch.bfloat16,
    'bf16': torch.bfloat16,
}


def parse_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """Turn a dtype or its name into one of float32, float16, bfloat16.

    Args:
        dtype: ``torch.float32|float16|bfloat16`` or a name such as ``'float16'``, ``'fp16'``, ``'bf16'``.

    Returns:
        The torch dtype.

    Raises:
        ValueError: any other dtype or name.

    """
    if isinstance(dtype, torch.dtype):
        if dtype in (torch.float32, torch.float16, torch.bfloat16):
            return dtype
    elif isinstance(dtype, str):
        key = dtype.lower().removeprefix('torch.')
        if key in _DTYPES:
            return _DTYPES[key]
    raise ValueError(f'dtype must be float32, float16 or bfloat16, got {dtype!r}')


def resolve_device(device: str | torch.device = 'auto', *, allow_fallback: bool = False) -> torch.device:
    """Resolve a device request.

    Args:
        device: ``'auto'`` (CUDA when available, else CPU), ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a
            torch.device.
        allow_fallback: when CUDA is requested but unavailable, log a warning and use the CPU instead of
            raising.

    Returns:
        The torch.device to run on.

    Raises:
        ValueError: an unknown device string, or CUDA requested but absent (without ``allow_fallback``).

    """
    if isinstance(device, str) and device.strip().lower() == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type == 'cpu':
        return dev
    if dev.type != 'cuda':
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = 0 if dev.index is None else dev.index
    if index < count:
        return dev
    reason = 'CUDA is not available' if count == 0 else f'only {count} CUDA device(s) visible'
    if allow_fallback:
        _LOG.warning('device %r requested but %s; falling back to the CPU', str(device), reason)
        return torch.device('cpu')
    raise ValueError(f'device {str(device)!r} requested but {reason}; use device="cpu" or "auto"')


def _cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bf16 convolutions natively on this CPU (otherwise torch uses slow loops)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _as_bgr_uint8(image: np.ndarray, name: str) -> np.ndarray:
    """Validate one input image and return it as (H, W, 3) uint8 BGR."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f'{name} must be a numpy array (H, W, 3) uint8 BGR, got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise ValueError(f'{name} must have dtype uint8 (H, W, 3) BGR, got dtype {image.dtype}')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        # Monochrome: replicate to B = G = R, as cv2.imread(IMREAD_COLOR) does for grey files.
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'{name} must have shape (H, W, 3) (or (H, W) mono), got {image.shape}')
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f'{name} must not be empty, got shape {image.shape}')
    return image


class FlowEstimator:
    """LiteFlowNet2 optical flow between two images, pre/post-processed exactly as mmflow 0.5.2.

    Flow is from the first image to the second: pixel (x, y) of image 1 moves to
    (x + u, y + v) in image 2; u = +x right, v = +y down, in px of the input images.

    Contract: inputs are uint8 BGR images of any size (H, W >= 1); both images of a pair have the
    same size. The network input size is chosen as mmflow does (next multiple of 2^e per side,
    e = ``variant.input_exponent``) unless ``network_size`` fixes it; it must keep every decoded
    pyramid level even (docs/model.md#input-size-rule: 32 | H', W' for the full model), else ValueError.

    Args:
        weights: checkpoint path (mmflow ``.pth`` or ours), or None for the embedded default
            :data:`lfn2_ros.default_weights.DEFAULT_WEIGHTS`; if that file is missing a
            FileNotFoundError says so.
        variant: mmflow config name, alias, :class:`Variant`, or ``'auto'`` (detected from the
            checkpoint; with ``random_weights``: the full model ``pre_M3S3R3``).
        device: ``'auto'`` (CUDA if available, else CPU), ``'cpu'``, ``'cuda'``, ``'cuda:N'``.
        dtype: float32 (default), float16 (CUDA only) or bfloat16; a torch.dtype or its name.
            Pre/post-processing stays float32; only the network runs in ``dtype``.
        network_size: optional fixed network input size ``(height, width)`` in px; the flow is
            rescaled back to the input size as in the automatic case.
        random_weights: build an untrained (Kaiming-initialised) model of ``variant`` instead of
            loading weights; for tests and benchmarks only. Exclusive with ``weights``.
        allow_fallback: when CUDA is requested but absent, warn and use the CPU instead of raising.
        num_threads: when set, calls ``torch.set_num_threads(num_threads)`` (process-wide).
        channels_last: run the network in the channels-last (NHWC) memory format. About 1.3x faster
            on CPUs with oneDNN (benchmarks/bench_model.py), but the convolutions then sum in
            another order, so the flow is no longer bit-identical to mmflow (differences of the
            order of 1e-3 px). Off by default.

    Raises:
        FileNotFoundError: the weights file does not exist (or no default weights are installed).
        ValueError: bad device, dtype, variant, network_size or argument combination; checkpoint
            errors (``CheckpointError`` is a ValueError).

    Attributes:
        model: the LiteFlowNet2 module, in eval mode, on ``device`` in ``dtype``.
        variant: its :class:`Variant`.
        device: torch.device it runs on.
        dtype: torch dtype of the network.
        network_size: the fixed network size or None.

    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        variant: str | Variant = 'auto',
        device: str | torch.device = 'auto',
        dtype: torch.dtype | str = torch.float32,
        network_size: Sequence[int] | None = None,
        *,
        random_weights: bool = False,
        allow_fallback: bool = False,
        num_threads: int | None = None,
        channels_last: bool = False,
    ) -> None:
        if num_threads is not None:
            if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
                raise ValueError(f'num_threads must be a positive int or None, got {num_threads!r}')
            torch.set_num_threads(num_threads)
        self.dtype = parse_dtype(dtype)
        self.device = resolve_device(device, allow_fallback=allow_fallback)
        if self.dtype == torch.float16 and self.device.type != 'cuda':
            raise ValueError(
                f'dtype float16 needs a CUDA device, got device {self.device}; '
                'use float32 or bfloat16 on the CPU'
            )
        if self.dtype == torch.bfloat16 and self.device.type == 'cpu' and not _cpu_has_fast_bf16():
            _LOG.warning('bfloat16 requested, but oneDNN has no bf16 kernels for this CPU: the '
                         'convolutions fall back to slow reference code (tens of times slower than float32)')
        self.network_size = self._check_network_size_arg(network_size)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self._build_model(weights, variant, random_weights)
        self.model.to(device=self.device, dtype=self.dtype, memory_format=self.memory_format)
        self.model.eval()
        self.variant: Variant = self.model.variant
        if self.network_size is not None:
            self._check_supported(self.network_size)
        self._prev: tuple[tuple[int, int], FlowFeatures] | None = None
        self._input = DeviceInput(self.device, self.dtype, self.memory_format)

    # ------------------------------------------------------------------ construction helpers

    @staticmethod
    def _check_network_size_arg(network_size: Sequence[int] | None) -> tuple[int, int] | None:
        if network_size is None:
            return None
        try:
            height, width = (int(x) for x in network_size)
            ok = all(int(x) == x for x in network_size) and height > 0 and width > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f'network_size must be (height, width) with positive ints, got {network_size!r}')
        return height, width

    @staticmethod
    def _build_model(
        weights: str | os.PathLike | None, variant: str | Variant, random_weights: bool
    ) -> LiteFlowNet2:
        auto = isinstance(variant, str) and variant == 'auto'
        if random_weights:
            if weights is not None:
                raise ValueError('pass either weights or random_weights=True, not both')
            return build_liteflownet2(get_variant(_RANDOM_WEIGHTS_VARIANT) if auto else variant)
        if weights is None:
            weights = default_weights.default_weights_path()
            if weights is None:
                searched = ', '.join(str(p) for p in default_weights.default_weights_candidates())
                raise FileNotFoundError(
                    'no LiteFlowNet2 weights given and the default weights are not installed '
                    f'(searched {searched}); pass the path of a checkpoint, e.g. an mmflow '
                    'model-zoo liteflownet2_*.pth file'
                )
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f'weights file not found: {path}')
        return load_checkpoint(path, variant=variant, map_location='cpu')

    # ------------------------------------------------------------------ public properties

    @property
    def model_name(self) -> str:
        """The variant's mmflow config name, e.g. ``liteflownet2_pre_M3S3R3_8x1_flyingchairs_320x448``."""
        return self.variant.name

    def network_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Network input size used for an image of ``height`` x ``width`` px.

        Args:
            height: image height in px.
            width: image width in px.

        Returns:
            ``(H', W')``: ``network_size`` when set, else each side rounded up to a multiple of
            2^``variant.input_exponent`` (mmflow ``InputResize``).

        """
        if self.network_size is not None:
            return self.network_size
        return processing.network_input_size(height, width, self.variant.input_exponent)

    def _check_supported(self, size: tuple[int, int]) -> None:
        """Raise ValueError if the network cannot run at ``size`` (docs/model.md#input-size-rule)."""
        processing.check_input_size(size[0], size[1], self.variant.end_level, self.variant.name)

    # ------------------------------------------------------------------ numpy pipeline

    def _prepare(self, image: np.ndarray, net_hw: tuple[int, int]) -> torch.Tensor:
        """uint8 BGR (H, W, 3) -> (1, 3, H', W') BGR in [0, 1] on device, in the network dtype."""
        return self._input(processing.resize_to_network(image, net_hw))

    def _features(self, image: np.ndarray) -> FlowFeatures:
        net_hw = self.network_input_size(*image.shape[:2])
        self._check_supported(net_hw)
        return self.model.extract_features(self._prepare(image, net_hw))

    def _flow_from_features(
        self, feat1: FlowFeatures, feat2: FlowFeatures, image_hw: tuple[int, int]
    ) -> np.ndarray:
        net_hw = self.network_input_size(*image_hw)
        preds = self.model.decode(feat1, feat2)
        flow = processing.end_level_flow_px(preds, self.variant.end_level, self.variant.flow_div, net_hw)
        return processing.flow_to_image_size(flow[0].permute(1, 2, 0).cpu().numpy(), image_hw)

    @torch.inference_mode()
    def __call__(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        """Estimate the flow from ``img1`` to ``img2``.

        Args:
            img1: (H, W, 3) uint8 BGR image (an (H, W) or (H, W, 1) mono image is replicated to 3
                channels).
            img2: the second image, same size as ``img1``.

        Returns:
            (H, W, 2) float32 flow in px of the input images; channel 0 = u (+x right),
            1 = v (+y down).

        Raises:
            TypeError: an input is not a numpy array.
            ValueError: wrong dtype/shape, different sizes, or a size the variant cannot run at.

        """
        img1 = _as_bgr_uint8(img1, 'img1')
        img2 = _as_bgr_uint8(img2, 'img2')
        if img1.shape != img2.shape:
            raise ValueError(f'img1 and img2 must have the same shape, got {img1.shape} and {img2.shape}')
        feat1 = self._features(img1)
        feat2 = self._features(img2)
        return self._flow_from_features(feat1, feat2, img1.shape[:2])

    # ------------------------------------------------------------------ streaming

    @torch.inference_mode()
    def push(self, frame: np.ndarray) -> np.ndarray | None:
        """Feed the next frame of a stream; returns the flow from the previous frame to this one.

        The previous frame's encoder features are kept, so each frame runs the encoder once. The
        result is bit-identical to ``self(previous_frame, frame)``. A frame of a different size than
        the stored one starts a new stream (the stored frame is dropped).

        Args:
            frame: (H, W, 3) uint8 BGR image (or (H, W) mono, replicated to 3 channels).

        Returns:
            (H, W, 2) float32 flow in px, or None for the first frame of a stream.

        Raises:
            TypeError: ``frame`` is not a numpy array.
            ValueError: wrong dtype/shape or a size the variant cannot run at.

        """
        frame = _as_bgr_uint8(frame, 'frame')
        image_hw = frame.shape[:2]
        if self._prev is not None and self._prev[0] != image_hw:
            _LOG.info('frame size changed from %s to %s; restarting the stream', self._prev[0], image_hw)
            self._prev = None
        feat = self._features(frame)
        flow = None if self._prev is None else self._flow_from_features(self._prev[1], feat, image_hw)
        self._prev = (image_hw, feat)
        return flow

    def reset(self) -> None:
        """Drop the stored frame; the next :meth:`push` starts a new stream and returns None."""
        self._prev = None

    def __repr__(self) -> str:
        return (
            f'FlowEstimator(model_name={self.model_name!r}, device={str(self.device)!r}, '
            f'dtype={self.dtype}, network_size={self.network_size})'
        )
