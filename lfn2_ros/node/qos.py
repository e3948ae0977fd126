# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""QoS profiles of lfn2_ros, with the one table that maps the ``input_qos`` parameter to a profile.

REP-2003: camera drivers publish reliable, consumers subscribe best effort ("sensor data"), which
matches both kinds of publisher. The input depth stays at 1 so a slow model processes the newest
frame instead of a queue (docs/node.md#qos).
"""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_system_default,
)

__all__ = ['DIAGNOSTICS_QOS', 'INPUT_QOS', 'PUBLISHER_QOS', 'input_qos', 'output_qos']

INPUT_DEPTH = 1
"""Keep-last depth of the image subscription (frames)."""

INPUT_QOS: dict[str, QoSProfile] = {
    'sensor_data': QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=INPUT_DEPTH,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    ),
    'reliable': QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=INPUT_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    ),
    'system_default': qos_profile_system_default,
}
"""``input_qos`` parameter value -> subscription profile for the image input."""

DIAGNOSTICS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""/diagnostics must be reliable: diagnostic_aggregator subscribes with the system defaults."""


PUBLISHER_QOS: dict[str, QoSProfile] = {
    name: QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=reliability,
                     durability=DurabilityPolicy.VOLATILE)
    for name, reliability in (('reliable', ReliabilityPolicy.RELIABLE),
                              ('best_effort', ReliabilityPolicy.BEST_EFFORT))
}
"""Image publishers of the tools (play_bag, synthetic_camera, demo): drivers publish reliable (REP-2003),
which best-effort subscribers such as flow_node also match; depth 10 absorbs a subscriber's short pauses."""


def input_qos(name: str) -> QoSProfile:
    """Subscription profile for an ``input_qos`` value.

    Args:
        name: one of the keys of :data:`INPUT_QOS` (``sensor_data``, ``reliable``, ``system_default``).

    Returns:
        The QoS profile.

    Raises:
        ValueError: ``name`` is not in the table; the message lists the accepted values.

    """
    try:
        return INPUT_QOS[name]
    except KeyError:
        raise ValueError(f'input_qos must be one of {sorted(INPUT_QOS)}, got {name!r}') from None


def output_qos(depth: int = 1) -> QoSProfile:
    """Reliable, volatile, keep-last profile for the node's outputs.

    Args:
        depth: keep-last depth in messages (>= 1).

    Returns:
        The QoS profile; publishers still accept ``qos_overrides.<topic>.publisher.*`` parameters.

    """
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )
