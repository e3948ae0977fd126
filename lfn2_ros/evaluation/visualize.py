# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Flow visualisation: the Middlebury colour wheel.

The colour coding follows Baker et al., "A Database and Evaluation Methodology for Optical Flow"
(IJCV 2011) and its flow-code tools: a 55-colour wheel built from six hue ramps (red-yellow 15,
yellow-green 6, green-cyan 4, cyan-blue 11, blue-magenta 13, magenta-red 6), hue from the flow
direction, saturation from the magnitude (white = no motion), colours dimmed to 75 % beyond the
normalising magnitude.
"""

from __future__ import annotations

import numpy as np

__all__ = ['make_color_wheel', 'flow_to_color']

# Ramp lengths of the wheel in order of increasing angle: red-yellow, yellow-green, green-cyan,
# cyan-blue, blue-magenta, magenta-red (Baker et al. 2011, flow-code colorcode.cpp).
_RAMP_LENGTHS = (15, 6, 4, 11, 13, 6)
_UNKNOWN_FLOW_THRESH = 1e9  # Middlebury: larger magnitudes mean "unknown"


def make_color_wheel() -> np.ndarray:
    """Build the Middlebury colour wheel.

    Returns:
        (55, 3) float64 RGB in [0, 255]; consecutive entries are consecutive hues, starting at red.

    """
    ry, yg, gc, cb, bm, mr = _RAMP_LENGTHS
    wheel = np.zeros((sum(_RAMP_LENGTHS), 3))
    k = 0
    # Each ramp holds one RGB channel at 255 and moves another one: rising ramps use floor(255*i/n),
    # falling ramps 255 - floor(255*i/n), exactly as the reference implementation.
    for n, fixed, moving, rising in (
        (ry, 0, 1, True),
        (yg, 1, 0, False),
        (gc, 1, 2, True),
        (cb, 2, 1, False),
        (bm, 2, 0, True),
        (mr, 0, 2, False),
    ):
        ramp = np.floor(255.0 * np.arange(n) / n)
        wheel[k:k + n, fixed] = 255.0
        wheel[k:k + n, moving] = ramp if rising else 255.0 - ramp
        k += n
    return wheel


_WHEEL = make_color_wheel()


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field with the Middlebury wheel.

    Args:
        flow: (H, W, 2) float flow in px, channel 0 = u (+x right), 1 = v (+y down).
        max_magnitude: magnitude (px) mapped to full saturation. Default None: the largest finite
            magnitude in ``flow`` (a field of zeros stays white). Pixels beyond it are dimmed to 75 %.

    Returns:
        (H, W, 3) uint8 BGR image (for cv2.imwrite). Zero flow is white; NaN, infinite and
        Middlebury-unknown (> 1e9) pixels are black.

    Raises:
        ValueError: ``flow`` is not (H, W, 2) or ``max_magnitude`` is not positive.

    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f'flow must have shape (H, W, 2), got {flow.shape}')
    if max_magnitude is not None and not max_magnitude > 0:
        raise ValueError(f'max_magnitude must be positive, got {max_magnitude}')
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    known = np.isfinite(u) & np.isfinite(v) & (np.abs(u) <= _UNKNOWN_FLOW_THRESH)
    known &= np.abs(v) <= _UNKNOWN_FLOW_THRESH
    u = np.where(known, u, 0.0)
    v = np.where(known, v, 0.0)
    rad = np.sqrt(u * u + v * v)
    if max_magnitude is None:
        max_magnitude = float(rad.max()) if rad.size else 0.0
    scale = 1.0 / max(max_magnitude, np.finfo(np.float64).eps)
    u, v, rad = u * scale, v * scale, rad * scale

    ncols = _WHEEL.shape[0]
    # Hue from the direction as in flow-code: +x (right) red, +y (down) orange-yellow,
    # -x (left) cyan, -y (up) blue-violet.
    a = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    fk = (a + 1.0) / 2.0 * (ncols - 1)
    k0 = np.floor(fk).astype(np.int64)
    k1 = (k0 + 1) % ncols
    f = (fk - k0)[..., None]
    col = ((1.0 - f) * _WHEEL[k0] + f * _WHEEL[k1]) / 255.0
    inside = (rad <= 1.0)[..., None]
    col = np.where(inside, 1.0 - rad[..., None] * (1.0 - col), col * 0.75)
    rgb = np.floor(255.0 * col).astype(np.uint8)
    rgb[~known] = 0
    return np.ascontiguousarray(rgb[..., ::-1])
