# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Load and save LiteFlowNet2 checkpoints in mmflow's format, strictly and safely (weights_only).

An mmflow (mmcv) checkpoint is ``{'state_dict': {key: tensor}, 'meta': {...}, ...}``; a bare state
dict is accepted too. Keys equal our module names (docs/model.md#checkpoints), so no translation
table is needed; a ``module.`` prefix (DataParallel) is stripped. The fixed upsampling kernels
(``*.upflow_layer.weight``, ``*.NetM.corr_up.weight``) are buffers that a checkpoint may lack; they
are regenerated (docs/model.md#regenerated-buffers).
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

import torch

from lfn2_ros.model.liteflownet2 import LiteFlowNet2
from lfn2_ros.model.variants import VARIANTS, Variant, get_variant
from lfn2_ros.ops.cost_volume import CostVolume

__all__ = ['CheckpointError', 'detect_variant', 'load_checkpoint', 'read_checkpoint', 'save_checkpoint',
           'write_checkpoint']

_PREFIX = 'module.'
_BUFFER_SUFFIXES = ('upflow_layer.weight', 'corr_up.weight')
_MAX_LISTED = 5


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message says why and what to do."""


def _is_buffer_key(key: str) -> bool:
    return key.endswith(_BUFFER_SUFFIXES)


def _listed(keys: list[str]) -> str:
    shown = ', '.join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f' (and {more} more)' if more > 0 else '')


def _architecture_alias(keys: set[str]) -> str:
    """Alias of the earliest variant whose architecture these keys describe (pre_M3S3R3 for the full one)."""
    for level, alias in ((3, 'pre_M3S3R3'), (4, 'pre_M4S4R4'), (5, 'pre_M5S5R5')):
        if any(k.startswith(f'decoder.decoders.level{level}.') for k in keys):
            return alias
    if any(k.startswith('decoder.decoders.level6.NetR.') for k in keys):
        return 'pre_M6S6R6'
    return 'pre_M6S6'


def _same_architecture(a: Variant, b: Variant) -> bool:
    return (a.end_level, a.regularized_end) == (b.end_level, b.regularized_end)


def detect_variant(state_dict: Mapping[str, Any]) -> Variant:
    """Infer the variant architecture from a LiteFlowNet2 state dict's keys.

    The four full-architecture variants (pre_M3S3R3, things, sintel_kitti, kitti) share their keys;
    for them this returns ``pre_M3S3R3`` (``load_checkpoint`` refines it from the checkpoint's meta
    or file name).

    Args:
        state_dict: key -> tensor, with or without a ``module.`` prefix.

    Returns:
        The :class:`Variant` whose architecture the keys describe.

    Raises:
        CheckpointError: the keys are not those of a LiteFlowNet2 model.

    """
    keys = {k.removeprefix(_PREFIX) for k in state_dict}
    if not any(k.startswith('encoder.layers.') for k in keys) or not any(
            k.startswith('decoder.decoders.level6.') for k in keys):
        sample = _listed(sorted(keys))
        raise CheckpointError(
            'the state dict does not look like an mmflow LiteFlowNet2 model: expected keys '
            f"'encoder.layers.*' and 'decoder.decoders.level6.*', found {sample or 'no keys'}")
    if any(k.startswith('decoder.decoders.level2.') for k in keys):
        raise CheckpointError(
            "the state dict has 'decoder.decoders.level2.*' keys: this looks like a LiteFlowNet (v1) "
            'checkpoint, which lfn2_ros does not support; use a liteflownet2_*.pth model-zoo file')
    return get_variant(_architecture_alias(keys))


def _variant_from_text(text: str) -> Optional[Variant]:
    """The variant whose config name or alias a file name / exp_name mentions, if exactly one does."""
    text = os.path.basename(str(text)).lower()
    for variant in VARIANTS.values():
        if text.startswith(variant.name.lower()):
            return variant
    return None


def _refine_variant(arch: Variant, meta: Mapping[str, Any], path: Path) -> Variant:
    """Pick the exact variant among those sharing ``arch``'s keys, from meta or the file name."""
    candidates = [meta.get('variant'), meta.get('exp_name'), path.name]
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        try:
            variant = get_variant(candidate)
        except ValueError:
            variant = _variant_from_text(candidate)
        if variant is not None and _same_architecture(variant, arch):
            return variant
    siblings = [v.alias for v in VARIANTS.values() if v is not arch and _same_architecture(v, arch)]
    if siblings:
        # The full-model checkpoints share every key; their test-time resize differs (the
        # sintel_kitti config resizes to a multiple of 16, the others 64), so guessing matters.
        warnings.warn(
            f'{path.name}: the keys fit {arch.alias} and also {", ".join(siblings)}, and neither the '
            f'file name nor its meta says which; using {arch.alias}. Pass variant=... (e.g. '
            "'sintel_kitti') to get mmflow's pre-processing for the other configs", stacklevel=3)
    return arch


def _unpickling_cause(exc: BaseException) -> str:
    """The line of torch's weights_only refusal that names the cause (not its advice to disable the check)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith('WeightsUnpickler error:'):
            return line.removeprefix('WeightsUnpickler error:').strip()
    advice = ('weights_only', 'Weights only load failed', 'In PyTorch', '(1)', '(2)',
              'Check the documentation')
    causes = [line for line in lines if not line.startswith(advice)]
    return (causes or lines or [type(exc).__name__])[-1]


def _read_file(path: Path, map_location: Union[str, torch.device]) -> Any:
    if not path.exists():
        raise CheckpointError(f'checkpoint file not found: {path}')
    if path.is_dir():
        raise CheckpointError(f'checkpoint path is a directory, not a file: {path}')
    if not path.is_file():
        raise CheckpointError(f'checkpoint path is not a regular file: {path}')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        cause = _unpickling_cause(exc)
        if 'GLOBAL' in cause or 'global' in cause:
            raise CheckpointError(
                f'refusing to load {path}: it pickles code or objects other than tensors ({cause}). '
                'torch.load(weights_only=True) refuses them because unpickling them could run arbitrary '
                'code; if the file comes from a trusted source, re-save just its state_dict there '
                '(torch.save({"state_dict": model.state_dict()}, path))') from None
        raise CheckpointError(f'{path} is not a PyTorch checkpoint ({cause})') from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/... for corrupt or foreign files
        raise CheckpointError(
            f'{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {_unpickling_cause(exc)}); '
            'expected an mmflow liteflownet2_*.pth file or one written by save_checkpoint') from None


def _extract_state_dict(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    meta: dict[str, Any] = {}
    if isinstance(obj, Mapping) and 'state_dict' in obj:
        if isinstance(obj.get('meta'), Mapping):
            meta = dict(obj['meta'])
        obj = obj['state_dict']
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(
            f'{path} holds a {type(obj).__name__}, not a checkpoint: expected a dict with a '
            "'state_dict' entry (mmflow format) or a state dict of tensors")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f'{path} is not a state dict: {len(bad)} entries are not name -> tensor pairs (e.g. '
            f'{_listed(bad)}); expected an mmflow liteflownet2_*.pth file or one written by save_checkpoint')
    state = {k.removeprefix(_PREFIX): v for k, v in obj.items()}
    return state, meta


def _check_keys(model: LiteFlowNet2, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not _is_buffer_key(k)]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing keys: {_listed(missing)}')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected keys: {_listed(unexpected)}')
        raise CheckpointError(
            f'{path} does not match LiteFlowNet2 variant {model.variant.alias} ({model.variant.name}): '
            + '; '.join(parts) + '. The file may be truncated, from another model, or edited')
    for key, value in state.items():
        want = tuple(expected[key].shape)
        if tuple(value.shape) != want:
            raise CheckpointError(
                f'{path}: shape mismatch for {key}: expected {want}, got {tuple(value.shape)} '
                f'(variant {model.variant.alias}); the checkpoint is from a different architecture')
        if not value.is_floating_point():
            raise CheckpointError(f'{path}: {key} has dtype {value.dtype}, expected a floating-point tensor')
        finite = torch.isfinite(value)
        if not bool(finite.all()):
            raise CheckpointError(
                f'{path}: {key} has {int((~finite).sum())} non-finite values (NaN or inf) of '
                f'{value.numel()}; the file is corrupt or comes from a training run that diverged')


def load_checkpoint(path: Union[str, os.PathLike], variant: Union[str, Variant] = 'auto',
                    map_location: Union[str, torch.device] = 'cpu', *,
                    cost_volume: Optional[CostVolume] = None) -> LiteFlowNet2:
    """Build the matching LiteFlowNet2 and load a checkpoint into it strictly.

    Args:
        path: mmflow ``.pth`` (``{'state_dict', 'meta'}``) or a bare state dict saved with torch.save.
        variant: ``'auto'`` (from the keys, refined by ``meta['variant']``, ``meta['exp_name']`` or
            the file name for the four full-architecture variants), or a name/alias/:class:`Variant`
            that must have the checkpoint's architecture.
        map_location: passed to ``torch.load``.
        cost_volume: the model's correlation (see :class:`LiteFlowNet2`); None = the default.

    Returns:
        The model (float32 parameters, CPU, eval mode) with the checkpoint's weights.

    Raises:
        CheckpointError: (a ValueError) missing file, not a checkpoint, wrong variant, missing or
            unexpected keys, or shape mismatch; the message names the problem and a remedy.

    """
    path = Path(path)
    state, meta = _extract_state_dict(_read_file(path, map_location), path)
    arch = detect_variant(state)
    if isinstance(variant, str) and variant == 'auto':
        chosen = _refine_variant(arch, meta, path)
    else:
        try:
            chosen = get_variant(variant)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(str(exc)) from None
        if not _same_architecture(chosen, arch):
            raise CheckpointError(
                f'{path} looks like a {arch.alias} checkpoint (decodes down to level {arch.end_level}'
                f'{", regularised" if arch.regularized_end else ", no NetR at the end level"}), '
                f'not {chosen.alias}; pass variant={arch.alias!r} (or variant="auto")')
    model = LiteFlowNet2(chosen) if cost_volume is None else LiteFlowNet2(chosen, cost_volume=cost_volume)
    _check_keys(model, state, path)
    full = OrderedDict()
    for key, default in model.state_dict().items():
        full[key] = state.get(key, default)  # absent fixed kernels: docs/model.md#regenerated-buffers
    model.load_state_dict(full, strict=True)
    return model.eval()


def read_checkpoint(path: Union[str, os.PathLike], map_location: Union[str, torch.device] = 'cpu',
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read a checkpoint's parts without building a model (weights_only, ``module.`` prefix stripped).

    Args:
        path: mmflow ``.pth``, a bare state dict, or a file written by :func:`save_checkpoint`.
        map_location: passed to ``torch.load``.

    Returns:
        ``(state_dict, meta, extra)``: tensors by key, the meta dict ({} if none) and the ``extra``
        entry written by :func:`save_checkpoint` (training state; {} if none).

    Raises:
        CheckpointError: missing or unreadable file, or not a state dict.

    """
    path = Path(path)
    obj = _read_file(path, map_location)
    extra = dict(obj.get('extra') or {}) if isinstance(obj, Mapping) else {}
    state, meta = _extract_state_dict(obj, path)
    return state, meta, extra


def save_checkpoint(model: LiteFlowNet2, path: Union[str, os.PathLike],
                    meta: Optional[Mapping[str, Any]] = None, *, extra: Optional[Mapping[str, Any]] = None,
                    dtype: Optional[torch.dtype] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': {...}}`` (mmflow format) loadable with weights_only.

    The file is written to a temporary name first and renamed, so an interrupted save never leaves a
    truncated checkpoint behind.

    Args:
        model: the model to save (tensors are copied to the CPU).
        path: destination file; parent directories are created.
        meta: extra plain-data entries (str, int, float, bool, lists/dicts of them) merged into the
            meta dict, which always holds ``variant`` (config name), ``alias`` and ``lfn2_ros_version``.
        extra: optional training state (tensors and plain containers, e.g. optimizer state and RNG
            states) stored under ``'extra'``; :func:`load_checkpoint` ignores it.
        dtype: cast the floating-point parameters to this dtype (e.g. float16 for a small export);
            buffers stay float32. Default: as they are.

    """
    from lfn2_ros import __version__

    if not isinstance(model, LiteFlowNet2):
        raise TypeError(f'save_checkpoint expects a LiteFlowNet2, got {type(model).__name__}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        'variant': model.variant.name,
        'alias': model.variant.alias,
        'lfn2_ros_version': __version__,
    }
    if meta:
        info.update(dict(meta))
    params = {name for name, _ in model.named_parameters()}
    state = OrderedDict()
    for key, value in model.state_dict().items():
        value = value.detach().cpu().clone()
        if dtype is not None and key in params and value.is_floating_point():
            value = value.to(dtype)
        state[key] = value
    write_checkpoint(path, state, info, extra)


def write_checkpoint(path: Union[str, os.PathLike], state: Mapping[str, torch.Tensor],
                     meta: Mapping[str, Any], extra: Optional[Mapping[str, Any]] = None) -> None:
    """Write checkpoint parts as :func:`save_checkpoint` does (atomically), without a model.

    Args:
        path: destination file; parent directories are created.
        state: key -> tensor (CPU).
        meta: plain-data meta dict.
        extra: optional training state (tensors and plain containers).

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj: dict[str, Any] = {'state_dict': dict(state), 'meta': dict(meta)}
    if extra:
        obj['extra'] = dict(extra)
    tmp = path.with_name(path.name + '.tmp')
    torch.save(obj, tmp)
    os.replace(tmp, path)

