# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""LiteFlowNet2 (Hui et al., TPAMI 2020) as implemented by mmflow 0.5.2, in plain PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import nn

from lfn2_ros.model.decoder import FlowDecoder
from lfn2_ros.model.encoder import FeatureEncoder
from lfn2_ros.model.variants import Variant, get_variant
from lfn2_ros.ops import correlation
from lfn2_ros.ops.cost_volume import CostVolume

__all__ = ['IMAGE_MEAN_BGR', 'FlowFeatures', 'LiteFlowNet2', 'build_liteflownet2']

IMAGE_MEAN_BGR = (0.411618, 0.434631, 0.454253)
"""Per-channel constants subtracted from the [0, 1] BGR input (mmflow ``LiteFlowNet.extract_feat``)."""


@dataclass(frozen=True)
class FlowFeatures:
    """Per-image part of the network, reusable across pairs (streaming: each frame is encoded once).

    Attributes:
        image: (B, 3, H, W) mean-subtracted BGR image (input minus :data:`IMAGE_MEAN_BGR`);
            the regularisation units resample it to each level.
        pyramid: ``'level1'`` .. ``'level6'`` -> (B, C_L, ceil(H / 2^(L-1)), ceil(W / 2^(L-1)))
            encoder features, C = 32, 32, 64, 96, 128, 192.

    """

    image: torch.Tensor
    pyramid: dict[str, torch.Tensor]


class LiteFlowNet2(nn.Module):
    """LiteFlowNet2: NetC feature pyramid + NetE cascaded flow inference and regularisation.

    Submodule names equal mmflow's state_dict keys (``encoder.layers...``,
    ``decoder.decoders.level{L}.{rfeat_layer,NetM,NetS,NetR,upflow_layer}``), so mmflow
    checkpoints load with ``strict=True`` (see :mod:`lfn2_ros.model.checkpoint`).

    Contract: images are (B, 3, H, W) float BGR in [0, 1] (mmflow normalises uint8 by 255 with
    ``to_rgb=False``); the network does no resizing, so every decoded level below 6 must have an
    even size (32 | H, W always works; docs/model.md#input-size-rule), otherwise ValueError. Outputs are
    normalised flows (full-resolution px / ``variant.flow_div``), from image 1 to image 2,
    channel 0 = +x right, channel 1 = +y down.

    Args:
        variant: the :class:`Variant` (architecture stage, input rule, loss).
        cost_volume: the correlation every matching unit uses: :func:`lfn2_ros.ops.correlation`
            (default; compiled kernels with the reference as fallback),
            :func:`lfn2_ros.ops.reference.correlation_reference`, or any
            :class:`~lfn2_ros.ops.cost_volume.CostVolume`. It has no parameters: checkpoints load the
            same whatever it is.

    """

    def __init__(self, variant: Variant, *, cost_volume: CostVolume = correlation) -> None:
        super().__init__()
        self.variant = variant
        self.encoder = FeatureEncoder()
        self.decoder = FlowDecoder(end_level=variant.end_level, regularized_end=variant.regularized_end,
                                   flow_div=variant.flow_div, cost_volume=cost_volume)

    def extract_features(self, img: torch.Tensor) -> FlowFeatures:
        """Subtract the mean (never in place) and compute the feature pyramid of one image.

        Args:
            img: (B, 3, H, W) float BGR in [0, 1].

        Returns:
            :class:`FlowFeatures` of ``img``.

        Raises:
            ValueError: if ``img`` is not (B, 3, H, W) floating point.

        """
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(f'expected an image batch (B, 3, H, W), got shape {tuple(img.shape)}')
        if not img.is_floating_point():
            raise ValueError(f'expected a floating-point image in [0, 1], got dtype {img.dtype}')
        mean = torch.tensor(IMAGE_MEAN_BGR, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
        image = img - mean
        return FlowFeatures(image=image, pyramid=self.encoder(image))

    def decode(self, feat1: FlowFeatures, feat2: FlowFeatures) -> dict[str, torch.Tensor]:
        """Estimate flow from image 1 to image 2 given both images' features.

        Args:
            feat1: features of image 1.
            feat2: features of image 2 (same shape).

        Returns:
            ``{'level6': ..., ..., f'level{end}': ...}``: (B, 2, H_L, W_L) normalised flow at each
            decoded level L, H_L = ceil(H / 2^(L-1)).

        Raises:
            ValueError: if the two images differ in shape, or a decoded level would have odd size.

        """
        if feat1.image.shape != feat2.image.shape:
            raise ValueError(f'both images must have the same shape, got {tuple(feat1.image.shape)} and '
                             f'{tuple(feat2.image.shape)}')
        return self.decoder(feat1.image, feat2.image, feat1.pyramid, feat2.pyramid)

    def forward(self, img1: torch.Tensor, img2: torch.Tensor) -> dict[str, torch.Tensor]:
        """``decode(extract_features(img1), extract_features(img2))``; images (B, 3, H, W) BGR in [0, 1]."""
        if img1.shape != img2.shape:
            raise ValueError(f'both images must have the same shape, got {tuple(img1.shape)} and '
                             f'{tuple(img2.shape)}')
        self.decoder.check_sizes(img1.shape[-2], img1.shape[-1])
        return self.decode(self.extract_features(img1), self.extract_features(img2))

    def extra_repr(self) -> str:
        """Variant name, for ``print(model)``."""
        return f'variant={self.variant.name!r}'


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal init (fan_in, leaky_relu gain with a = 0) and zero biases, as mmflow's init_cfg."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight, a=0, mode='fan_in', nonlinearity='leaky_relu')
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def build_liteflownet2(variant: Union[str, Variant] = 'pre_M3S3R3', *,
                       cost_volume: CostVolume = correlation) -> LiteFlowNet2:
    """Build an untrained (Kaiming-initialised) LiteFlowNet2.

    Args:
        variant: mmflow config name, alias or :class:`Variant`; default the full model.
        cost_volume: the correlation of the matching units (see :class:`LiteFlowNet2`).

    Returns:
        The model in training mode on the CPU, float32.

    """
    model = LiteFlowNet2(get_variant(variant), cost_volume=cost_volume)
    init_weights(model)
    return model
