"""The SQLite outbox on real files: lanes, claim/ack/release, sequence, recovery, dead letters."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from agent.errors import StorageError
from agent.events import Priority, to_envelope
from agent.store import outbox as outbox_module
from agent.store.outbox import Outbox
from tests.store.events_factory import (
    BY_LANE,
    IDENTITY,
    alarm,
    forced,
    hardware,
    periodic,
    vision,
)


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "outbox.sqlite3")


def test_claim_drains_lower_lanes_first_and_fifo_inside_a_lane(outbox: Outbox) -> None:
    # Interleave every lane, newest-lane-first, so insertion order alone would be wrong.
    appended: list[tuple[int, int]] = []  # (priority, seq) in append order
    for i in range(4):
        for lane in reversed(Priority):
            event = BY_LANE[lane](i * 10 + int(lane))
            appended.append((int(lane), outbox.append(event)))
    claimed = outbox.claim(100)
    got = [(e.priority, e.sequence_number) for e in claimed]
    assert got == sorted(appended)  # lane ascending, then append (= seq) order
    assert [p for p, _ in got[:4]] == [int(Priority.ALARM)] * 4
    assert [p for p, _ in got[-4:]] == [int(Priority.PERIODIC)] * 4


def test_claim_marks_rows_in_flight_so_the_next_claim_gets_the_rest(outbox: Outbox) -> None:
    outbox.append_many([periodic(i) for i in range(10)])
    first = outbox.claim(4)
    second = outbox.claim(100)
    assert len(first) == 4
    assert len(second) == 6
    assert not {e.row_id for e in first} & {e.row_id for e in second}
    assert outbox.claim(100) == []
    assert outbox.stats().in_flight == 10
    assert outbox.stats().pending == {}


def test_ack_deletes_and_release_hands_back_in_original_order(outbox: Outbox) -> None:
    seqs = outbox.append_many([periodic(i) for i in range(6)])
    claimed = outbox.claim(6)
    outbox.ack([e.row_id for e in claimed[:2]])
    outbox.release([e.row_id for e in claimed[2:]])
    outbox.append(periodic(99))  # newer: must come after the released ones
    again = outbox.claim(100)
    assert [e.sequence_number for e in again] == [*seqs[2:], seqs[-1] + 1]
    stats = outbox.stats()
    assert stats.in_flight == 5
    outbox.ack([e.row_id for e in again])
    outbox.ack([e.row_id for e in again])  # a repeated ack is harmless
    assert outbox.stats().pending == {}
    assert outbox.stats().in_flight == 0


def test_release_of_an_acked_row_does_not_resurrect_it(outbox: Outbox) -> None:
    outbox.append(alarm(1))
    (event,) = outbox.claim(1)
    outbox.ack([event.row_id])
    outbox.release([event.row_id])
    assert outbox.claim(10) == []


def test_envelope_is_the_compact_v3_json_with_the_assigned_sequence(outbox: Outbox) -> None:
    event = vision(7)
    seq = outbox.append(event)
    (stored,) = outbox.claim(1)
    assert stored.sequence_number == seq
    assert stored.ulid == event.ulid
    expected = to_envelope(event, IDENTITY, seq)
    assert json.loads(stored.envelope) == expected
    assert stored.envelope == json.dumps(expected, separators=(",", ":")).encode()


def test_sequence_numbers_are_consecutive_and_survive_reopen(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY) as box:
        first = box.append_many([periodic(i) for i in range(5)])
        box.append(alarm(5))
    with Outbox(data_dir, IDENTITY) as box:
        later = box.append_many([periodic(i) for i in range(6, 9)])
        assert box.stats().next_sequence == later[-1] + 1
    assert first == [1, 2, 3, 4, 5]
    assert later == [7, 8, 9]


def test_sequence_wraps_at_two_to_the_32(data_dir: Path) -> None:
    Outbox(data_dir, IDENTITY).close()
    with _db(data_dir) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (2**32 - 2,))
    with Outbox(data_dir, IDENTITY) as box:
        seqs = box.append_many([periodic(i) for i in range(3)])
        claimed = box.claim(3)
    assert seqs == [2**32 - 2, 2**32 - 1, 0]
    assert [json.loads(e.envelope)["sequenceNumber"] for e in claimed] == seqs


def test_rows_in_flight_when_the_agent_stopped_are_pending_again_at_open(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([periodic(i) for i in range(3)] + [alarm(3)])
        claimed = box.claim(3)  # alarm + 2 periodic, never acked
        assert box.stats().in_flight == 3
    with Outbox(data_dir, IDENTITY) as box:
        stats = box.stats()
        assert stats.recovered_in_flight == 3
        assert stats.in_flight == 0
        again = box.claim(10)
    assert [e.row_id for e in again[:3]] == [e.row_id for e in claimed]
    assert len(again) == 4


def test_a_second_agent_cannot_open_the_same_outbox(outbox: Outbox, data_dir: Path) -> None:
    with pytest.raises(StorageError, match="already in use"):
        Outbox(data_dir, IDENTITY)


def test_closed_outbox_refuses_calls(data_dir: Path) -> None:
    box = Outbox(data_dir, IDENTITY)
    box.close()
    box.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        box.append(alarm(1))


def test_dead_letter_keeps_event_and_error_out_of_the_queue(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([alarm(1), alarm(2)])
        bad, good = box.claim(2)
        box.dead_letter(bad.row_id, "latitude: out of range")
        box.release([good.row_id])
        assert [e.row_id for e in box.claim(10)] == [good.row_id]
    with Outbox(data_dir, IDENTITY) as box:  # persisted, and never re-queued on its own
        assert box.stats().dead_letters == 1
        (letter,) = box.dead_letters()
        assert (letter.row_id, letter.ulid, letter.error) == (
            bad.row_id, bad.ulid, "latitude: out of range")
        assert letter.sequence_number == bad.sequence_number
        assert [e.row_id for e in box.claim(10)] == [good.row_id]


def test_dead_letters_are_pruned_to_the_newest(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "DEAD_LETTER_KEEP", 3)
    outbox.append_many([alarm(i) for i in range(5)])
    for e in outbox.claim(5):
        outbox.dead_letter(e.row_id, f"bad {e.sequence_number}")
    letters = outbox.dead_letters()
    assert [d.error for d in letters] == ["bad 5", "bad 4", "bad 3"]
    assert outbox.stats().dead_letters == 3


def test_dead_letter_of_an_unknown_row_changes_nothing(outbox: Outbox) -> None:
    outbox.append(alarm(1))
    outbox.dead_letter(12345, "nope")
    assert outbox.stats().dead_letters == 0
    assert len(outbox.claim(5)) == 1


def test_database_and_directories_are_private(outbox: Outbox, data_dir: Path) -> None:
    outbox.append(alarm(1))
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert (data_dir / "files").stat().st_mode & 0o777 == 0o700
    for name in ("outbox.sqlite3", "outbox.sqlite3-wal"):
        assert (data_dir / name).stat().st_mode & 0o777 == 0o600, name


def test_schema_version_is_recorded_and_a_newer_schema_is_refused(data_dir: Path) -> None:
    from agent.store.migrations import SCHEMA_VERSION

    Outbox(data_dir, IDENTITY).close()
    with _db(data_dir) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="newer"):
        Outbox(data_dir, IDENTITY)


def test_stats_count_every_lane_and_the_stored_bytes(outbox: Outbox) -> None:
    outbox.append_many([alarm(0), hardware(1), vision(2), forced(3), periodic(4), periodic(5)])
    outbox.claim(1)
    stats = outbox.stats()
    assert stats.pending == {1: 1, 2: 1, 3: 1, 4: 2}
    assert stats.in_flight == 1
    assert stats.next_sequence == 7
    assert stats.used_bytes > 6 * 600
    assert stats.bytes_on_disk > 0
    assert stats.evicted == {}
    assert stats.over_cap is False


def test_a_dead_letter_can_be_requeued_with_its_envelope(outbox: Outbox) -> None:
    outbox.append_many([alarm(1), periodic(2)])
    bad = outbox.claim(1)[0]
    outbox.dead_letter(bad.row_id, "NotProcess: latitude out of range")
    outbox.release([e.row_id for e in outbox.claim(10)])
    used_before = outbox.stats().used_bytes
    (letter,) = outbox.dead_letters()
    assert outbox.requeue_dead_letter(letter.row_id) is True
    assert outbox.requeue_dead_letter(letter.row_id) is False  # gone from the dead letters
    assert outbox.requeue_dead_letter(424242) is False
    stats = outbox.stats()
    assert stats.dead_letters == 0
    assert stats.pending == {0: 1, 4: 1}
    # Dead letters count their error too; the event row alone is smaller.
    assert stats.used_bytes < used_before
    again = outbox.claim(10)[0]  # back in its lane (ALARM first), same wire bytes
    assert (again.ulid, again.sequence_number, again.envelope) == (
        bad.ulid, bad.sequence_number, bad.envelope)
    assert again.row_id != bad.row_id  # a new row: a late ack of the old id cannot hit it


def test_stats_give_the_oldest_pending_event_per_lane(outbox: Outbox) -> None:
    before = time.time_ns() // 1_000_000
    outbox.append_many([periodic(1), alarm(2)])
    between = time.time_ns() // 1_000_000
    time.sleep(0.02)
    outbox.append_many([periodic(3)])
    outbox.claim(1)  # the alarm, now in flight, no longer pending
    oldest = outbox.stats().oldest_pending_ms
    assert set(oldest) == {4}
    assert before <= oldest[4] <= between  # the first periodic, stored before the pause
