"""The order journal: every order persisted before it is acted on, each ``orderUlid`` at most
once, and the durable queue of status messages to the cloud.

Same discipline as the outbox (docs/outbox.md): one autocommit connection, explicit
``BEGIN IMMEDIATE`` transactions, WAL with ``synchronous=FULL`` (ignition off is a power cut).
The journal does not own its connection: it takes a :class:`TransactionProvider` (anything
with a ``transaction()`` context manager yielding a ``sqlite3.Connection`` inside
``BEGIN IMMEDIATE``...``COMMIT``), so the agent can hand it the store's shared ``Database`` and
an order's terminal status commits in ONE transaction with the "order executed" event
appended to the outbox (the ``action`` of :meth:`OrderJournal.finish`). :class:`SqliteDatabase`
is a minimal provider on its own file (tests, or before the shared database exists).

Rules:

* :meth:`~OrderJournal.receive` journals a new order as ``RECEIVED`` and queues that status in
  the same transaction; a known ``orderUlid`` (redelivery, replay, the cloud's re-publish after
  a sync) is not journaled again: its recorded status is queued again as the answer.
* Terminal statuses are final: :meth:`~OrderJournal.finish` on a terminal order changes nothing
  and returns False (so a racing cancel and execution cannot both win).
* Status messages leave in the order they were queued (:meth:`~OrderJournal.pending`, then
  :meth:`~OrderJournal.ack`); at most ``max_queued`` wait, the oldest non-terminal ones are
  dropped first (a terminal status is the one that matters).
* A cancel of an order never received leaves a tombstone: the order is journaled ``FAILED``
  ("cancelled") without a body, so if it ever arrives it is answered, not executed.
* Wi-Fi passwords are blanked from a journaled order once it is terminal.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from agent.errors import StorageError
from agent.orders.model import Order, OrderStatus, StatusMessage

STATUS_TOPIC: Final = "orders/status"
BUSY_TIMEOUT_MS: Final = 10_000

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS order_journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ulid TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    body TEXT,
    verified INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    received_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    started_ms INTEGER,
    boot_id TEXT
);
CREATE INDEX IF NOT EXISTS order_journal_open ON order_journal (status, seq);
CREATE TABLE IF NOT EXISTS order_outgoing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    terminal INTEGER NOT NULL
);
"""

Action = Callable[[sqlite3.Connection], None]


class TransactionProvider(Protocol):
    """A database the journal can write through: ``with db.transaction() as conn:`` runs the
    body inside ``BEGIN IMMEDIATE`` and commits (or rolls back on an exception)."""

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


