# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A small rosbag2 player built on ``rosbags``: publishes a bag's topics with their recorded timing.

For machines without rosbag2 and for the node's tests; on a full ROS install ``ros2 bag play``
does more. Messages are published as the recorded CDR bytes (no re-serialization), at
``(bag_time - first_bag_time) / rate`` after the start, and with ``--clock`` a
``rosgraph_msgs/Clock`` carrying the message's bag time is published on ``/clock`` just before
each message, so nodes with ``use_sim_time:=true`` follow the bag. With ``--loop`` the bag
restarts after one mean message period; stamps then jump back, which the flow node treats as a
new stream.

Example::

    ros2 run lfn2_ros play_bag run1/ --topic /camera/image_raw --rate 0.5 --clock
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Iterator, Sequence

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosbags.rosbag2 import Reader, ReaderError
from rosgraph_msgs.msg import Clock

from lfn2_ros.io.bag_records import IMAGE_TYPES
from lfn2_ros.node.qos import PUBLISHER_QOS
from lfn2_ros.node.runner import spin_node

__all__ = ['loop_period_ns', 'main', 'playback_schedule', 'wall_offset_s']



def wall_offset_s(bag_time_ns: int, first_bag_time_ns: int, rate: float = 1.0) -> float:
    """Seconds after the playback start at which a message is published.

    Args:
        bag_time_ns: the message's bag time, ns.
        first_bag_time_ns: bag time of the first played message, ns.
        rate: playback rate (2.0 = twice as fast).

    Returns:
        ``(bag_time_ns - first_bag_time_ns) / rate`` in seconds.

    Raises:
        ValueError: ``rate`` is not positive.

    """
    if not rate > 0:
        raise ValueError(f'rate must be > 0, got {rate}')
    return (bag_time_ns - first_bag_time_ns) / 1e9 / rate


def loop_period_ns(bag_times_ns: Sequence[int]) -> int:
    """Bag-time length of one loop: first to last message plus one mean message period.

    Args:
        bag_times_ns: bag times of one pass, sorted, ns.

    Returns:
        The period, ns (1 ns minimum, so loops never overlap).

    """
    if len(bag_times_ns) < 2:
        return 1
    span = bag_times_ns[-1] - bag_times_ns[0]
    return max(1, span + round(span / (len(bag_times_ns) - 1)))


def playback_schedule(bag_times_ns: Sequence[int], rate: float = 1.0, loops: int = 1) -> list[float]:
    """Wall-clock offsets of every publication, for ``loops`` passes over the bag.

    Args:
        bag_times_ns: sorted bag times of one pass, ns.
        rate: playback rate.
        loops: number of passes.

    Returns:
        Offsets in seconds from the playback start, one per message and pass, non-decreasing.

    """
    if not bag_times_ns:
        return []
    first = bag_times_ns[0]
    period = loop_period_ns(bag_times_ns)
    return [wall_offset_s(t + k * period, first, rate) for k in range(loops) for t in bag_times_ns]


