# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one ``main()`` body of the package's executables: init, build, spin, stop cleanly on a signal.

SIGINT and SIGTERM (Ctrl-C, ``kill``, launch's shutdown) set an event instead of rclpy's default
handler shutting the context down under running callbacks and worker threads (that gave
"publisher's context is invalid" errors, KeyboardInterrupt tracebacks and aborts). The executor
spins in a thread; the main thread waits for the signal, then stops the node's own threads
(``node.stop()`` when it has one), shuts the executor down, destroys the node and only then the
context. Exit code 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

__all__ = ['spin_node']


def spin_node(
    node_factory: Callable[[], Node],
    args: Sequence[str] | None = None,
    *,
    run: Callable[[Node], None] | None = None,
    start: Callable[[Node], None] | None = None,
    executor: Callable[[], Executor] = SingleThreadedExecutor,
    fatal: tuple[type[Exception], ...] = (),
    logger_name: str = 'main',
    interrupted_code: int = 0,
) -> int:
    """Initialise rclpy, build one node, run it until it returns or a signal comes, clean up.

    Args:
        node_factory: builds the node (after ``rclpy.init``).
        args: command-line arguments handed to ``rclpy.init`` (ROS arguments included); None =
            ``sys.argv``.
        run: a custom loop instead of spinning (it runs in the main thread and must return when
            ``rclpy.ok()`` turns false); None spins the node until a signal.
        start: called with the node once it spins (e.g. lifecycle autostart, so diagnostics and
            services run during a long model load); may raise ``fatal``.
        executor: builds the executor that spins the node (ignored with ``run``).
        fatal: exception types that mean "the user must fix the configuration": logged as fatal
            under ``logger_name`` and turned into exit code 1.
        logger_name: logger for ``fatal`` errors (the node may not exist yet).
        interrupted_code: exit code after a signal or an external shutdown.

    Returns:
        0 when ``run`` returned, ``interrupted_code`` after SIGINT/SIGTERM, 1 on a ``fatal`` error.

    """
    # A custom loop polls rclpy.ok(), so it keeps rclpy's handlers; spinning gets the clean stop.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.ALL if run else SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {} if run else {sig: signal.signal(sig, lambda *_: _on_signal(stop))
                               for sig in (signal.SIGINT, signal.SIGTERM)}
    node = spinner = thread = None
    code = 0
    try:
        node = node_factory()
        if run is not None:
            if start is not None:
                start(node)
            run(node)
        else:
            spinner = executor()
            spinner.add_node(node)
            thread = threading.Thread(target=_spin, args=(spinner, stop), name='executor', daemon=True)
            thread.start()
            if start is not None:  # while it runs (a model load) the node already answers and reports
                start(node)
            while not stop.wait(0.2) and thread.is_alive():
                pass
            code = interrupted_code
    except fatal as exc:
        get_logger(logger_name).fatal(str(exc))
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        code = interrupted_code
    finally:
        if node is not None and hasattr(node, 'stop'):
            node.stop()  # the node's worker threads end before anything they publish with goes
        if spinner is not None:
            spinner.shutdown(timeout_sec=5.0)
            thread.join(5.0)  # a thread left in rcl_wait while the process exits aborts it
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _on_signal(stop: threading.Event) -> None:
    if stop.is_set():  # a second Ctrl-C: the user insists
        raise KeyboardInterrupt
    stop.set()


def _spin(executor: Executor, stop: threading.Event) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass
    finally:
        stop.set()
