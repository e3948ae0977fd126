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
from collections.abc import Hashable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from lfn2_ros import default_weights, processing
from lfn2_ros.device_input import DeviceInput
from lfn2_ros.devices import cpu_has_fast_bf16, parse_dtype, resolve_device
from lfn2_ros.model import (
    FlowFeatures,
    LiteFlowNet2,
    Variant,
    build_liteflownet2,
    get_variant,
    load_checkpoint,
)

__all__ = ['FlowEstimator']

_LOG = logging.getLogger(__name__)

_RANDOM_WEIGHTS_VARIANT = 'pre_M3S3R3'  # the full 4-level architecture (docs/model.md#variants)

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


def _slice_features(feats: FlowFeatures, index: int) -> FlowFeatures:
    """Batch element ``index`` of ``feats`` (views, batch size 1)."""
    return FlowFeatures(image=feats.image[index:index + 1],
                        pyramid={key: value[index:index + 1] for key, value in feats.pyramid.items()})


def _cat_features(parts: list[FlowFeatures]) -> FlowFeatures:
    """Stack single-image features along the batch dimension (no copy for one part)."""
    if len(parts) == 1:
        return parts[0]
    return FlowFeatures(image=torch.cat([p.image for p in parts]),
                        pyramid={key: torch.cat([p.pyramid[key] for p in parts]) for key in parts[0].pyramid})


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
        if self.dtype == torch.bfloat16 and self.device.type == 'cpu' and not cpu_has_fast_bf16():
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
        self._streams: dict[Hashable, tuple[tuple[int, int], FlowFeatures]] = {}  # push_batch state
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
        return self._image_flows(preds, net_hw, [image_hw])[0]

    def _image_flows(self, preds: dict[str, torch.Tensor], net_hw: tuple[int, int],
                     image_hws: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """Decoded batch -> (H, W, 2) float32 px flow per pair at its image size (docs/model.md#output)."""
        flow = processing.end_level_flow_px(preds, self.variant.end_level, self.variant.flow_div, net_hw)
        return [processing.flow_to_image_size(flow[k].permute(1, 2, 0).cpu().numpy(), image_hw)
                for k, image_hw in enumerate(image_hws)]

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

    def reset(self, stream: Hashable | None = None) -> None:
        """Drop stored frames: every one when ``stream`` is None, else that :meth:`push_batch` stream's.

        The next :meth:`push` (or :meth:`push_batch` for that stream) starts anew and returns None.
        """
        if stream is None:
            self._prev = None
            self._streams.clear()
        else:
            self._streams.pop(stream, None)

    @torch.inference_mode()
    def push_batch(
        self, frames: Sequence[np.ndarray], streams: Sequence[Hashable]
    ) -> list[np.ndarray | None]:
        """:meth:`push` for several streams at once (cameras sharing one model), batched on the device.

        Frames whose network input sizes agree run the encoder as one batch, and the pairs among them
        run the decoder as one batch; each stream keeps its own previous features. Each flow equals
        that stream's :meth:`push` result up to the float summation order of batched convolutions.

        Args:
            frames: one (H, W, 3) uint8 BGR image per stream (sizes may differ between streams).
            streams: a distinct hashable key per frame (e.g. the camera name).

        Returns:
            Per frame, the (H, W, 2) float32 flow in px from that stream's previous frame, or None
            for a stream's first frame (or one whose size changed).

        Raises:
            TypeError: a frame is not a numpy array.
            ValueError: lengths differ, a key repeats, a frame has a wrong dtype/shape or a size the
                variant cannot run at.

        """
        if len(frames) != len(streams) or len(set(streams)) != len(streams):
            raise ValueError(
                f'need one distinct stream key per frame, got {len(frames)} frames, keys {streams!r}')
        images = [_as_bgr_uint8(frame, f'frames[{i}]') for i, frame in enumerate(frames)]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(self.network_input_size(*image.shape[:2]), []).append(i)
        results: list[np.ndarray | None] = [None] * len(images)
        for net_hw, members in groups.items():
            self._check_supported(net_hw)
            batch = torch.cat([self._prepare(images[i], net_hw) for i in members])
            feats = self.model.extract_features(batch)
            own = [_slice_features(feats, j) for j in range(len(members))]
            paired = [j for j, i in enumerate(members)
                      if self._streams.get(streams[i], ((-1, -1),))[0] == images[i].shape[:2]]
            if paired:
                before = _cat_features([self._streams[streams[members[j]]][1] for j in paired])
                after = _cat_features([own[j] for j in paired])
                flows = self._image_flows(self.model.decode(before, after), net_hw,
                                          [images[members[j]].shape[:2] for j in paired])
                for j, flow in zip(paired, flows, strict=True):
                    results[members[j]] = flow
            for j, i in enumerate(members):
                self._streams[streams[i]] = (images[i].shape[:2], own[j])
        return results

    def __repr__(self) -> str:
        return (
            f'FlowEstimator(model_name={self.model_name!r}, device={str(self.device)!r}, '
            f'dtype={self.dtype}, network_size={self.network_size})'
        )
