# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Python ``logging`` records of the library (``lfn2_ros.*``) go to the node's ROS logger.

The layers below the node log with the standard library (they import no ROS); without this, a warning
such as "compiling the correlation kernels" would reach stderr only through logging's last-resort handler,
outside /rosout and without the node's name.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ['forward_library_logs']


class _RosLogHandler(logging.Handler):
    def __init__(self, ros_logger: Any) -> None:
        super().__init__(level=logging.INFO)
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                self._ros_logger.error(message)
            elif record.levelno >= logging.WARNING:
                self._ros_logger.warning(message)
            else:
                self._ros_logger.info(message)
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)


def forward_library_logs(ros_logger: Any) -> logging.Handler:
    """Send INFO and above of the ``lfn2_ros`` Python loggers to ``ros_logger`` (once per ROS logger).

    Args:
        ros_logger: an rclpy logger (``node.get_logger()``).

    Returns:
        The installed handler (remove it from ``logging.getLogger('lfn2_ros')`` to stop forwarding).

    """
    library = logging.getLogger('lfn2_ros')
    for handler in library.handlers:
        if isinstance(handler, _RosLogHandler) and handler._ros_logger is ros_logger:
            return handler
    handler = _RosLogHandler(ros_logger)
    library.addHandler(handler)
    if library.level == logging.NOTSET or library.level > logging.INFO:
        library.setLevel(logging.INFO)
    return handler
