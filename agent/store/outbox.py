"""The durable outbox: events (and their files) waiting for the uplink, in one SQLite file.

- WAL + ``synchronous=FULL``: a commit is on disk when it returns (ignition off is a power cut).
- The connection, lock and transactions belong to :class:`agent.store.database.Database`, which
  other stores (the order journal) share: :meth:`Outbox.append_in` stores an event inside a
  caller's transaction, so an order's result and its event commit together.
- Priority lanes (:class:`agent.events.Priority`): lower drains first, FIFO inside a lane.
- ``claim`` marks rows in flight atomically (``UPDATE … RETURNING``); ``ack`` deletes them with
  their files; ``release`` hands them back; rows still in flight at open (a crash) are pending
  again, so delivery is at-least-once (the cloud de-duplicates by ``ulid``).
- ``sequenceNumber`` comes from a persisted counter, assigned and baked into the stored JSON in
  the transaction that stores the event.
- A byte cap evicts pending rows lane by lane in :data:`EVICTION_ORDER`, oldest first; alarms
  are never evicted. On a full disk, alarms and hardware events evict the lower lanes to make
  room; the other lanes are refused until space is back. See docs/outbox.md.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from agent.errors import StorageError
from agent.events import DeviceIdentity, Event, Priority, to_envelope
from agent.store import database, files
from agent.store.api import (
    Attachment,
    DeadLetter,
    DiskFullError,
    OutboxStats,
    StoredEvent,
    StoredFile,
)
from agent.store.database import (
    DEFAULT_RESERVE_BYTES,
    RESERVE_NAME,
    Closing,
    Database,
    FaultCallback,
    Transaction,
    closed_on_failure,
)
from agent.store.migrations import OUTBOX_SCHEMA
from agent.store.seqmark import SequenceMark

if TYPE_CHECKING:
    from agent.config import StorageSettings

__all__ = ["DEFAULT_RESERVE_BYTES", "EVICTION_ORDER", "RESERVE_NAME", "Outbox", "ReadOnlyOutbox"]

log = logging.getLogger(__name__)

SEQ_MODULUS: Final = 1 << 32
# Bytes a row costs beyond its envelope (record header, ulid, integers, index entries, page
# slack), calibrated against real page counts (docs/outbox.md). The cap counts with it.
ROW_OVERHEAD: Final = 160
# Evicted first to last; Priority.ALARM is never evicted.
EVICTION_ORDER: Final[tuple[Priority, ...]] = (
    Priority.PERIODIC,
    Priority.TELEMETRY,
    Priority.VISION,
    Priority.HARDWARE,
)
# On a full disk these lanes are still stored (they evict the lanes below them); the others
# are refused until the disk has room again.
STORED_WHEN_FULL: Final = frozenset({Priority.ALARM, Priority.HARDWARE})
DEAD_LETTER_KEEP: Final = 1000  # newest kept; older ones pruned so they cannot fill the disk
MAX_ERROR_CHARS: Final = 2000
_EVICT_CHUNK: Final = 512
EVICTION_LOG_INTERVAL_S: Final = 60.0  # a full outbox evicts at every commit: log a summary
REFUSAL_LOG_INTERVAL_S: Final = 60.0  # a full disk refuses every event: log a summary

AttachmentsFor = tuple[Event, Sequence[Attachment]]
_Staged = list[tuple[Attachment, files.StagedFile]]


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Freed:
    """What a transaction removed: bytes by kind, files to delete after commit, evictions."""

    event_bytes: int = 0
    file_bytes: int = 0
    paths: list[Path] = field(default_factory=list)
    evicted: dict[int, int] = field(default_factory=dict)

    def merge(self, other: _Freed) -> None:
        self.event_bytes += other.event_bytes
        self.file_bytes += other.file_bytes
        self.paths.extend(other.paths)
        for lane, n in other.evicted.items():
            self.evicted[lane] = self.evicted.get(lane, 0) + n


class _SummaryLog:
    """Counts per lane, logged as one line at most once per ``interval_s``."""

    def __init__(self, interval_s: float, level: int, message: str) -> None:
        self._interval_s = interval_s
        self._level = level
        self._message = message
        self._unlogged: dict[int, int] = {}
        self._logged_at = -interval_s

    def add(self, lanes: dict[int, int], *args: object) -> None:
        for lane, n in lanes.items():
            self._unlogged[lane] = self._unlogged.get(lane, 0) + n
        now = time.monotonic()
        if self._unlogged and now - self._logged_at >= self._interval_s:
            log.log(self._level, self._message, self._unlogged, *args)
            self._unlogged = {}
            self._logged_at = now


def _count_lanes(events: Sequence[Event]) -> dict[int, int]:
    out: dict[int, int] = {}
    for e in events:
        out[int(e.priority)] = out.get(int(e.priority), 0) + 1
    return out


class Outbox(Closing):
    """The SQLite outbox (implements :class:`agent.store.api.OutboxQueue` and
    :class:`agent.store.api.OutboxReader`).

    ``db``: a shared :class:`Database` (its creator closes it, after the outbox), or a data
    directory, for which the outbox opens and owns its own (``reserve_bytes`` and
    ``on_storage_fault`` are that database's; with a shared one they are its creator's).

    Every method blocks (disk, fsync): call from a thread or an executor, never on the loop.
    Construct, use, then :meth:`close` (or use as a context manager).
    """

    def __init__(
        self,
        db: Database | Path,
        identity: DeviceIdentity,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        reserve_bytes: int | None = None,
        on_storage_fault: FaultCallback | None = None,
    ) -> None:
        if isinstance(db, Database):
            if reserve_bytes is not None or on_storage_fault is not None:
                raise ValueError("reserve_bytes and on_storage_fault belong to the shared Database")
            self._owns_db = False
        else:
            db = Database(
                db,
                reserve_bytes=DEFAULT_RESERVE_BYTES if reserve_bytes is None else reserve_bytes,
                on_storage_fault=on_storage_fault,
            )
            self._owns_db = True
        self._db = db
        self._dir = db.data_dir
        self._files = db.files_dir
        self._identity = identity
        self._max_bytes = max_bytes
        self._event_bytes = 0
        self._files_bytes = 0
        self._dead_bytes = 0
        self._over_cap = False
        self._closed = False
        self._refused: dict[int, int] = {}
        self._evictions_log = _SummaryLog(
            EVICTION_LOG_INTERVAL_S, logging.WARNING,
            "outbox: evicted %s (lane: count) since the last report (to stay under its "
            "%d-byte cap, or for alarms and hardware events on a full disk)")
        self._refusals_log = _SummaryLog(
            REFUSAL_LOG_INTERVAL_S, logging.ERROR,
            "disk full: refused %s (lane: count) since the last report; alarms and hardware "
            "events are still stored")  # fmt: skip
        self._mark = SequenceMark(self._dir)
        with closed_on_failure(self._close_db, f"cannot open the outbox in {self._dir}"):
            db.migrate(OUTBOX_SCHEMA)
            self._continue_sequence()
            self._recovered = self._recover()
            self._load_counters()
            orphans = files.sweep_orphans(self._files, self._referenced_paths())
            if orphans:
                log.info("removed %d orphaned outbox file(s) left by an interrupted write", orphans)
            self._enforce_cap_now()

    @classmethod
    def from_settings(
        cls,
        storage: StorageSettings,
        identity: DeviceIdentity,
        *,
        db: Database | None = None,
        on_storage_fault: FaultCallback | None = None,
    ) -> Outbox:
        """The outbox of ``storage``: in the shared ``db`` if given, else in its own."""
        if db is not None:
            return cls(db, identity, max_bytes=storage.max_bytes)
        return cls(storage.data_dir, identity, max_bytes=storage.max_bytes,
                   on_storage_fault=on_storage_fault)  # fmt: skip

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def database(self) -> Database:
        return self._db

    @property
    def quarantined_at_open(self) -> tuple[Path, ...]:
        """Corrupt databases moved aside by *this* open: raise a storage-fault event for each."""
        return self._db.quarantined_at_open

    @property
    def wal_set_aside(self) -> Path | None:
        """A garbage ``-wal`` this open moved aside (the database kept): a storage fault."""
        return self._db.wal_set_aside

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._db.connection

    @property
    def _lock(self) -> threading.RLock:
        return self._db.lock

    def close(self) -> None:
        """Stop using the database; close it too if the outbox opened it."""
        with self._lock:
            self._closed = True
            if self._owns_db:
                self._db.close()

    def _close_db(self) -> None:
        self._closed = True
        if self._owns_db:
            self._db._close_quietly()

    # -- producers -------------------------------------------------------------------------

    def append(self, event: Event, attachments: Sequence[Attachment] = ()) -> int:
        """Store one event durably; return its sequence number."""
        result = self.append_batch([(event, attachments)])[0]
        if isinstance(result, StorageError):
            raise result
        return result

    def append_many(self, events: Sequence[Event]) -> list[int]:
        """Store events (no attachments) in one transaction, one fsync; return their seqs."""
        out: list[int] = []
        for result in self.append_batch([(e, ()) for e in events]):
            if isinstance(result, StorageError):
                raise result
            out.append(result)
        return out

    def append_batch(self, items: Sequence[AttachmentsFor]) -> list[int | StorageError]:
        """Store many events in ONE transaction (the group commit).

        Returns, per item, its sequence number, or the :class:`StorageError` that refused that
        item alone (e.g. a bad file key; :class:`DiskFullError` for a lower lane on a full
        disk). A failure of the transaction itself raises and stores none of them; nothing
        committed earlier is touched. If the disk fills during this very batch, its alarms and
        hardware events are tried once more, making room for them.
        """
        self._check_open()
        results: list[int | StorageError] = [-1] * len(items)
        full = not self._db.has_room()
        accepted: list[tuple[int, Event, _Staged]] = []
        refused: list[Event] = []
        for i, (event, attachments) in enumerate(items):
            if full and event.priority not in STORED_WHEN_FULL:
                results[i] = self._refusal()
                refused.append(event)
                continue
            try:
                staged = self._stage(attachments)
            except DiskFullError as exc:
                self._db.enter_disk_full(str(exc))
                results[i] = exc
                refused.append(event)
                continue
            except StorageError as exc:
                results[i] = exc
                continue
            accepted.append((i, event, staged))
        try:
            if accepted:
                try:
                    self._store(accepted, results, make_room=full)
                except DiskFullError:
                    if full or not any(e.priority in STORED_WHEN_FULL for _, e, _ in accepted):
                        raise
                    # The disk filled during this batch (the reserve is lent out now): store
                    # what must not be lost, refuse the rest.
                    keep = [a for a in accepted if a[1].priority in STORED_WHEN_FULL]
                    for i, event, staged in accepted:
                        if event.priority not in STORED_WHEN_FULL:
                            _undo(staged)
                            results[i] = self._refusal()
                            refused.append(event)
                    accepted = keep
                    self._store(accepted, results, make_room=True)
        except DiskFullError:
            self._note_refused(refused + [e for _, e, _ in accepted])
            raise
        self._note_refused(refused)
        return results

    def append_in(self, tx: Transaction, event: Event) -> int:
        """Store ``event`` inside the caller's transaction on this outbox's database; return
        its sequence number. It commits (or rolls back) with everything else in ``tx``:

            with db.transaction("record the order result") as tx:
                tx.execute("UPDATE order_journal SET state = 'done' WHERE id = ?", (oid,))
                outbox.append_in(tx, result_event)

        No attachments (files are staged outside transactions). On a full disk a lower-lane
        event raises :class:`DiskFullError` (rolling the caller's transaction back).
        """
        self._check_open()
        if tx.database is not self._db or not tx.active:
            raise StorageError("append_in needs an open transaction of the outbox's database")
        full = self._db.disk_full
        if full and event.priority not in STORED_WHEN_FULL:
            self._note_refused([event])
            raise self._refusal()
        (outcome,) = self._insert(tx, [(event, [])], make_room=full)
        if isinstance(outcome, StorageError):
            raise outcome
        return outcome

    def _refusal(self) -> DiskFullError:
        return DiskFullError(
            "disk full: the outbox refuses this event until space frees (alarms and hardware "
            f"events are still stored; the rest waits for {self._db.budget.resume_free_bytes} "
            "bytes free)"
        )

    def _note_refused(self, events: Sequence[Event]) -> None:
        if not events:
            return
        lanes = _count_lanes(events)
        with self._lock:
            for lane, n in lanes.items():
                self._refused[lane] = self._refused.get(lane, 0) + n
            self._refusals_log.add(lanes)

    def _store(
        self,
        accepted: list[tuple[int, Event, _Staged]],
        results: list[int | StorageError],
        *,
        make_room: bool,
    ) -> None:
        """Commit the accepted items in one transaction; their files follow the outcome."""
        entries = [(event, staged) for _, event, staged in accepted]
        try:
            with self._db.transaction("cannot store events") as tx:
                outcomes = self._insert(tx, entries, make_room=make_room)
        except BaseException:
            for _, _, staged in accepted:
                _undo(staged)
            raise
        for (i, _, staged), outcome in zip(accepted, outcomes, strict=True):
            results[i] = outcome
            for _, s in staged:
                if isinstance(outcome, int):
                    s.committed()
                else:
                    s.undo()

    def _stage(self, attachments: Sequence[Attachment]) -> _Staged:
        """Write an event's files durably (outside the lock: fsyncs must not stall claims)."""
        done: _Staged = []
        try:
            for att in attachments:
                dest = files.location(self._files, str(att.ref.bucket), att.ref.filename)
                done.append((att, files.stage(dest, att.data)))
        except BaseException:
            _undo(done)
            raise
        return done

    def _insert(
        self, tx: Transaction, all_entries: Sequence[tuple[Event, _Staged]], *, make_room: bool
    ) -> list[int | StorageError]:
        """Inside ``tx``: per entry, its sequence number or why it alone was refused (cannot be
        encoded). Evicts first for the byte cap and, with ``make_room`` (a full disk), the
        lanes below the new events for the room they need."""
        seq = int(tx.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        now = _now_ms()
        outcomes: list[int | StorageError] = []
        entries: list[tuple[Event, _Staged]] = []
        rows: list[tuple[str, int, int, int, bytes]] = []
        added_events = 0
        for event, staged in all_entries:
            try:
                envelope = _dumps(to_envelope(event, self._identity, seq))
            except (TypeError, ValueError) as exc:  # a producer's bug: refuse it alone
                outcomes.append(StorageError(f"event {event.ulid} cannot be encoded: {exc}"))
                continue
            rows.append((event.ulid, seq, int(event.priority), now, envelope))
            outcomes.append(seq)
            entries.append((event, staged))
            added_events += len(envelope) + ROW_OVERHEAD
            seq = (seq + 1) % SEQ_MODULUS
        if not entries:
            return outcomes
        added_files = sum(s.size for _, staged in entries for _, s in staged)
        added = added_events + added_files
        # Make room first so the new rows reuse the freed pages: the file then stays near the
        # cap instead of cap + one batch.
        freed, over = self._evict(tx, EVICTION_ORDER, self._used() + added - self._max_bytes)
        if make_room:
            least = max(event.priority for event, _ in entries)
            below = tuple(lane for lane in EVICTION_ORDER if lane > least)
            # Exactly what they need: the new rows reuse the freed pages (measured: no page
            # slack margin was needed), and a full disk is no reason to drop more positions;
            # the uplink's acks are what free space for good.
            more, _ = self._evict(tx, below, added - freed.event_bytes - freed.file_bytes)
            freed.merge(more)
            if freed.event_bytes + freed.file_bytes < added:
                # The uplink may hold every lower row in flight (a storm: it claims, fails,
                # releases, claims again). Those without files go too: their upload is an
                # envelope already in memory, and the ack or release of an evicted row is a
                # no-op; rows with files stay (their files may be mid-upload).
                more, _ = self._evict(tx, below, added - freed.event_bytes - freed.file_bytes,
                                      in_flight=True)
                freed.merge(more)
            if freed.event_bytes + freed.file_bytes < added:
                # Nothing left below them to evict: growing the database now would eat the
                # room lent to the uplink, which is what lets the disk drain.
                raise DiskFullError("disk full: no lower-lane events left to evict for "
                                    f"{len(entries)} event(s) of lane {least.name}")
        start = 0
        for k, (_, staged) in enumerate(entries):
            if not staged:
                continue
            if start < k:
                tx.executemany(_INSERT_EVENT, rows[start:k])
            event_id = tx.execute(_INSERT_EVENT, rows[k]).lastrowid
            tx.executemany(
                "INSERT INTO files (event_id, bucket, key, content_type, size)"
                " VALUES (?, ?, ?, ?, ?)",
                [(event_id, str(a.ref.bucket), a.ref.filename, a.content_type, s.size)
                 for a, s in staged],
            )
            start = k + 1
        if start < len(rows):
            tx.executemany(_INSERT_EVENT, rows[start:])
        self._mark.cover(seq)  # durable before this commit can make ``seq`` the counter
        tx.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq,))
        if over:  # the batch alone overflowed what could be freed: its own turn now
            used = self._used() + added - freed.event_bytes - freed.file_bytes
            more, over = self._evict(tx, EVICTION_ORDER, used - self._max_bytes)
            freed.merge(more)
        self._after_commit(tx, freed, over, added_events=added_events, added_files=added_files)
        return outcomes

    # -- the uplink --------------------------------------------------------------------------

    def claim(self, limit: int) -> list[StoredEvent]:
        """Mark up to ``limit`` pending events in flight and return them, lane then FIFO order."""
        if limit <= 0:
            return []
        with self._writing("claim events") as tx:
            rows = tx.execute(
                "UPDATE events SET state = 1 WHERE id IN ("
                " SELECT id FROM events WHERE state = 0 ORDER BY priority, id LIMIT ?)"
                " RETURNING id, ulid, seq, priority, envelope",
                (limit,),
            ).fetchall()
            by_event: dict[int, list[StoredFile]] = {}
            if rows:
                for fid, eid, bucket, key, ctype, size, uploaded in tx.execute(
                    "SELECT id, event_id, bucket, key, content_type, size, uploaded"
                    " FROM files WHERE event_id IN (SELECT value FROM json_each(?))"
                    " ORDER BY id",
                    (json.dumps([r[0] for r in rows]),),
                ):
                    by_event.setdefault(eid, []).append(StoredFile(
                        file_id=fid, bucket=bucket, key=key,
                        path=files.location(self._files, bucket, key),
                        content_type=ctype, size=size, uploaded=bool(uploaded),
                    ))  # fmt: skip
        rows.sort(key=lambda r: (r[3], r[0]))
        return [
            StoredEvent(
                row_id=rid, ulid=ulid, sequence_number=seq, priority=prio, envelope=bytes(env),
                files=tuple(by_event.get(rid, ())),
            )
            for rid, ulid, seq, prio, env in rows
        ]

    def mark_file_uploaded(self, file_id: int) -> None:
        with self._writing("mark file uploaded") as tx:
            tx.execute("UPDATE files SET uploaded = 1 WHERE id = ?", (file_id,))

    def ack(self, row_ids: Sequence[int]) -> None:
        """The cloud has them: delete the rows and their files. Unknown ids are ignored."""
        if not row_ids:
            return

        def ack() -> None:
            with self._writing("ack events") as tx:
                freed = self._delete_events(tx, json.dumps(list(row_ids)))
                self._after_commit(tx, freed, False)

        _once_more_on_a_full_disk(ack)

    def release(self, row_ids: Sequence[int]) -> None:
        """Hand claimed rows back (upload failed, will retry); they keep their place in line."""
        if not row_ids:
            return

        def release() -> None:
            with self._writing("release events") as tx:
                tx.execute(
                    "UPDATE events SET state = 0"
                    " WHERE state = 1 AND id IN (SELECT value FROM json_each(?))",
                    (json.dumps(list(row_ids)),),
                )

        _once_more_on_a_full_disk(release)

    def dead_letter(self, row_id: int, error: str) -> None:
        """The cloud refused the event as invalid: keep it aside with the error, never re-send
        it on its own. Its files are deleted (the event will not be uploaded)."""
        error = error[:MAX_ERROR_CHARS]
        with self._writing("dead-letter event") as tx:
            cur = tx.execute(
                "INSERT INTO dead_letters"
                " (event_id, ulid, seq, priority, created_ms, failed_ms, error, envelope)"
                " SELECT id, ulid, seq, priority, created_ms, ?, ?, envelope"
                " FROM events WHERE id = ?",
                (_now_ms(), error, row_id),
            )
            if cur.rowcount == 0:
                return
            freed = self._delete_events(tx, json.dumps([row_id]))
            tx.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?",
                (DEAD_LETTER_KEEP,),
            )
            self._after_commit(tx, freed, False, dead_bytes=_dead_bytes(tx.conn))

    def requeue_dead_letter(self, row_id: int) -> bool:
        """Put a dead letter (by :attr:`DeadLetter.row_id`) back in line, e.g. after the cloud
        was fixed: the same envelope (``ulid``, ``sequenceNumber``) at the end of its lane.
        False if there is no such dead letter. Its files were deleted with it: none are sent."""
        with self._writing("requeue dead letter") as tx:
            moved = tx.execute(
                "INSERT INTO events (ulid, seq, priority, created_ms, envelope)"
                " SELECT ulid, seq, priority, created_ms, envelope FROM dead_letters"
                " WHERE event_id = ? ORDER BY id DESC LIMIT 1"
                " RETURNING length(envelope)",
                (row_id,),
            ).fetchone()
            if moved is None:
                return False
            tx.execute("DELETE FROM dead_letters WHERE event_id = ?", (row_id,))
            self._after_commit(tx, _Freed(), False, added_events=int(moved[0]) + ROW_OVERHEAD,
                               dead_bytes=_dead_bytes(tx.conn))  # fmt: skip
        log.info("outbox: dead letter %d requeued", row_id)
        return True

    # -- diagnostics -------------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        with self._lock:
            self._check_open()
            return read_stats(
                self._conn, self._dir, max_bytes=self._max_bytes, used_bytes=self._used(),
                over_cap=self._over_cap, recovered_in_flight=self._recovered,
                disk_full=self._db.disk_full, disk_full_episodes=self._db.disk_full_episodes,
                refused=dict(self._refused),
            )  # fmt: skip

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first."""
        with self._lock:
            self._check_open()
            return read_dead_letters(self._conn, limit)

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed or self._db.closed:
            raise StorageError("outbox is closed")

    @contextmanager
    def _writing(self, what: str) -> Iterator[Transaction]:
        """One transaction of a caller's write (``what`` it does, for the error): refused with
        "outbox is closed" once :meth:`close` ran, before the database is touched."""
        self._check_open()
        with self._db.transaction(f"cannot {what}") as tx:
            yield tx

    def _recover(self) -> int:
        with self._db.transaction("cannot recover events in flight") as tx:
            n = tx.execute("UPDATE events SET state = 0 WHERE state = 1").rowcount
        if n:
            log.warning("outbox: %d event(s) were in flight at the last stop; re-queued", n)
        return n

    def _continue_sequence(self) -> None:
        """After a loss (a database moved aside, a garbage -wal set aside, a database recreated
        while its mark remains), ``sequenceNumber`` continues at the mark, past every number
        issued before (:mod:`agent.store.seqmark`); without a mark, at the quarantined file's
        counter when it can be read, else where the database's own counter is."""
        db = self._db
        current = int(self._conn.execute(
            "SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        recreated = current == 1 and self._mark.value is not None
        if not (db.quarantined_at_open or db.wal_set_aside is not None or recreated):
            return
        resume, source = self._mark.value, "the sequence mark"
        if resume is None and db.quarantined_at_open:
            resume = database.salvage_next_seq(db.quarantined_at_open[0])
            source = "the quarantined database's counter"
        if resume is None:
            log.warning("outbox: no sequence mark and no readable counter; sequenceNumber "
                        "continues at %d", current)
            return
        with self._db.transaction("cannot seed the sequence counter") as tx:
            tx.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'",
                       (resume % SEQ_MODULUS,))  # fmt: skip
        log.warning("outbox: sequenceNumber continues at %d (%s) after a lost database or "
                    "write-ahead log", resume, source)

    def _load_counters(self) -> None:
        self._event_bytes, self._files_bytes, self._dead_bytes = _counted_bytes(self._conn)

    def _referenced_paths(self) -> set[Path]:
        return {
            files.location(self._files, bucket, key)
            for bucket, key in self._conn.execute("SELECT bucket, key FROM files")
        }

    def _used(self) -> int:
        return self._event_bytes + self._files_bytes + self._dead_bytes

    def _enforce_cap_now(self) -> None:
        """At open: the cap may have been lowered since the data was written."""
        with self._db.transaction("cannot enforce the byte cap") as tx:
            freed, over = self._evict(tx, EVICTION_ORDER, self._used() - self._max_bytes)
            self._after_commit(tx, freed, over)

    def _evict(
        self, tx: Transaction, lanes: Sequence[Priority], excess: int, *, in_flight: bool = False
    ) -> tuple[_Freed, bool]:
        """Inside a transaction: evict pending rows of ``lanes``, in that order and oldest
        first, until ``excess`` bytes are freed. Returns what was freed and whether ``excess``
        is still not met (only alarms and rows in flight left, for the cap). ``in_flight``:
        rows the uplink holds instead, those without files only (see :meth:`_insert`)."""
        freed = _Freed()
        query = _EVICT_IN_FLIGHT if in_flight else _EVICT_PENDING
        for lane in lanes:
            while excess > 0:
                candidates = tx.execute(query, (int(lane), _EVICT_CHUNK)).fetchall()
                if not candidates:
                    break
                chosen: list[int] = []
                for rid, env_len, file_size in candidates:
                    chosen.append(rid)
                    excess -= env_len + ROW_OVERHEAD + file_size
                    if excess <= 0:
                        break
                part = self._delete_events(tx, json.dumps(chosen))
                tx.execute(
                    "INSERT INTO evictions (priority, count) VALUES (?, ?) ON CONFLICT (priority)"
                    " DO UPDATE SET count = count + excluded.count",
                    (int(lane), len(chosen)),
                )
                part.evicted[int(lane)] = len(chosen)
                freed.merge(part)
        return freed, excess > 0

    def _delete_events(self, tx: Transaction, ids_json: str) -> _Freed:
        """Delete events (by a JSON array of ids) and their file rows; files go after commit."""
        freed = _Freed()
        gone = tx.execute(
            "DELETE FROM files WHERE event_id IN (SELECT value FROM json_each(?))"
            " RETURNING bucket, key, size",
            (ids_json,),
        ).fetchall()
        for bucket, key, size in gone:
            freed.file_bytes += size
            still_named = tx.execute(
                "SELECT 1 FROM files WHERE bucket = ? AND key = ? LIMIT 1", (bucket, key)
            ).fetchone()
            if still_named is None:
                freed.paths.append(files.location(self._files, bucket, key))
        for (env_len,) in tx.execute(
            "DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))"
            " RETURNING length(envelope)",
            (ids_json,),
        ).fetchall():
            freed.event_bytes += env_len + ROW_OVERHEAD
        return freed

    def _after_commit(
        self,
        tx: Transaction,
        freed: _Freed,
        over_cap: bool,
        *,
        added_events: int = 0,
        added_files: int = 0,
        dead_bytes: int | None = None,
    ) -> None:
        """Once ``tx`` commits: update the counts, delete files, log evictions, give free
        pages back when there are many. Nothing happens if it rolls back."""

        def committed() -> None:
            self._event_bytes += added_events - freed.event_bytes
            self._files_bytes += added_files - freed.file_bytes
            if dead_bytes is not None:
                self._dead_bytes = dead_bytes
            files.remove(freed.paths)
            self._evictions_log.add(freed.evicted, self._max_bytes)
            if over_cap and not self._over_cap:
                log.error("outbox over its %d-byte cap with only alarms left: still accepting "
                          "alarms", self._max_bytes)
            self._over_cap = over_cap
            self._maybe_vacuum()

        tx.on_commit(committed)

    def _maybe_vacuum(self) -> None:
        """Give free pages back to the filesystem when there are many (on a full disk the
        database does it after every write)."""
        free_pages = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        threshold = max(self._max_bytes // 16, 64 * 1024)
        if free_pages and free_pages * self._db.page_size > threshold:
            try:  # executescript steps it to the end (execute() frees one page per call)
                self._conn.executescript("PRAGMA incremental_vacuum")
            except sqlite3.Error as exc:
                log.warning("outbox incremental vacuum failed: %s", exc)


def _undo(staged: _Staged) -> None:
    for _, s in staged:
        s.undo()


_INSERT_EVENT: Final = (
    "INSERT INTO events (ulid, seq, priority, created_ms, envelope) VALUES (?, ?, ?, ?, ?)"
)


def _dead_bytes(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(length(envelope) + length(error)), 0) + COUNT(*) * ?"
        " FROM dead_letters",
        (ROW_OVERHEAD,),
    ).fetchone()
    return int(row[0])


def _counted_bytes(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(events, files, dead letters) bytes as the cap counts them."""
    events = conn.execute(
        "SELECT COALESCE(SUM(length(envelope)), 0) + COUNT(*) * ? FROM events", (ROW_OVERHEAD,)
    ).fetchone()[0]
    files_ = conn.execute("SELECT COALESCE(SUM(size), 0) FROM files").fetchone()[0]
    return int(events), int(files_), _dead_bytes(conn)


def read_stats(
    conn: sqlite3.Connection,
    data_dir: Path,
    *,
    max_bytes: int,
    used_bytes: int | None = None,
    over_cap: bool = False,
    recovered_in_flight: int = 0,
    disk_full: bool = False,
    disk_full_episodes: int = 0,
    refused: dict[int, int] | None = None,
) -> OutboxStats:
    """The counts behind :meth:`Outbox.stats`, from any connection (the diag's read-only one)."""
    pending: dict[int, int] = {}
    oldest: dict[int, int] = {}
    for p, n, first in conn.execute(
        "SELECT priority, COUNT(*), MIN(created_ms) FROM events WHERE state = 0 GROUP BY priority"
    ):
        pending[int(p)] = int(n)
        oldest[int(p)] = int(first)
    in_flight = int(conn.execute("SELECT COUNT(*) FROM events WHERE state = 1").fetchone()[0])
    evicted = {int(p): int(n) for p, n in conn.execute("SELECT priority, count FROM evictions")}
    dead = int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])
    next_seq = int(conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
    if used_bytes is None:
        used_bytes = sum(_counted_bytes(conn))
    db = data_dir / database.DB_NAME
    return OutboxStats(
        pending=pending,
        in_flight=in_flight,
        bytes_on_disk=database.file_bytes(db) + files.disk_usage(data_dir / database.FILES_DIR),
        evicted=evicted,
        dead_letters=dead,
        next_sequence=next_seq,
        quarantined=database.quarantined_files(data_dir),
        used_bytes=used_bytes,
        max_bytes=max_bytes,
        # Over the cap "for good" only when nothing but alarms is left to evict.
        over_cap=over_cap or (
            used_bytes > max_bytes and all(p == Priority.ALARM for p in pending)
        ),
        recovered_in_flight=recovered_in_flight,
        disk_full=disk_full,
        disk_full_episodes=disk_full_episodes,
        refused=dict(refused or {}),
        oldest_pending_ms=oldest,
    )


def read_dead_letters(conn: sqlite3.Connection, limit: int) -> list[DeadLetter]:
    return [
        DeadLetter(row_id=eid, ulid=ulid, sequence_number=seq, priority=prio, failed_ms=failed,
                   error=error)
        for eid, ulid, seq, prio, failed, error in conn.execute(
            "SELECT event_id, ulid, seq, priority, failed_ms, error FROM dead_letters"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
    ]


def open_read_only(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection for diagnostics while the agent may be running (WAL readers
    never block the writer). Raises :class:`StorageError` if there is no outbox."""
    db = data_dir / database.DB_NAME
    if not db.is_file():
        raise StorageError(f"no outbox database at {db}")
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
    except sqlite3.Error as exc:
        raise database.storage_error(exc, f"cannot read {db}") from exc
    return conn


class ReadOnlyOutbox(Closing):
    """:class:`agent.store.api.OutboxReader` over a read-only connection: safe while the agent
    runs (WAL readers never block the writer), changes nothing (rows in flight stay in
    flight). For diagnostics and the technician CLI when the agent is not asked directly."""

    def __init__(self, data_dir: Path, *, max_bytes: int) -> None:
        self._dir = data_dir
        self._max_bytes = max_bytes
        self._conn = open_read_only(data_dir)

    def stats(self) -> OutboxStats:
        # The agent lends its disk reserve out while the disk is full (docs/outbox.md).
        return read_stats(self._conn, self._dir, max_bytes=self._max_bytes,
                          disk_full=not (self._dir / RESERVE_NAME).exists())  # fmt: skip

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return read_dead_letters(self._conn, limit)

    def close(self) -> None:
        self._conn.close()


# Eviction candidates of one lane, oldest first, with their bytes (envelope + files).
_EVICT_PENDING: Final = (
    "SELECT id, length(envelope),"
    " (SELECT COALESCE(SUM(size), 0) FROM files WHERE event_id = events.id)"
    " FROM events WHERE priority = ? AND state = 0 ORDER BY id LIMIT ?"
)
_EVICT_IN_FLIGHT: Final = (  # rows the uplink holds, those without files
    "SELECT id, length(envelope), 0 FROM events"
    " WHERE priority = ? AND state = 1"
    " AND NOT EXISTS (SELECT 1 FROM files WHERE event_id = events.id) ORDER BY id LIMIT ?"
)


def _once_more_on_a_full_disk(write: Callable[[], None]) -> None:
    """Run an uplink write (ack, release); if it is the one that found the disk full, run it
    once more: the failure started the disk-full episode, which lent out the reserve for
    exactly these writes. Without this, a release that filled the disk left its rows in flight
    until the next start: neither sent again nor evictable, so alarms and hardware events
    (the storage-fault event itself) were refused (found by scripts/faults, disk phase)."""
    try:
        write()
    except DiskFullError:
        write()
