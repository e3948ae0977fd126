# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pre- and post-processing around the network, as mmflow 0.5.2 does it (docs/model.md#inference-pipeline).

Every caller that turns images into network inputs or network outputs into flow uses these functions:
:class:`lfn2_ros.inference.FlowEstimator`, the ONNX export, the model's size check and the trainer.

1. Input size (mmflow ``InputResize``): each side rounded up to the next multiple of 2^e
   (:func:`network_input_size`); the network runs only where every decoded level below 6 is even
   (:func:`check_input_size`, docs/model.md#input-size-rule). Images are resized to it with
   ``cv2.resize(INTER_LINEAR)`` on the uint8 data (:func:`resize_to_network`).
2. Normalisation (mmflow ``Normalize`` with mean 0, std 255, ``to_rgb=False``): float32 division of the
   uint8 BGR values by 255 (:func:`normalise`); the model subtracts its per-channel mean itself.
3. End level to px (docs/model.md#output): the end level's normalised flow is resized to the network input
   size with ``F.interpolate(bilinear, align_corners=False)`` and multiplied by ``flow_div``
   (:func:`end_level_flow_px`).
4. Back to the image size: ``cv2.resize(INTER_LINEAR)`` of the float32 flow, then u and v divided by the
   float32 scale factors W'/W and H'/H, as mmflow's ``InputResize`` stores them and ``get_flow`` divides
   (:func:`flow_to_image_size`).

This module imports nothing from the rest of the package, so the model can use its size check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    'check_input_size',
    'end_level_flow_px',
    'flow_to_image_size',
    'level_size',
    'network_input_size',
    'normalisation_table',
    'normalise',
    'resize_to_network',
]

_TOP_LEVEL = 6  # the coarsest pyramid level; its flow is not upsampled into a coarser one
_SIZE_HINT = 32  # a multiple of 2^5 keeps every level of the full model even


def network_input_size(height: int, width: int, exponent: int) -> tuple[int, int]:
    """The network input size mmflow's ``InputResize`` chooses for an image.

    Args:
        height: image height in px (>= 1).
        width: image width in px (>= 1).
        exponent: the variant's ``input_exponent`` e.

    Returns:
        ``(H', W')``: each side rounded up to a multiple of 2^e px.

    """
    times = 2 ** exponent
    return math.ceil(height / times) * times, math.ceil(width / times) * times


def level_size(n: int, level: int) -> int:
    """Side of pyramid level ``level`` (1 = the network input) for an input side of ``n`` px.

    Every level halves with stride 2 and rounds up, so level L has ``ceil(n / 2^(L-1))`` px.
    """
    scale = 2 ** (level - 1)
    return -(-n // scale)


def check_input_size(height: int, width: int, end_level: int, name: str = 'LiteFlowNet2') -> None:
    """Raise ValueError unless every decoded level below 6 is even (docs/model.md#input-size-rule).

    The coarser flow is upsampled x2 into each finer level, which fits only when that level's sides are even.

    Args:
        height: network input height in px.
        width: network input width in px.
        end_level: the finest decoded level (the variant's ``end_level``).
        name: the network named in the error message.

    Raises:
        ValueError: a decoded level below 6 has an odd side.

    """
    for level in range(end_level, _TOP_LEVEL):
        h, w = level_size(height, level), level_size(width, level)
        if h % 2 or w % 2:
            raise ValueError(
                f'network input size {height}x{width} is not supported by {name} decoding down to level '
                f'{end_level}: level {level} would be {h}x{w}, but every decoded level below 6 must have an '
                f'even size so the x2 upsampled coarser flow fits (use a multiple of {_SIZE_HINT}, e.g. '
                f'{-(-height // _SIZE_HINT) * _SIZE_HINT}x{-(-width // _SIZE_HINT) * _SIZE_HINT})')


def resize_to_network(image: np.ndarray, net_hw: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 image to the network input size, as mmcv's ``imresize`` (cv2 bilinear on uint8).

    Args:
        image: (H, W, C) uint8 image.
        net_hw: network input ``(H', W')`` px.

    Returns:
        (H', W', C) uint8; ``image`` itself when it already has that size.

    """
    if image.shape[:2] == tuple(net_hw):
        return image
    return cv2.resize(image, (net_hw[1], net_hw[0]), interpolation=cv2.INTER_LINEAR)


def normalise(image: np.ndarray) -> np.ndarray:
    """uint8 values to float32 in [0, 1]: float32 division by 255, mmflow's ``Normalize(mean 0, std 255)``.

    mmcv computes it in float64 and rounds to float32, which equals float32 division for every uint8
    value. On a device, use :func:`normalisation_table` rather than dividing there: CUDA's
    ``tensor / scalar`` multiplies by the reciprocal and rounds some values differently.

    Args:
        image: uint8 array of any shape.

    Returns:
        float32 array of the same shape.

    """
    return image.astype(np.float32) / np.float32(255.0)


def normalisation_table() -> np.ndarray:
    """(256,) float32: :func:`normalise` of every uint8 value, for a lookup on the device."""
    return normalise(np.arange(256, dtype=np.uint8))


def end_level_flow_px(preds: Mapping[str, torch.Tensor], end_level: int, flow_div: float,
                      size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """The end level's normalised flow as flow in px at the network input size (docs/model.md#output).

    Args:
        preds: the model's output, ``'level{L}'`` -> (B, 2, H_L, W_L) normalised flow (px / flow_div).
        end_level: the variant's finest decoded level.
        flow_div: the variant's flow divisor (20).
        size: network input ``(H', W')`` px.

    Returns:
        (B, 2, H', W') float32 flow in px of the network input; channel 0 = u (+x right), 1 = v (+y down).

    Raises:
        RuntimeError: ``preds`` has no end level.

    """
    key = f'level{end_level}'
    if key not in preds:
        raise RuntimeError(f'model output has no {key!r} (keys: {sorted(preds)})')
    flow = F.interpolate(preds[key].float(), size=size, mode='bilinear', align_corners=False)
    return flow * flow_div


def flow_to_image_size(flow: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Flow at the network input size to flow at the image size, as mmflow's ``get_flow``.

    Args:
        flow: (H', W', 2) float32 flow in px of the network input.
        image_hw: image ``(H, W)`` px.

    Returns:
        (H, W, 2) float32 flow in px of the image (a contiguous copy when no resize is needed).

    """
    net_h, net_w = flow.shape[:2]
    height, width = image_hw
    if (net_h, net_w) == (height, width):
        return np.ascontiguousarray(flow, dtype=np.float32)
    flow = cv2.resize(np.ascontiguousarray(flow), (width, height), interpolation=cv2.INTER_LINEAR)
    # mmflow keeps the scale factors as float32 and divides by them: the same rounding here.
    scale = np.array([net_w / width, net_h / height], dtype=np.float32)
    flow[:, :, 0] = flow[:, :, 0] / scale[0]
    flow[:, :, 1] = flow[:, :, 1] / scale[1]
    return flow