class SqliteDatabase:
    """A minimal :class:`TransactionProvider` on its own SQLite file (0600, WAL, FULL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"{path}: cannot switch to WAL (journal_mode={mode})")
            self._conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the order journal {path}: {exc}") from exc
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@dataclass(frozen=True, slots=True)
class Entry:
    ulid: str
    type: str
    status: OrderStatus
    detail: str
    received_ms: int
    updated_ms: int
    body: str | None  # the order's JSON (None: a tombstone)
    verified: bool
    started_ms: int | None = None
    boot_id: str | None = None

    def order(self) -> Order | None:
        return None if self.body is None else Order.from_journal(self.body,
                                                                   verified=self.verified)


@dataclass(frozen=True, slots=True)
class Receipt:
    new: bool  # False: already journaled (the answer is the recorded status)
    status: OrderStatus
    detail: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    topic: str  # relative to v3/devices/{ds}/
    payload: bytes


@dataclass(frozen=True, slots=True)
class Finish:
    """One status change inside :meth:`OrderJournal.finish_many`."""

    ulid: str
    status: OrderStatus
    detail: str
    create: bool = False  # journal a tombstone when the order is unknown


_SELECT: Final = ("SELECT ulid, type, status, detail, received_ms, updated_ms, body, verified, "
                  "started_ms, boot_id FROM order_journal")


class OrderJournal:
    """All methods block (SQLite, fsync): call them from a thread (``asyncio.to_thread``)."""

    def __init__(self, db: TransactionProvider, *, max_queued: int = 10_000) -> None:
        self._db = db
        self.max_queued = max_queued
        self.dropped = 0
        try:
            with db.transaction() as conn:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        except sqlite3.Error as exc:
            raise StorageError(f"order journal: cannot create its tables: {exc}") from exc

    # --- writes ------------------------------------------------------------------------------

    def receive(self, order: Order, now_ms: int) -> Receipt:
        """Journal ``order`` (RECEIVED) or answer with its recorded status; queues the status."""
        with self._tx("receive") as conn:
            row = conn.execute("SELECT status, detail FROM order_journal WHERE ulid = ?",
                               (order.order_ulid,)).fetchone()
            if row is not None:
                status = OrderStatus(row[0])
                self._queue(conn, StatusMessage(order.order_ulid, status, row[1], now_ms))
                return Receipt(False, status, row[1])
            conn.execute(
                "INSERT INTO order_journal (ulid, type, body, verified, status, detail, "
                "received_ms, updated_ms) VALUES (?, ?, ?, ?, ?, '', ?, ?)",
                (order.order_ulid, order.type, order.to_json(), int(order.verified),
                 OrderStatus.RECEIVED.value, now_ms, now_ms))
            self._queue(conn, StatusMessage(order.order_ulid, OrderStatus.RECEIVED, "", now_ms))
            return Receipt(True, OrderStatus.RECEIVED, "")

    def refuse(self, ulid: str | None, kind: str, status: OrderStatus, detail: str, now_ms: int,
               *, journal: bool) -> Receipt:
        """Answer an order that will not be executed (REJECTED/EXPIRED).

        ``journal``: record it under its id (only for authentic messages: a forged one must not
        take the id of a real order). A known id is answered with its recorded status instead.
        """
        with self._tx("refuse") as conn:
            if ulid is not None:
                row = conn.execute("SELECT status, detail FROM order_journal WHERE ulid = ?",
                                   (ulid,)).fetchone()
                if row is not None:
                    recorded = OrderStatus(row[0])
                    self._queue(conn, StatusMessage(ulid, recorded, row[1], now_ms))
                    return Receipt(False, recorded, row[1])
                if journal:
                    conn.execute(
                        "INSERT INTO order_journal (ulid, type, body, status, detail, "
                        "received_ms, updated_ms) VALUES (?, ?, NULL, ?, ?, ?, ?)",
                        (ulid, kind[:64], status.value, detail, now_ms, now_ms))
            self._queue(conn, StatusMessage(ulid, status, detail, now_ms))
            return Receipt(True, status, detail)

    def update(self, ulid: str, detail: str, now_ms: int) -> bool:
        """A non-terminal order's new detail (still RECEIVED: why it waits); queues it."""
        return self.finish_many([Finish(ulid, OrderStatus.RECEIVED, detail)], now_ms)[0]

    def mark_started(self, ulid: str, now_ms: int, boot_id: str | None = None) -> bool:
        """The order is being carried out (a reboot: with the boot it was asked in)."""
        with self._tx("mark started") as conn:
            cur = conn.execute(
                "UPDATE order_journal SET started_ms = ?, boot_id = ?, updated_ms = ? "
                "WHERE ulid = ? AND status = ?",
                (now_ms, boot_id, now_ms, ulid, OrderStatus.RECEIVED.value))
            return cur.rowcount == 1

    def finish(self, ulid: str, status: OrderStatus, detail: str, now_ms: int,
               action: Action | None = None) -> bool:
        """Set the status (and queue it) and run ``action`` in the same transaction.

        False (nothing changed, ``action`` not run) when the order is unknown or already
        terminal."""
        return self.finish_many([Finish(ulid, status, detail)], now_ms, action)[0]

    def finish_many(self, changes: Sequence[Finish], now_ms: int,
                    action: Action | None = None) -> list[bool]:
        """Several status changes (a cancel and its target) and ``action`` in one transaction;
        ``action`` runs when at least one change applied."""
        done: list[bool] = []
        with self._tx("finish") as conn:
            for c in changes:
                done.append(self._set(conn, c, now_ms))
            if action is not None and any(done):
                action(conn)
        return done

    def _set(self, conn: sqlite3.Connection, c: Finish, now_ms: int) -> bool:
        row = conn.execute("SELECT status, body FROM order_journal WHERE ulid = ?",
                           (c.ulid,)).fetchone()
        if row is None:
            if not c.create:
                return False
            conn.execute(
                "INSERT INTO order_journal (ulid, type, body, status, detail, received_ms, "
                "updated_ms) VALUES (?, '', NULL, ?, ?, ?, ?)",
                (c.ulid, c.status.value, c.detail, now_ms, now_ms))
        else:
            if OrderStatus(row[0]).terminal:
                return False
            body = row[1]
            if c.status.terminal and body is not None:
                body = _redact(body)
            conn.execute(
                "UPDATE order_journal SET status = ?, detail = ?, updated_ms = ?, body = ? "
                "WHERE ulid = ?", (c.status.value, c.detail, now_ms, body, c.ulid))
        self._queue(conn, StatusMessage(c.ulid, c.status, c.detail, now_ms))
        return True

    def _queue(self, conn: sqlite3.Connection, msg: StatusMessage) -> None:
        conn.execute("INSERT INTO order_outgoing (topic, payload, terminal) VALUES (?, ?, ?)",
                     (STATUS_TOPIC, msg.payload(), int(msg.status.terminal)))
        (count,) = conn.execute("SELECT count(*) FROM order_outgoing").fetchone()
        over = count - self.max_queued
        if over > 0:
            for terminal in (0, 1):
                if over <= 0:
                    break
                cur = conn.execute(
                    "DELETE FROM order_outgoing WHERE id IN (SELECT id FROM order_outgoing "
                    "WHERE terminal = ? ORDER BY id LIMIT ?)", (terminal, over))
                over -= cur.rowcount
                self.dropped += cur.rowcount

    def ack(self, ids: Sequence[int]) -> None:
        """These queued messages reached the broker (PUBACK): forget them."""
        if not ids:
            return
        with self._tx("ack") as conn:
            conn.executemany("DELETE FROM order_outgoing WHERE id = ?", [(i,) for i in ids])

    def prune(self, before_ms: int) -> int:
        """Forget terminal orders last changed before ``before_ms``; returns how many."""
        with self._tx("prune") as conn:
            cur = conn.execute(
                "DELETE FROM order_journal WHERE updated_ms < ? AND status != ?",
                (before_ms, OrderStatus.RECEIVED.value))
            return cur.rowcount

    # --- reads -------------------------------------------------------------------------------

    def get(self, ulid: str) -> Entry | None:
        with self._tx("read") as conn:
            row = conn.execute(_SELECT + " WHERE ulid = ?",
                               (ulid,)).fetchone()
        return None if row is None else _entry(row)

    def open_orders(self) -> list[Entry]:
        """Orders not yet terminal, in arrival order (recovery, ``orders/sync``)."""
        with self._tx("read") as conn:
            rows = conn.execute(_SELECT + " WHERE status = ? ORDER BY seq",
                                (OrderStatus.RECEIVED.value,)).fetchall()
        return [_entry(r) for r in rows]

    def last_order_ulid(self) -> str | None:
        with self._tx("read") as conn:
            row = conn.execute("SELECT ulid FROM order_journal WHERE body IS NOT NULL "
                               "ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def pending(self, limit: int = 100) -> list[Outgoing]:
        with self._tx("read") as conn:
            rows = conn.execute("SELECT id, topic, payload FROM order_outgoing ORDER BY id "
                                "LIMIT ?", (limit,)).fetchall()
        return [Outgoing(r[0], r[1], bytes(r[2])) for r in rows]

    def queued(self) -> int:
        with self._tx("read") as conn:
            return int(conn.execute("SELECT count(*) FROM order_outgoing").fetchone()[0])

    @contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        try:
            with self._db.transaction() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"order journal: {what}: {exc}") from exc


def _entry(r: Any) -> Entry:
    return Entry(str(r[0]), str(r[1]), OrderStatus(str(r[2])), str(r[3]), int(r[4]), int(r[5]),
                 None if r[6] is None else str(r[6]), bool(r[7]),
                 None if r[8] is None else int(r[8]), None if r[9] is None else str(r[9]))


def _redact(body: str) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return body
    params = obj.get("params") if isinstance(obj, dict) else None
    if isinstance(params, dict) and "password" in params:
        params["password"] = ""
        return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return body
