"""Child for the full-disk lane tests: runs inside a small tmpfs (``unshare -rm`` + ``mount``).

Usage: ``python -m tests.store.full_disk_child SCENARIO MOUNTPOINT``; prints one JSON line.
The outbox runs with its defaults (8 MiB reserve requested, 512 MiB cap), as on a box.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from agent.store.api import Attachment, DiskFullError, StorageFault
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from tests.store.events_factory import IDENTITY, alarm, hardware, periodic, vision


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _stored(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT ulid, seq FROM events"))


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _fill(box: Outbox, committed: dict[str, int], start: int) -> tuple[int, str | None]:
    """Periodic positions, 50 a transaction, until the disk is full."""
    i = start
    while i < start + 200_000:
        batch = [periodic(i + k) for k in range(50)]
        try:
            seqs = box.append_many(batch)
        except DiskFullError as exc:
            return i, str(exc)
        committed.update({e.ulid: s for e, s in zip(batch, seqs, strict=True)})
        i += 50
    return i, None


def lanes(mount: Path) -> dict[str, object]:
    """A full disk holding periodic positions: alarms and hardware events are stored (they
    evict positions), positions are refused, one storage fault, a summary log line."""
    data_dir = mount / "edge-agent"
    db = data_dir / "outbox.sqlite3"
    faults: list[StorageFault] = []
    lines = _Lines()
    logging.getLogger("agent").addHandler(lines)
    logging.getLogger("agent").setLevel(logging.INFO)
    found: dict[str, object] = {}
    committed: dict[str, int] = {}
    box = Outbox(data_dir, IDENTITY, on_storage_fault=faults.append)
    _, found["fill_error"] = _fill(box, committed, 0)
    found["periodic_committed"] = len(committed)
    found["disk_full"] = box.stats().disk_full

    lines.records.clear()
    kept: dict[str, int] = {}
    refused_alarms = 0
    for i in range(300):  # alarms and hardware events, one transaction each
        event = alarm(10**6 + i) if i % 3 else hardware(10**6 + i)
        try:
            kept[event.ulid] = box.append(event)
        except DiskFullError:
            refused_alarms += 1
    found["refused_alarms"] = refused_alarms
    refused_periodic = 0
    for i in range(500):
        try:
            box.append(periodic(2 * 10**6 + i))
        except DiskFullError:
            refused_periodic += 1
    found["refused_periodic"] = refused_periodic

    async def through_the_writer() -> int:  # the producers' path: one batch refused per lane
        async with OutboxWriter(box) as writer:
            results = await asyncio.gather(
                *(writer.put(periodic(3 * 10**6 + i)) for i in range(300)),
                return_exceptions=True,
            )
            last = alarm(4 * 10**6)
            kept[last.ulid] = await writer.put(last)
        return sum(isinstance(r, DiskFullError) for r in results)

    found["refused_through_writer"] = asyncio.run(through_the_writer())
    stats = box.stats()
    found["stats_refused"] = {str(k): v for k, v in stats.refused.items()}
    found["stats_evicted_periodic"] = stats.evicted.get(4, 0)
    found["stats_episodes"] = stats.disk_full_episodes
    found["log_lines_while_full"] = [
        f"{r.levelname} {r.getMessage()[:120]}" for r in lines.records if r.levelno >= logging.WARNING
    ]
    found["faults"] = [(f.kind, f.episode) for f in faults]
    box.close()
    stored = _stored(db)
    found["all_alarms_stored"] = all(stored.get(u) == s for u, s in kept.items())
    found["alarms_kept"] = len(kept)
    found["periodic_left"] = sum(1 for u in committed if u in stored)
    found["integrity"] = _integrity(db)
    return found


def recover(mount: Path) -> dict[str, object]:
    """Fill the partition, drain everything as the uplink would: the disk-full state clears
    and positions are accepted again, without a restart."""
    data_dir = mount / "edge-agent"
    found: dict[str, object] = {}
    committed: dict[str, int] = {}
    box = Outbox(data_dir, IDENTITY)
    end, found["fill_error"] = _fill(box, committed, 0)
    found["committed"] = len(committed)
    found["disk_full"] = box.stats().disk_full
    acked = 0
    while claimed := box.claim(200):
        box.ack([e.row_id for e in claimed])
        acked += len(claimed)
    found["acked"] = acked
    try:
        found["seq_after_drain"] = box.append(periodic(end + 1))
    except DiskFullError as exc:
        found["seq_after_drain"] = str(exc)
    stats = box.stats()
    found["disk_full_after_drain"] = stats.disk_full
    found["episodes"] = stats.disk_full_episodes
    box.close()
    found["integrity"] = _integrity(data_dir / "outbox.sqlite3")
    return found


def tiny(mount: Path) -> dict[str, object]:
    """A partition smaller than the default reserve: the start event and what fits are
    stored, and alarms still get in once it is full."""
    data_dir = mount / "edge-agent"
    db = data_dir / "outbox.sqlite3"
    found: dict[str, object] = {}
    committed: dict[str, int] = {}
    box = Outbox(data_dir, IDENTITY)
    start = hardware(0)  # the agent's boot event is a hardware event
    try:
        committed[start.ulid] = box.append(start)
        found["start_event"] = committed[start.ulid]
    except DiskFullError as exc:
        found["start_event"] = str(exc)
    _, found["fill_error"] = _fill(box, committed, 1)
    found["committed"] = len(committed)
    late = alarm(10**6)
    try:
        found["alarm_when_full"] = box.append(late)
    except DiskFullError as exc:
        found["alarm_when_full"] = str(exc)
    box.close()
    stored = _stored(db)
    found["start_event_stored"] = start.ulid in stored
    found["alarm_stored"] = late.ulid in stored
    found["committed_present"] = sum(1 for u, s in committed.items() if stored.get(u) == s)
    found["evicted_positions"] = sum(1 for u in committed if u not in stored)
    found["integrity"] = _integrity(db)
    return found


def _fill_up(mount: Path) -> int:
    """A filler file until the partition refuses another byte."""
    filler = 0
    fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                filler += os.write(fd, b"\xff" * 4096)
            except OSError:
                break
    finally:
        os.close(fd)
    return filler


def release(mount: Path) -> dict[str, object]:
    """Rows in flight when the disk fills: the release that finds the disk full (the upload
    failed) must still hand them back, so they are sent again and an alarm can evict them."""
    data_dir = mount / "edge-agent"
    found: dict[str, object] = {}
    box = Outbox(data_dir, IDENTITY)
    box.append_many([periodic(i) for i in range(300)])
    claimed = [e.row_id for e in box.claim(100)]
    with box._db.lock:  # an empty -wal: the release must grow it
        box._db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    found["filler"] = _fill_up(mount)
    try:
        box.release(claimed)
        found["release_error"] = None
    except DiskFullError as exc:
        found["release_error"] = str(exc)
    stats = box.stats()
    found["disk_full"] = stats.disk_full
    found["in_flight"] = stats.in_flight
    try:
        found["alarm_seq"] = box.append(alarm(1))
    except DiskFullError as exc:
        found["alarm_seq"] = str(exc)
    found["evicted"] = box.stats().evicted
    box.close()
    found["integrity"] = _integrity(data_dir / "outbox.sqlite3")
    return found


ALARMS_IN_FLIGHT_CASE = 50


def in_flight(mount: Path) -> dict[str, object]:
    """Every position held in flight by the uplink (a storm: claim, fail, release, claim) when
    the disk is full: an alarm still gets stored, by evicting positions in flight; a vision
    event in flight keeps its row and its file (mid-upload); the uplink's ack of it all works."""
    data_dir = mount / "edge-agent"
    found: dict[str, object] = {}
    box = Outbox(data_dir, IDENTITY)
    box.append_many([periodic(i) for i in range(300)])
    seen = vision(1, with_file=True)
    box.append(seen, [Attachment(seen.files[0], b"evidence" * 512)])
    claimed = box.claim(1000)
    found["claimed"] = len(claimed)
    found["pending_before"] = sum(box.stats().pending.values())
    with box._db.lock:  # an empty -wal: the alarms must grow the files
        box._db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    found["filler"] = _fill_up(mount)
    alarms: list[object] = []
    for i in range(ALARMS_IN_FLIGHT_CASE):
        try:
            alarms.append(box.append(alarm(i)))
        except DiskFullError as exc:
            alarms.append(str(exc))
    found["alarms"] = alarms
    found["evicted"] = box.stats().evicted
    vision_row = [e for e in claimed if e.ulid == seen.ulid]
    found["vision_file_kept"] = bool(vision_row) and vision_row[0].files[0].path.read_bytes() == (
        b"evidence" * 512)
    try:
        box.ack([e.row_id for e in claimed])  # the upload went through after all
        found["ack_error"] = None
    except DiskFullError as exc:
        found["ack_error"] = str(exc)
    stats = box.stats()
    found["in_flight_after_ack"] = stats.in_flight
    found["pending_after_ack"] = dict(stats.pending)
    box.close()
    found["integrity"] = _integrity(data_dir / "outbox.sqlite3")
    return found


SCENARIOS: dict[str, Callable[[Path], dict[str, object]]] = {
    "release": release, "in_flight": in_flight,
    "lanes": lanes, "recover": recover, "tiny": tiny,
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]](Path(sys.argv[2]))), flush=True)
