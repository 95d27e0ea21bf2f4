"""The byte cap: periodic positions go first, then forced positions, vision, hardware;
alarms never. Evictions are counted per lane and survive a restart."""

from __future__ import annotations

import itertools
from pathlib import Path

from agent.events import Priority
from agent.store.api import Attachment
from agent.store.outbox import EVICTION_ORDER, Outbox
from tests.store.events_factory import (
    IDENTITY,
    alarm,
    forced,
    hardware,
    periodic,
    vision,
)

CAP = 300_000
LANES = [int(p) for p in Priority]


def _pending(box: Outbox) -> dict[int, int]:
    counts = box.stats().pending
    return {lane: counts.get(lane, 0) for lane in LANES}


def _fill_every_lane(box: Outbox, n: int = 20) -> None:
    for make in (alarm, hardware, vision, forced):
        box.append_many([make(i) for i in range(n)])


def test_periodic_positions_are_evicted_first_and_oldest_first(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY, max_bytes=CAP) as box:
        _fill_every_lane(box)
        seqs: list[int] = []
        for b in range(8):
            seqs += box.append_many([periodic(b * 50 + i) for i in range(50)])
        stats = box.stats()
        left = stats.pending[int(Priority.PERIODIC)]
        assert 0 < left < 400
        assert stats.evicted == {int(Priority.PERIODIC): 400 - left}
        assert stats.used_bytes <= CAP
        assert not stats.over_cap
        # Every other lane is whole; the periodic rows left are exactly the newest ones.
        assert {k: v for k, v in _pending(box).items() if k != Priority.PERIODIC} == {
            0: 20, 1: 20, 2: 20, 3: 20}
        kept = [e.sequence_number for e in box.claim(1000) if e.priority == Priority.PERIODIC]
        assert kept == seqs[-left:]


def test_lanes_are_evicted_in_order_and_alarms_never(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY, max_bytes=CAP) as box:
        _fill_every_lane(box)
        box.append_many([periodic(i) for i in range(100)])
        alarms = 20
        history = [_pending(box)]
        while box.stats().pending.get(int(Priority.HARDWARE), 0) or not box.stats().over_cap:
            box.append_many([alarm(alarms + i) for i in range(10)])
            alarms += 10
            history.append(_pending(box))
            assert alarms < 2000, "the cap never filled"
        for before, after in itertools.pairwise(history):
            for k, lane in enumerate(EVICTION_ORDER):
                if after[lane] < before[lane]:  # a lane shrinks only once earlier ones are empty
                    assert all(after[earlier] == 0 for earlier in EVICTION_ORDER[:k]), (
                        lane, before, after)
        final = box.stats()
        assert final.pending == {int(Priority.ALARM): alarms}
        assert final.evicted == {4: 100, 3: 20, 2: 20, 1: 20}
        assert final.over_cap
        assert final.used_bytes > CAP
        box.append(alarm(99_999))  # still accepted when over the cap
        assert box.stats().pending == {int(Priority.ALARM): alarms + 1}
    with Outbox(data_dir, IDENTITY, max_bytes=CAP) as box:  # counters persist
        again = box.stats()
        assert again.evicted == {4: 100, 3: 20, 2: 20, 1: 20}
        assert again.over_cap


def test_rows_in_flight_are_not_evicted(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY, max_bytes=CAP) as box:
        box.append_many([periodic(i) for i in range(50)])
        claimed = box.claim(50)
        box.append_many([periodic(i) for i in range(400)])
        assert box.stats().in_flight == 50
        box.ack([e.row_id for e in claimed])
        assert box.stats().in_flight == 0
        assert box.stats().evicted[int(Priority.PERIODIC)] > 0


def test_a_lower_cap_at_the_next_start_evicts_at_open(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY, max_bytes=10 * CAP) as box:
        _fill_every_lane(box, 5)
        box.append_many([periodic(i) for i in range(400)])
        assert box.stats().evicted == {}
    with Outbox(data_dir, IDENTITY, max_bytes=CAP) as box:
        stats = box.stats()
        assert stats.used_bytes <= CAP
        assert stats.evicted[int(Priority.PERIODIC)] > 0
        assert {k: v for k, v in _pending(box).items() if k != Priority.PERIODIC} == {
            0: 5, 1: 5, 2: 5, 3: 5}


def test_evicting_a_vision_event_deletes_its_files(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY, max_bytes=CAP) as box:
        event = vision(1, with_file=True)
        box.append(event, [Attachment(event.files[0], b"\x89PNG" * 10_000)])
        (path,) = [p for p in (data_dir / "files").rglob("*") if p.is_file()]
        box.append_many([alarm(i) for i in range(350)])
        stats = box.stats()
        assert stats.evicted == {int(Priority.VISION): 1}
        assert not path.exists()
        assert stats.pending == {int(Priority.ALARM): 350}


def test_the_database_file_stays_near_the_cap_under_churn(data_dir: Path) -> None:
    cap = 2 * 1024 * 1024
    with Outbox(data_dir, IDENTITY, max_bytes=cap) as box:
        for b in range(40):  # ~13x the cap of periodic positions through a full outbox
            box.append_many([periodic(b * 1000 + i) for i in range(1000)])
            if b % 3 == 0:  # the uplink drains some meanwhile
                box.ack([e.row_id for e in box.claim(300)])
        stats = box.stats()
        db_file = (data_dir / "outbox.sqlite3").stat().st_size
    assert stats.used_bytes <= cap
    assert db_file <= 1.3 * cap, db_file


def test_a_big_file_makes_room_for_itself_before_it_is_stored(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY, max_bytes=CAP) as box:
        box.append_many([periodic(i) for i in range(300)])  # ~255 kB of 300 kB
        before = box.stats()
        assert before.evicted == {}
        event = vision(1, with_file=True)
        box.append(event, [Attachment(event.files[0], b"\0" * 100_000)])
        stats = box.stats()
        assert stats.used_bytes <= CAP
        evicted = stats.evicted[int(Priority.PERIODIC)]
        # Enough positions went to fit the file (each counts well under 1000 bytes).
        assert evicted * 1000 >= before.used_bytes + 100_000 - CAP
        assert stats.pending == {int(Priority.VISION): 1, int(Priority.PERIODIC): 300 - evicted}
        (stored,) = [e for e in box.claim(1000) if e.ulid == event.ulid]
        assert stored.files[0].path.stat().st_size == 100_000
