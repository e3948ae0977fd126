# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one ``main()`` body of the package's executables, after the jazzy demos (ros2/demos talker.py).

init, build the node, spin (or run a custom loop), stop quietly on Ctrl-C and on an external
shutdown, then destroy the node and ``try_shutdown``. The ``with rclpy.init()`` form exists only
from Kilted on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger
from rclpy.node import Node

__all__ = ['spin_node']


def spin_node(
    node_factory: Callable[[], Node],
    args: Sequence[str] | None = None,
    *,
    run: Callable[[Node], None] = rclpy.spin,
    fatal: tuple[type[Exception], ...] = (),
    logger_name: str = 'main',
    interrupted_code: int = 0,
) -> int:
    """Initialise rclpy, build one node, run it until it returns or is interrupted, clean up.

    Args:
        node_factory: builds the node (after ``rclpy.init``).
        args: command-line arguments handed to ``rclpy.init`` (ROS arguments included); None =
            ``sys.argv``.
        run: what to do with the node; the default spins it until shutdown.
        fatal: exception types that mean "the user must fix the configuration" (e.g. the flow node's
            StartupError): logged as fatal under ``logger_name`` and turned into exit code 1.
        logger_name: logger for ``fatal`` errors (the node may not exist yet).
        interrupted_code: exit code after Ctrl-C or an external shutdown.

    Returns:
        0 when ``run`` returned, ``interrupted_code`` on KeyboardInterrupt or
        ExternalShutdownException, 1 on a ``fatal`` error.

    """
    rclpy.init(args=args)
    node = None
    try:
        node = node_factory()
        run(node)
    except fatal as exc:
        get_logger(logger_name).fatal(str(exc))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return interrupted_code
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
