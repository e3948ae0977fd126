# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frames an mcap bag records but silently does not return: no pair across the hole (io/bag_loss.py).

The corruption is real: the opcode of one Message record inside an mcap chunk is overwritten, and the
storage library skips the record as an unknown one (the MCAP spec tells readers to skip unknown opcodes),
returning one message fewer than the bag's metadata counts, with no error.
"""

import struct

import bag_fixtures
import pytest
from test_bag_skips import PERIOD_NS, T0, TOPIC, _cli, _evaluate, _frames, _one_error_line, _stamps
from test_evaluate import fake_inference  # noqa: F401  (a fixture)

from lfn2_ros.io.bag_loss import GAP_FACTOR, find_frame_loss
from lfn2_ros.io.bag_reader import BagSource
from lfn2_ros.io.bag_records import BagError

MCAP_MESSAGE_OPCODE = 0x05
N = 12


def _drop_message_record(bag, frame):
    """Overwrite the opcode of the Message record logged at frame ``frame``'s time in the bag's .mcap."""
    path = next(bag.glob('*.mcap'))
    data = bytearray(path.read_bytes())
    # Message record: opcode u8, length u64, channel_id u16, sequence u32, log_time u64, ...
    log_time = struct.pack('<Q', T0 + frame * PERIOD_NS)
    starts = [i - 15 for i in range(15, len(data) - 8)
              if data[i:i + 8] == log_time and data[i - 15] == MCAP_MESSAGE_OPCODE]
    assert len(starts) == 1, starts
    data[starts[0]] = 0x7F  # not an opcode the spec defines
    path.write_bytes(bytes(data))


def _bag_losing(tmp_path, frame):
    bag = tmp_path / 'in'
    bag_fixtures.write_image_bag(bag, _frames(N), _stamps(N), storage='mcap')
    _drop_message_record(bag, frame)
    return bag


def test_the_storage_really_returns_fewer_messages_without_an_error(tmp_path):
    bag = _bag_losing(tmp_path, 5)
    with BagSource(bag, TOPIC) as source:
        assert source.num_frames == N - 1
        assert source.frame_loss is not None and source.frame_loss.lost == 1
        assert source.connection.msgcount == N


def test_no_pair_across_the_hole(tmp_path):
    metrics, est = _evaluate(_bag_losing(tmp_path, 5), tmp_path / 'out')
    # 11 frames left: 10 pairs, of which (#4, #5) -- frames 4 and 6 of the recording -- spans the hole.
    assert metrics['pairs'] == N - 3 and est.calls == N - 3
    [skip] = metrics['input']['skipped']
    assert skip['pair'] == '000004'
    assert '1 of the 12 messages the bag records' in skip['reason']
    assert '0.100 s, 2.0 median frame periods' in skip['reason']
    assert metrics['input']['frames_lost'] == 1 and metrics['input']['warnings'] == []


def test_strict_stops_at_the_hole(tmp_path):
    with pytest.raises(BagError, match='could not be read'):
        _evaluate(_bag_losing(tmp_path, 5), tmp_path / 'out', strict=True)


def test_loss_at_the_end_is_a_warning(tmp_path, capsys, fake_inference):  # noqa: F811
    bag = _bag_losing(tmp_path, N - 1)
    metrics, _ = _evaluate(bag, tmp_path / 'out')
    assert metrics['pairs'] == N - 2 and metrics['input']['skipped'] == []
    [warning] = metrics['input']['warnings']
    assert '1 of the 12 messages' in warning and 'start or end' in warning
    assert 'Warning:' in (tmp_path / 'out' / 'report.html').read_text()
    code, cap = _cli(['--bag', str(bag), '--topic', TOPIC, '--out', str(tmp_path / 'o2')], capsys)
    assert code == 0 and 'warning: topic' in cap.out
    code, cap = _cli(['--bag', str(bag), '--topic', TOPIC, '--out', str(tmp_path / 'o3'), '--strict'], capsys)
    assert code == 1 and 'start or end' in _one_error_line(cap)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_gap_in_the_recording_is_not_a_loss(tmp_path, storage):
    """A frame that was never recorded (counts agree) is paired across, as the node pairs frames."""
    keep = [i for i in range(N) if i != 5]
    frames, stamps = _frames(N), _stamps(N)
    bag_fixtures.write_image_bag(tmp_path / 'in', [frames[i] for i in keep], [stamps[i] for i in keep],
                                 storage=storage)
    metrics, _ = _evaluate(tmp_path / 'in', tmp_path / 'out')
    assert metrics['pairs'] == N - 2 and metrics['input']['skipped'] == []
    assert metrics['input']['frames_lost'] == 0


def test_windowed_reads_are_not_compared_with_the_whole_bag_count(tmp_path):
    with BagSource(_bag_losing(tmp_path, 5), TOPIC, start_s=0.0) as source:
        assert source.frame_loss is None


def test_find_frame_loss_locates_holes_by_the_median_period():
    times = [0, 10, 20, 40, 50, 60, 90]
    loss = find_frame_loss(times, recorded=9)
    assert loss.lost == 2 and loss.median_period_ns == 10
    assert loss.gap_pairs == {2: 20, 5: 30}
    assert find_frame_loss(times, recorded=7) is None
    assert find_frame_loss(times, recorded=None) is None
    # an interval at exactly the factor is not a hole
    assert find_frame_loss([0, 10, 20, 20 + 10 * GAP_FACTOR], recorded=5).gap_pairs == {}