def _message_class(msgtype: str) -> type:
    """``'sensor_msgs/msg/Image'`` -> the rclpy message class."""
    package, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``play_bag``.

    Returns:
        The parser.

    """
    p = argparse.ArgumentParser(
        prog='play_bag', description='Publish topics of a rosbag2 bag with their recorded timing.'
    )
    p.add_argument('bag', help='rosbag2 directory (sqlite3 or mcap)')
    p.add_argument('--topic', action='append', required=True, help='topic to publish (repeatable)')
    p.add_argument('--rate', type=float, default=1.0, help='playback rate (default 1.0)')
    p.add_argument(
        '--clock', action='store_true', help='publish /clock (rosgraph_msgs/Clock) with the bag time'
    )
    p.add_argument('--loop', action='store_true', help='play the bag again and again until interrupted')
    p.add_argument(
        '--qos', choices=tuple(PUBLISHER_QOS), default='reliable',
        help='publisher reliability (default reliable)'
    )
    p.add_argument(
        '--wait-for-subscribers', type=float, default=0.0, metavar='S',
        help='wait up to S seconds for a subscriber on every topic (and /clock) before starting (default 0)',
    )
    return p


class _Player(Node):
    def __init__(self, connections: list, qos: QoSProfile, clock: bool) -> None:
        super().__init__('play_bag')
        self.pubs = {
            c.id: self.create_publisher(_message_class(c.msgtype), c.topic, qos) for c in connections
        }
        self.clock_pub = self.create_publisher(Clock, '/clock', 10) if clock else None

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pubs = [*self.pubs.values(), *([self.clock_pub] if self.clock_pub is not None else [])]
            if all(p.get_subscription_count() > 0 for p in pubs):
                return True
            time.sleep(0.05)
        return False

    def publish_clock(self, bag_time_ns: int) -> None:
        if self.clock_pub is not None:
            msg = Clock()
            msg.clock.sec = int(bag_time_ns // 1_000_000_000)
            msg.clock.nanosec = int(bag_time_ns % 1_000_000_000)
            self.clock_pub.publish(msg)


def _open(path: str, topics: Sequence[str]) -> tuple[Reader, list]:
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, FileNotFoundError, OSError, KeyError) as exc:
        raise ValueError(f'cannot open bag {path}: {exc}') from exc
    conns = [c for c in reader.connections if c.topic in topics]
    missing = sorted(set(topics) - {c.topic for c in conns})
    if missing:
        images = sorted({c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES})
        reader.close()
        raise ValueError(f'topic(s) {missing} not in {path}; image topics in the bag: {images or "none"}')
    if sum(c.msgcount for c in conns) == 0:
        reader.close()
        raise ValueError(f'bag {path} has no messages on {list(topics)}')
    return reader, conns


def _play(node: _Player, reader: Reader, conns: list, rate: float, loop: bool) -> Iterator[int]:
    """Publish on schedule; yields the number of messages after each pass."""
    times = [t for _, t, _ in reader.messages(conns)]
    period = loop_period_ns(times)
    first = times[0]
    start = time.monotonic()
    count = 0
    k = 0
    while True:
        for conn, t, raw in reader.messages(conns):
            delay = start + wall_offset_s(t + k * period, first, rate) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            node.publish_clock(t)
            node.pubs[conn.id].publish(bytes(raw))
            count += 1
        yield count
        if not loop:
            return
        k += 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the player.

    Args:
        argv: arguments without the program name (ROS arguments after ``--ros-args`` allowed);
            default ``sys.argv[1:]``.

    Returns:
        0 when the bag was played, 1 on an error (message on stderr), 130 on Ctrl-C.

    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(rclpy.utilities.remove_ros_args(['play_bag', *argv])[1:])
    if not args.rate > 0:
        print(f'play_bag: error: --rate must be > 0, got {args.rate}', file=sys.stderr)
        return 1
    try:
        reader, conns = _open(args.bag, args.topic)
    except ValueError as exc:
        print(f'play_bag: error: {exc}', file=sys.stderr)
        return 1

    def run(node: _Player) -> None:
        if args.wait_for_subscribers > 0 and not node.wait_for_subscribers(args.wait_for_subscribers):
            node.get_logger().warning(f'no subscriber after {args.wait_for_subscribers} s; playing anyway')
        for count in _play(node, reader, conns, args.rate, args.loop):
            node.get_logger().info(f'published {count} messages')
        # Give reliable transports a moment to deliver the last messages before the process exits.
        time.sleep(0.2)

    try:
        qos = PUBLISHER_QOS[args.qos]
        return spin_node(lambda: _Player(conns, qos, args.clock), ['play_bag', *argv], run=run,
                         interrupted_code=130)
    finally:
        reader.close()


if __name__ == '__main__':
    sys.exit(main())
