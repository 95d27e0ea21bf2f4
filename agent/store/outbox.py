"""The durable outbox: events (and their files) waiting for the uplink, in one SQLite file.

- WAL + ``synchronous=FULL``: a commit is on disk when it returns (ignition off is a power cut).
- One connection, autocommit, explicit ``BEGIN IMMEDIATE``; a lock serialises the threads
  (the group-commit writer, the uplink's executor calls).
- Priority lanes (:class:`agent.events.Priority`): lower drains first, FIFO inside a lane.
- ``claim`` marks rows in flight atomically (``UPDATE … RETURNING``); ``ack`` deletes them with
  their files; ``release`` hands them back; rows still in flight at open (a crash) are pending
  again, so delivery is at-least-once (the cloud de-duplicates by ``ulid``).
- ``sequenceNumber`` comes from a persisted counter, assigned and baked into the stored JSON in
  the transaction that stores the event.
- A byte cap evicts pending rows lane by lane in :data:`EVICTION_ORDER`, oldest first; alarms
  are never evicted. See docs/outbox.md.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
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

if TYPE_CHECKING:
    from agent.config import StorageSettings

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
DEAD_LETTER_KEEP: Final = 1000  # newest kept; older ones pruned so they cannot fill the disk
MAX_ERROR_CHARS: Final = 2000
_EVICT_CHUNK: Final = 512
# Space set aside on the filesystem: released when the disk fills so the uplink can still
# claim and ack (every write, a delete too, needs room in the WAL); new events are refused
# until it can be put back.
RESERVE_NAME: Final = "outbox.reserve"
DEFAULT_RESERVE_BYTES: Final = 8 * 1024 * 1024  # > the WAL at auto-checkpoint (~4 MiB)
EVICTION_LOG_INTERVAL_S: Final = 60.0  # a full outbox evicts at every commit: log a summary

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


class Outbox:
    """The SQLite outbox (implements :class:`agent.store.api.OutboxReader`).

    Every method blocks (disk, fsync): call from a thread or an executor, never on the loop.
    Construct, use, then :meth:`close` (or use as a context manager).
    """

    def __init__(
        self,
        data_dir: Path,
        identity: DeviceIdentity,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        self._dir = data_dir
        self._reserve = files.Reserve(data_dir / RESERVE_NAME, reserve_bytes)
        self._db = data_dir / database.DB_NAME
        self._files = data_dir / database.FILES_DIR
        self._identity = identity
        self._max_bytes = max_bytes
        self._lock = threading.RLock()
        self._next_seq = 0
        self._event_bytes = 0
        self._files_bytes = 0
        self._dead_bytes = 0
        self._over_cap = False
        self._evicted_unlogged: dict[int, int] = {}
        self._evicted_logged_at = -EVICTION_LOG_INTERVAL_S
        self._lock_fd: int | None = None
        try:
            database.prepare_dir(data_dir)
            self._lock_fd = database.acquire_lock(data_dir)
        except OSError as exc:
            raise StorageError(f"cannot open the outbox in {data_dir}: {exc}") from exc
        try:
            self._quarantined_now: tuple[Path, ...] = ()
            try:
                self._conn = database.connect(self._db)
            except database.CorruptDatabaseError as exc:
                moved = database.quarantine(data_dir, str(exc))
                self._quarantined_now = (moved,)
                database.prepare_dir(data_dir)
                self._conn = database.connect(self._db)
                self._continue_sequence(database.salvage_next_seq(moved))
            self._page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
            self._recovered = self._recover()
            self._load_counters()
            orphans = files.sweep_orphans(self._files, self._referenced_paths())
            if orphans:
                log.info("removed %d orphaned outbox file(s) left by an interrupted write", orphans)
            self._enforce_cap_now()
            self._reserve.ensure()
        except OSError as exc:
            self._close_quietly()
            raise StorageError(f"cannot open the outbox in {data_dir}: {exc}") from exc
        except BaseException:
            self._close_quietly()
            raise

    @classmethod
    def from_settings(cls, storage: StorageSettings, identity: DeviceIdentity) -> Outbox:
        return cls(storage.data_dir, identity, max_bytes=storage.max_bytes)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._db

    @property
    def quarantined_at_open(self) -> tuple[Path, ...]:
        """Corrupt databases moved aside by *this* open: raise a storage-fault event for each."""
        return self._quarantined_now

    def close(self) -> None:
        with self._lock:
            if self._lock_fd is None:
                return
            try:
                # Fold the WAL back so a clean stop leaves one self-contained file.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as exc:
                log.warning("outbox checkpoint at close failed: %s", exc)
            self._close_quietly()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
        if self._lock_fd is not None:
            database.release_lock(self._lock_fd)
            self._lock_fd = None

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
        item alone (e.g. a bad file key). A failure of the transaction itself (disk full) raises
        and stores none of them; nothing committed earlier is touched.
        """
        results: list[int | StorageError] = []
        accepted: list[tuple[int, Event, _Staged]] = []
        self._check_room()
        for i, (event, attachments) in enumerate(items):
            try:
                staged = self._stage(attachments)
            except DiskFullError as exc:
                self._disk_full(exc)
                results.append(exc)
                continue
            except StorageError as exc:
                results.append(exc)
                continue
            results.append(-1)
            accepted.append((i, event, staged))
        if not accepted:
            return results
        try:
            outcomes = self._commit_appends([(event, staged) for _, event, staged in accepted])
        except BaseException:
            for _, _, staged in accepted:
                for _, s in staged:
                    s.undo()
            raise
        for (i, _, staged), outcome in zip(accepted, outcomes, strict=True):
            results[i] = outcome
            for _, s in staged:
                if isinstance(outcome, int):
                    s.committed()
                else:
                    s.undo()
        return results

    def _stage(self, attachments: Sequence[Attachment]) -> _Staged:
        """Write an event's files durably (outside the lock: fsyncs must not stall claims)."""
        done: _Staged = []
        try:
            for att in attachments:
                dest = files.location(self._files, str(att.ref.bucket), att.ref.filename)
                done.append((att, files.stage(dest, att.data)))
        except BaseException:
            for _, s in done:
                s.undo()
            raise
        return done

    def _commit_appends(
        self, all_entries: Sequence[tuple[Event, _Staged]]
    ) -> list[int | StorageError]:
        """Per entry, its sequence number or why it alone was refused (cannot be encoded)."""
        with self._lock:
            self._check_open()
            now = _now_ms()
            seq = self._next_seq
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
            with self._transaction("cannot store events") as conn:
                # Make room first so the new rows reuse the freed pages: the file then stays
                # near the cap instead of cap + one batch.
                freed, over = self._make_room(conn, self._used() + added_events + added_files)
                start = 0
                for k, (_, staged) in enumerate(entries):
                    if not staged:
                        continue
                    if start < k:
                        conn.executemany(_INSERT_EVENT, rows[start:k])
                    event_id = conn.execute(_INSERT_EVENT, rows[k]).lastrowid
                    conn.executemany(
                        "INSERT INTO files (event_id, bucket, key, content_type, size)"
                        " VALUES (?, ?, ?, ?, ?)",
                        [(event_id, str(a.ref.bucket), a.ref.filename, a.content_type, s.size)
                         for a, s in staged],
                    )
                    start = k + 1
                if start < len(rows):
                    conn.executemany(_INSERT_EVENT, rows[start:])
                conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq,))
                if over:  # the batch alone overflowed what could be freed: its own turn now
                    used = self._used() + added_events + added_files
                    more, over = self._make_room(conn, used - freed.event_bytes - freed.file_bytes)
                    freed.merge(more)
            self._next_seq = seq
            self._event_bytes += added_events - freed.event_bytes
            self._files_bytes += added_files - freed.file_bytes
            self._after_removal(freed, over)
            return outcomes

    # -- the uplink --------------------------------------------------------------------------

    def claim(self, limit: int) -> list[StoredEvent]:
        """Mark up to ``limit`` pending events in flight and return them, lane then FIFO order."""
        if limit <= 0:
            return []
        with self._lock:
            self._check_open()
            with self._transaction("cannot claim events") as conn:
                rows = conn.execute(
                    "UPDATE events SET state = 1 WHERE id IN ("
                    " SELECT id FROM events WHERE state = 0 ORDER BY priority, id LIMIT ?)"
                    " RETURNING id, ulid, seq, priority, envelope",
                    (limit,),
                ).fetchall()
                by_event: dict[int, list[StoredFile]] = {}
                if rows:
                    for fid, eid, bucket, key, ctype, size, uploaded in conn.execute(
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
            self._checkpoint_if_disk_full()
        rows.sort(key=lambda r: (r[3], r[0]))
        return [
            StoredEvent(
                row_id=rid, ulid=ulid, sequence_number=seq, priority=prio, envelope=bytes(env),
                files=tuple(by_event.get(rid, ())),
            )
            for rid, ulid, seq, prio, env in rows
        ]

    def mark_file_uploaded(self, file_id: int) -> None:
        with self._lock:
            self._check_open()
            with self._transaction("cannot mark file uploaded") as conn:
                conn.execute("UPDATE files SET uploaded = 1 WHERE id = ?", (file_id,))
            self._checkpoint_if_disk_full()

    def ack(self, row_ids: Sequence[int]) -> None:
        """The cloud has them: delete the rows and their files. Unknown ids are ignored."""
        if not row_ids:
            return
        with self._lock:
            self._check_open()
            with self._transaction("cannot ack events") as conn:
                freed = self._delete_events(conn, json.dumps(list(row_ids)))
            self._event_bytes -= freed.event_bytes
            self._files_bytes -= freed.file_bytes
            self._after_removal(freed, False)

    def release(self, row_ids: Sequence[int]) -> None:
        """Hand claimed rows back (upload failed, will retry); they keep their place in line."""
        if not row_ids:
            return
        with self._lock:
            self._check_open()
            with self._transaction("cannot release events") as conn:
                conn.execute(
                    "UPDATE events SET state = 0"
                    " WHERE state = 1 AND id IN (SELECT value FROM json_each(?))",
                    (json.dumps(list(row_ids)),),
                )
            self._checkpoint_if_disk_full()

    def dead_letter(self, row_id: int, error: str) -> None:
        """The cloud refused the event as invalid: keep it aside with the error, never re-send
        it on its own. Its files are deleted (the event will not be uploaded)."""
        error = error[:MAX_ERROR_CHARS]
        with self._lock:
            self._check_open()
            with self._transaction("cannot dead-letter event") as conn:
                cur = conn.execute(
                    "INSERT INTO dead_letters"
                    " (event_id, ulid, seq, priority, created_ms, failed_ms, error, envelope)"
                    " SELECT id, ulid, seq, priority, created_ms, ?, ?, envelope"
                    " FROM events WHERE id = ?",
                    (_now_ms(), error, row_id),
                )
                if cur.rowcount == 0:
                    return
                freed = self._delete_events(conn, json.dumps([row_id]))
                conn.execute(
                    "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?",
                    (DEAD_LETTER_KEEP,),
                )
                dead_bytes = _dead_bytes(conn)
            self._event_bytes -= freed.event_bytes
            self._files_bytes -= freed.file_bytes
            self._dead_bytes = dead_bytes
            self._after_removal(freed, False)

    # -- diagnostics -------------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        with self._lock:
            self._check_open()
            return read_stats(
                self._conn, self._dir, max_bytes=self._max_bytes, used_bytes=self._used(),
                over_cap=self._over_cap, recovered_in_flight=self._recovered,
                disk_full=self._reserve.released,
            )  # fmt: skip

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first."""
        with self._lock:
            self._check_open()
            return read_dead_letters(self._conn, limit)

    # -- internals ---------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            error = database.storage_error(exc, what)
            if isinstance(error, DiskFullError):
                self._disk_full(error)
            raise error from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:  # SQLite may already have rolled back (disk full)
                log.debug("rollback: %s", exc)

    def _disk_full(self, exc: DiskFullError) -> None:
        """Lend the reserve to the uplink and keep the WAL from needing new space."""
        self._reserve.release(str(exc))
        self._checkpoint_if_disk_full()

    def _checkpoint_if_disk_full(self) -> None:
        """While the disk is full, fold the WAL back after every write and truncate it: the
        WAL never holds more than one transaction, and its space goes back to the filesystem
        (the reserve pays for the fold's own growth of the database file)."""
        if not self._reserve.released:
            return
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as exc:
                log.warning("outbox checkpoint on a full disk failed: %s", exc)

    def _check_room(self) -> None:
        """Refuse new events while the disk-full reserve is spent (and cannot be put back)."""
        with self._lock:
            room = self._reserve.ensure()
        if not room:
            raise DiskFullError(
                "disk full: the outbox refuses new events until space frees"
                " (its reserve is lent to the uplink to drain)"
            )

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise StorageError("outbox is closed")

    def _recover(self) -> int:
        with self._transaction("cannot recover events in flight") as conn:
            n = conn.execute("UPDATE events SET state = 0 WHERE state = 1").rowcount
        if n:
            log.warning("outbox: %d event(s) were in flight at the last stop; re-queued", n)
        return n

    def _continue_sequence(self, next_seq: int | None) -> None:
        """Seed a fresh database's counter with what the quarantined one had reached."""
        if next_seq is None:
            log.warning("outbox: the quarantined database's sequence counter is unreadable; "
                        "sequenceNumber restarts at 1")
            return
        with self._transaction("cannot seed the sequence counter") as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'",
                         (next_seq % SEQ_MODULUS,))  # fmt: skip
        log.info("outbox: sequenceNumber continues at %d after the quarantine", next_seq)

    def _load_counters(self) -> None:
        conn = self._conn
        self._next_seq = int(
            conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]
        )
        self._event_bytes, self._files_bytes, self._dead_bytes = _counted_bytes(conn)

    def _referenced_paths(self) -> set[Path]:
        return {
            files.location(self._files, bucket, key)
            for bucket, key in self._conn.execute("SELECT bucket, key FROM files")
        }

    def _used(self) -> int:
        return self._event_bytes + self._files_bytes + self._dead_bytes

    def _enforce_cap_now(self) -> None:
        """At open: the cap may have been lowered since the data was written."""
        with self._transaction("cannot enforce the byte cap") as conn:
            freed, over = self._make_room(conn, self._used())
        self._event_bytes -= freed.event_bytes
        self._files_bytes -= freed.file_bytes
        self._after_removal(freed, over)

    def _make_room(self, conn: sqlite3.Connection, used: int) -> tuple[_Freed, bool]:
        """Inside a transaction: evict pending rows until ``used`` fits the cap.

        Returns what was freed and whether the cap is still exceeded (only alarms and rows in
        flight left). Alarms keep being accepted in that state.
        """
        freed = _Freed()
        excess = used - self._max_bytes
        for lane in EVICTION_ORDER:
            while excess > 0:
                candidates = conn.execute(
                    "SELECT id, length(envelope),"
                    " (SELECT COALESCE(SUM(size), 0) FROM files WHERE event_id = events.id)"
                    " FROM events WHERE state = 0 AND priority = ? ORDER BY id LIMIT ?",
                    (int(lane), _EVICT_CHUNK),
                ).fetchall()
                if not candidates:
                    break
                chosen: list[int] = []
                for rid, env_len, file_size in candidates:
                    chosen.append(rid)
                    excess -= env_len + ROW_OVERHEAD + file_size
                    if excess <= 0:
                        break
                part = self._delete_events(conn, json.dumps(chosen))
                conn.execute(
                    "INSERT INTO evictions (priority, count) VALUES (?, ?) ON CONFLICT (priority)"
                    " DO UPDATE SET count = count + excluded.count",
                    (int(lane), len(chosen)),
                )
                part.evicted[int(lane)] = len(chosen)
                freed.merge(part)
        return freed, excess > 0

    def _delete_events(self, conn: sqlite3.Connection, ids_json: str) -> _Freed:
        """Delete events (by a JSON array of ids) and their file rows; files go after commit."""
        freed = _Freed()
        gone = conn.execute(
            "DELETE FROM files WHERE event_id IN (SELECT value FROM json_each(?))"
            " RETURNING bucket, key, size",
            (ids_json,),
        ).fetchall()
        for bucket, key, size in gone:
            freed.file_bytes += size
            still_named = conn.execute(
                "SELECT 1 FROM files WHERE bucket = ? AND key = ? LIMIT 1", (bucket, key)
            ).fetchone()
            if still_named is None:
                freed.paths.append(files.location(self._files, bucket, key))
        for (env_len,) in conn.execute(
            "DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))"
            " RETURNING length(envelope)",
            (ids_json,),
        ).fetchall():
            freed.event_bytes += env_len + ROW_OVERHEAD
        return freed

    def _after_removal(self, freed: _Freed, over_cap: bool) -> None:
        """After a commit: delete files, log evictions, give free pages back when many."""
        files.remove(freed.paths)
        for lane, n in freed.evicted.items():
            self._evicted_unlogged[lane] = self._evicted_unlogged.get(lane, 0) + n
        now = time.monotonic()
        if self._evicted_unlogged and now - self._evicted_logged_at >= EVICTION_LOG_INTERVAL_S:
            log.warning("outbox at its %d-byte cap: evicted %s (lane: count) since the last report",
                        self._max_bytes, self._evicted_unlogged)
            self._evicted_unlogged = {}
            self._evicted_logged_at = now
        if over_cap and not self._over_cap:
            log.error("outbox over its %d-byte cap with only alarms left: still accepting "
                      "alarms", self._max_bytes)
        self._over_cap = over_cap
        self._maybe_vacuum()
        self._checkpoint_if_disk_full()
        if self._reserve.released:
            self._reserve.ensure()

    def _maybe_vacuum(self) -> None:
        """Give free pages back to the filesystem when there are many (or the disk is full)."""
        free_pages = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        threshold = 0 if self._reserve.released else max(self._max_bytes // 16, 64 * 1024)
        if free_pages and free_pages * self._page_size > threshold:
            try:  # executescript steps it to the end (execute() frees one page per call)
                self._conn.executescript("PRAGMA incremental_vacuum")
            except sqlite3.Error as exc:
                log.warning("outbox incremental vacuum failed: %s", exc)


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
) -> OutboxStats:
    """The counts behind :meth:`Outbox.stats`, from any connection (the diag's read-only one)."""
    pending = {
        int(p): int(n)
        for p, n in conn.execute(
            "SELECT priority, COUNT(*) FROM events WHERE state = 0 GROUP BY priority"
        )
    }
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
