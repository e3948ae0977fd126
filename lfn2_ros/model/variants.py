# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The eight mmflow LiteFlowNet2 model-zoo variants, declared as data (docs/model.md#variants)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Union

__all__ = ['VARIANTS', 'Variant', 'get_variant']

_EPE_WEIGHTS = {'level6': 0.32, 'level5': 0.08, 'level4': 0.02, 'level3': 0.01}
_LEVEL0_WEIGHT = 6.25e-4  # end-level flow upsampled to full size (mmflow ``extra_training_loss``)


def _weights(end_level: int, level0: bool) -> Mapping[str, float]:
    weights = {key: value for key, value in _EPE_WEIGHTS.items() if int(key[-1]) >= end_level}
    if level0:
        weights['level0'] = _LEVEL0_WEIGHT
    return MappingProxyType(weights)


@dataclass(frozen=True)
class Variant:
    """One mmflow LiteFlowNet2 config: architecture stage, inference input rule and training loss.

    Attributes:
        name: mmflow config name, e.g. ``liteflownet2_pre_M3S3R3_8x1_flyingchairs_320x448``.
        alias: short name, e.g. ``pre_M3S3R3``, ``things``, ``sintel_kitti``, ``kitti``.
        end_level: finest decoded pyramid level (6..3); its output has 1/2^(end_level-1) of the
            input resolution.
        regularized_end: whether the end level has a regularisation unit NetR (False only for
            ``pre_M6S6``; mmflow ``regularized_flow``).
        input_exponent: mmflow ``InputResize`` exponent e of the test pipeline: the network input
            is each side rounded up to a multiple of 2^e (4 for sintel_kitti, else 6).
        loss: ``'epe'`` (MultiLevelEPE, Chairs/Things stages) or ``'charbonnier'``
            (MultiLevelCharbonnierLoss q=0.2 eps=0.01, the two fine-tunes).
        level_weights: loss weight per output key, ``'level6'``.. and ``'level0'`` (the end-level
            flow upsampled to full size) where mmflow sets ``extra_training_loss``.
        flow_div: normalisation of flows: network outputs are full-resolution px / ``flow_div``.
        trained_on: training data and crop of this stage (docs/model.md#training).
        init_from: alias of the variant this stage was initialised from, '' for scratch.

    """

    name: str
    alias: str
    end_level: int
    regularized_end: bool
    input_exponent: int
    loss: str
    level_weights: Mapping[str, float] = field(compare=False)
    flow_div: float = 20.0
    trained_on: str = ''
    init_from: str = ''

    @property
    def levels(self) -> tuple[int, ...]:
        """Decoded levels, coarse to fine, e.g. (6, 5, 4, 3)."""
        return tuple(range(6, self.end_level - 1, -1))

    @property
    def extra_training_loss(self) -> bool:
        """Whether the loss includes the full-size ``level0`` term."""
        return 'level0' in self.level_weights


_CHAIRS = 'FlyingChairs, 320x448 crops'

VARIANTS: Mapping[str, Variant] = MappingProxyType({v.name: v for v in (
    Variant('liteflownet2_pre_M6S6_8x1_flyingchairs_320x448', 'pre_M6S6', 6, False, 6, 'epe',
            _weights(6, False), trained_on=_CHAIRS),
    Variant('liteflownet2_pre_M6S6R6_8x1_flyingchairs_320x448', 'pre_M6S6R6', 6, True, 6, 'epe',
            _weights(6, False), trained_on=_CHAIRS, init_from='pre_M6S6'),
    Variant('liteflownet2_pre_M5S5R5_8x1_flyingchairs_320x448', 'pre_M5S5R5', 5, True, 6, 'epe',
            _weights(5, False), trained_on=_CHAIRS, init_from='pre_M6S6R6'),
    Variant('liteflownet2_pre_M4S4R4_8x1_flyingchairs_320x448', 'pre_M4S4R4', 4, True, 6, 'epe',
            _weights(4, False), trained_on=_CHAIRS, init_from='pre_M5S5R5'),
    Variant('liteflownet2_pre_M3S3R3_8x1_flyingchairs_320x448', 'pre_M3S3R3', 3, True, 6, 'epe',
            _weights(3, True), trained_on=_CHAIRS, init_from='pre_M4S4R4'),
    Variant('liteflownet2_8x1_500k_flyingthing3d_subset_384x768', 'things', 3, True, 6, 'epe',
            _weights(3, True), trained_on='FlyingThings3D subset, 384x768 crops', init_from='pre_M3S3R3'),
    Variant('liteflownet2_ft_4x1_600k_sintel_kitti_320x768', 'sintel_kitti', 3, True, 4, 'charbonnier',
            _weights(3, True), trained_on='Sintel + KITTI 2012/2015, 320x768 crops', init_from='things'),
    Variant('liteflownet2_ft_4x1_500k_kitti_320x896', 'kitti', 3, True, 6, 'charbonnier',
            _weights(3, True), trained_on='KITTI 2012 + 2015, 320x896 crops', init_from='sintel_kitti'),
)})
"""All variants by mmflow config name, in training order."""

_BY_ALIAS = {v.alias.lower(): v for v in VARIANTS.values()}
_BY_NAME = {name.lower(): v for name, v in VARIANTS.items()}


def get_variant(name_or_alias: Union[str, Variant]) -> Variant:
    """Look a variant up by mmflow config name or alias (case-insensitive).

    Args:
        name_or_alias: e.g. ``'liteflownet2_ft_4x1_500k_kitti_320x896'``, ``'kitti'``,
            ``'pre_M3S3R3'``, or a :class:`Variant` (returned as is). A trailing ``.py`` or
            ``.pth`` is ignored.

    Returns:
        The :class:`Variant`.

    Raises:
        ValueError: unknown name, listing the valid aliases.

    """
    if isinstance(name_or_alias, Variant):
        return name_or_alias
    if not isinstance(name_or_alias, str):
        raise TypeError(f'variant must be a str or Variant, got {type(name_or_alias).__name__}')
    key = name_or_alias.strip().lower()
    for suffix in ('.py', '.pth'):
        key = key.removesuffix(suffix)
    found = _BY_ALIAS.get(key) or _BY_NAME.get(key)
    if found is None:
        aliases = ', '.join(v.alias for v in VARIANTS.values())
        raise ValueError(f'unknown LiteFlowNet2 variant {name_or_alias!r}; use one of: {aliases} '
                         '(or the full mmflow config name)')
    return found
