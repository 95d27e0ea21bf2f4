"""The cloud's storage: one SQLite database (WAL) for events and file records, objects on disk.

All methods are blocking and must be called from the single database thread the app owns
(:class:`CloudStore` is not thread-safe on purpose: one writer, no lock juggling).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ulid TEXT NOT NULL UNIQUE,
    account_ulid TEXT NOT NULL,
    device_source TEXT NOT NULL,
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 1,
    envelope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_device_ts ON events (device_source, ts);
CREATE INDEX IF NOT EXISTS events_account_ts ON events (account_ulid, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS files (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    uploaded_ms INTEGER NOT NULL,
    puts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    order_ulid TEXT NOT NULL UNIQUE,
    device_source TEXT NOT NULL,
    type TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    withdrawn_by TEXT
);
CREATE INDEX IF NOT EXISTS orders_device ON orders (device_source, id);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status, id);
CREATE TABLE IF NOT EXISTS order_history (
    id INTEGER PRIMARY KEY,
    order_ulid TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS order_history_ulid ON order_history (order_ulid, id);
CREATE TABLE IF NOT EXISTS device_documents (
    device_source TEXT NOT NULL,
    kind TEXT NOT NULL,
    document TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (device_source, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS etrack_tokens (
    token TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS etrack_tokens_account ON etrack_tokens (account, revoked);
CREATE TABLE IF NOT EXISTS etrack_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    imei TEXT NOT NULL,
    command TEXT NOT NULL,
    order_ulid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS etrack_fences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    imei TEXT NOT NULL,
    name TEXT NOT NULL,
    order_ulid TEXT
);
CREATE TABLE IF NOT EXISTS client_bindings (
    client_id TEXT PRIMARY KEY,
    device_source TEXT NOT NULL,
    account_ulid TEXT NOT NULL
) WITHOUT ROWID;
"""

EventRow = tuple[str, str, str, int, int, int, str]  # ulid, account, device, ts, seq, recv, json

# The cloud's own order statuses (seed 000: PENDING stored, SENT published), then the device's.
PENDING, SENT = "PENDING", "SENT"
DEVICE_STATUSES = frozenset({"RECEIVED", "SUCCEEDED", "FAILED", "REJECTED", "EXPIRED"})
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "EXPIRED"})
_OPEN = (PENDING, SENT, "RECEIVED")


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_ulid: str
    device_source: str
    type: str
    message: str  # the order message as published, without signature (JSON text)
    status: str
    detail: str
    created_ms: int
    updated_ms: int
    withdrawn_by: str | None  # the cancel order that withdrew it (DELETE), if any

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


_ORDER_COLUMNS = (
    "order_ulid, device_source, type, message, status, detail, created_ms, updated_ms, withdrawn_by"
)


@dataclass(frozen=True, slots=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    sha256: str
    content_type: str
    path: Path


class CloudStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.objects_dir = data_dir / "objects"
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            data_dir / "cloud.sqlite3", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a process kill loses nothing
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- events ------------------------------------------------------------------------------
    def insert_events(self, rows: Sequence[EventRow]) -> tuple[int, int]:
        """Store new events, count re-deliveries of known ulids; return (inserted, duplicates)."""
        if not rows:
            return 0, 0
        ulids = [r[0] for r in rows]
        known: set[str] = set()
        for chunk in _chunks(ulids, 900):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT ulid FROM events WHERE ulid IN ({marks})"
            known.update(u for (u,) in self._db.execute(sql, chunk))
        fresh: dict[str, EventRow] = {}
        dups: list[str] = []
        for row in rows:
            if row[0] in known or row[0] in fresh:
                dups.append(row[0])
            else:
                fresh[row[0]] = row
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT INTO events (ulid, account_ulid, device_source, ts, seq, received_ms,"
                " envelope) VALUES (?, ?, ?, ?, ?, ?, ?)",
                list(fresh.values()),
            )
            if dups:
                self._db.executemany(
                    "UPDATE events SET deliveries = deliveries + 1 WHERE ulid = ?",
                    [(u,) for u in dups],
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return len(fresh), len(dups)

    def latest(self, items: Sequence[str], limit: int) -> list[str]:
        """Newest first: events whose ulid, accountulid or deviceSource is one of ``items``."""
        uniq = list(dict.fromkeys(items))[:300]
        if not uniq:
            return []
        marks = ",".join("?" * len(uniq))
        sql = (
            f"SELECT envelope FROM events WHERE ulid IN ({marks}) OR account_ulid IN ({marks})"
            f" OR device_source IN ({marks}) ORDER BY ts DESC, ulid DESC LIMIT ?"
        )
        return [e for (e,) in self._db.execute(sql, [*uniq, *uniq, *uniq, limit])]

    def search(self, device_source: str, start_ms: int, end_ms: int, limit: int) -> list[str]:
        """Oldest first: one device's events with ``start_ms <= timestamp < end_ms``."""
        sql = (
            "SELECT envelope FROM events WHERE device_source = ? AND ts >= ? AND ts < ?"
            " ORDER BY ts, ulid LIMIT ?"
        )
        return [e for (e,) in self._db.execute(sql, (device_source, start_ms, end_ms, limit))]

    def deliveries(self, ulids: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(list(ulids), 900):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT ulid, deliveries FROM events WHERE ulid IN ({marks})"
            out.update(dict(self._db.execute(sql, chunk)))
        return out

    # --- orders --------------------------------------------------------------------------------
    def insert_orders(self, rows: Sequence[OrderRow]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._insert_orders(rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _insert_orders(self, rows: Sequence[OrderRow]) -> None:
        self._db.executemany(
            f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.order_ulid, r.device_source, r.type, r.message, r.status, r.detail,
                 r.created_ms, r.updated_ms, r.withdrawn_by)
                for r in rows
            ],
        )  # fmt: skip
        self._db.executemany(
            "INSERT INTO order_history (order_ulid, status, detail, at_ms) VALUES (?, ?, ?, ?)",
            [(r.order_ulid, r.status, r.detail, r.created_ms) for r in rows],
        )

    def _history(self, order_ulid: str, status: str, detail: str, now_ms: int) -> None:
        self._db.execute(
            "INSERT INTO order_history (order_ulid, status, detail, at_ms) VALUES (?, ?, ?, ?)",
            (order_ulid, status, detail, now_ms),
        )

    def history(self, order_ulid: str) -> list[tuple[str, str, int]]:
        """Every status the order went through: (status, detail, epoch ms), oldest first."""
        rows = self._db.execute(
            "SELECT status, detail, at_ms FROM order_history WHERE order_ulid = ? ORDER BY id",
            (order_ulid,),
        )
        return [(str(s), str(d), int(t)) for s, d, t in rows]

    def _orders(self, where: str, args: Sequence[object], limit: int = -1) -> list[OrderRow]:
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where} ORDER BY id LIMIT ?"
        return [OrderRow(*row) for row in self._db.execute(sql, (*args, limit))]

    def order(self, order_ulid: str) -> OrderRow | None:
        rows = self._orders("order_ulid = ?", (order_ulid,))
        return rows[0] if rows else None

    def device_orders(self, device_source: str, limit: int) -> list[OrderRow]:
        """The device's newest ``limit`` orders, oldest first."""
        sql = (
            f"SELECT * FROM (SELECT id, {_ORDER_COLUMNS} FROM orders WHERE device_source = ?"
            " ORDER BY id DESC LIMIT ?) ORDER BY id"
        )
        return [OrderRow(*row[1:]) for row in self._db.execute(sql, (device_source, limit))]

    def unsent_orders(self, limit: int) -> list[OrderRow]:
        """PENDING orders to publish (not withdrawn), oldest first."""
        return self._orders("status = ? AND withdrawn_by IS NULL", (PENDING,), limit)

    def open_orders(self, device_source: str, withdrawable: bool = False) -> list[OrderRow]:
        """Orders of the device that are not terminal here and not withdrawn, oldest first.
        ``withdrawable``: cancel orders left out (a cancel is not itself withdrawn)."""
        marks = ",".join("?" * len(_OPEN))
        where = f"device_source = ? AND status IN ({marks}) AND withdrawn_by IS NULL"
        if withdrawable:
            where += " AND type != 'cancel'"
        return self._orders(where, (device_source, *_OPEN))

    def mark_sent(self, order_ulid: str, now_ms: int) -> bool:
        """PENDING → SENT once the broker took the publish (a device status may be first)."""
        cur = self._db.execute(
            "UPDATE orders SET status = ?, updated_ms = ? WHERE order_ulid = ? AND status = ?",
            (SENT, now_ms, order_ulid, PENDING),
        )
        if cur.rowcount == 1:
            self._history(order_ulid, SENT, "", now_ms)
        return cur.rowcount == 1

    def set_status(
        self, order_ulid: str, device_source: str, status: str, detail: str, now_ms: int
    ) -> OrderRow | None:
        """Apply a device's status; None when the order is unknown (or another device's) or
        already terminal here (terminal is final, as on the device)."""
        row = self.order(order_ulid)
        if row is None or row.device_source != device_source or row.terminal:
            return None
        if (row.status, row.detail) == (status, detail):
            return row  # the same status again (a redelivery answered): nothing new
        if row.status == PENDING:  # the device answered before the broker's PUBACK was seen
            self._history(order_ulid, SENT, "", now_ms)
        self._db.execute(
            "UPDATE orders SET status = ?, detail = ?, updated_ms = ? WHERE order_ulid = ?",
            (status, detail, now_ms, order_ulid),
        )
        self._history(order_ulid, status, detail, now_ms)
        return self.order(order_ulid)

    def withdraw(self, order_ulid: str, cancel: OrderRow) -> None:
        """Mark ``order_ulid`` withdrawn by ``cancel`` and store the cancel, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "UPDATE orders SET withdrawn_by = ?, updated_ms = ? WHERE order_ulid = ?",
                (cancel.order_ulid, cancel.created_ms, order_ulid),
            )
            self._insert_orders([cancel])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def put_document(self, device_source: str, kind: str, text: str | None, now_ms: int) -> None:
        """The latest retained presence/state/config-reported of a device (None: cleared)."""
        if text is None:
            self._db.execute(
                "DELETE FROM device_documents WHERE device_source = ? AND kind = ?",
                (device_source, kind),
            )
            return
        self._db.execute(
            "INSERT INTO device_documents (device_source, kind, document, received_ms)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (device_source, kind) DO UPDATE SET"
            " document = excluded.document, received_ms = excluded.received_ms",
            (device_source, kind, text, now_ms),
        )

    def documents(self, device_source: str) -> dict[str, tuple[str, int]]:
        rows = self._db.execute(
            "SELECT kind, document, received_ms FROM device_documents WHERE device_source = ?",
            (device_source,),
        )
        return {str(k): (str(d), int(t)) for k, d, t in rows}

    # --- clients -------------------------------------------------------------------------------
    def binding(self, client_id: str) -> tuple[str, str] | None:
        """(deviceSource, accountulid) learnt from the client's first accepted event."""
        row = self._db.execute(
            "SELECT device_source, account_ulid FROM client_bindings WHERE client_id = ?",
            (client_id,),
        ).fetchone()
        return (str(row[0]), str(row[1])) if row is not None else None

    def bind(self, client_id: str, device_source: str, account_ulid: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO client_bindings (client_id, device_source, account_ulid)"
            " VALUES (?, ?, ?)",
            (client_id, device_source, account_ulid),
        )

    # --- etrack (scripts/standin_cloud/etrack.py) ---------------------------------------------
    def etrack_issue_token(self, account: str, token: str, now_ms: int, expires_ms: int) -> None:
        """A new access token for ``account``; its older ones stop working at once (seed 004
        2.1). Tokens expired for a day are forgotten."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "UPDATE etrack_tokens SET revoked = 1 WHERE account = ? AND revoked = 0",
                (account,),
            )
            self._db.execute(
                "DELETE FROM etrack_tokens WHERE expires_ms < ?", (now_ms - 86_400_000,)
            )
            self._db.execute(
                "INSERT INTO etrack_tokens (token, account, expires_ms) VALUES (?, ?, ?)",
                (token, account, expires_ms),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def etrack_token(self, token: str) -> tuple[str, int, bool] | None:
        """(account, expires_ms, revoked) of a token issued here, or None."""
        row = self._db.execute(
            "SELECT account, expires_ms, revoked FROM etrack_tokens WHERE token = ?", (token,)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), bool(row[2]))

    def etrack_add_command(self, account: str, imei: str, command: str, order: OrderRow) -> int:
        """Store the command's order and its etrack command number in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._insert_orders([order])
            cur = self._db.execute(
                "INSERT INTO etrack_commands (account, imei, command, order_ulid)"
                " VALUES (?, ?, ?, ?)",
                (account, imei, command, order.order_ulid),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        assert cur.lastrowid is not None
        return cur.lastrowid

    def etrack_command(self, number: int, account: str) -> tuple[str, OrderRow] | None:
        """(command, its order) of the account's command ``number``; None if not the account's."""
        row = self._db.execute(
            "SELECT command, order_ulid FROM etrack_commands WHERE id = ? AND account = ?",
            (number, account),
        ).fetchone()
        if row is None:
            return None
        order = self.order(str(row[1]))
        return None if order is None else (str(row[0]), order)

    def etrack_add_fence(
        self, account: str, imei: str, name: str, make: Callable[[int], OrderRow]
    ) -> OrderRow:
        """Number a new fence and store its ``geofence.set`` order (``make(number)``), in one
        transaction: a refused order (``make`` raises) leaves nothing behind."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute(
                "INSERT INTO etrack_fences (account, imei, name) VALUES (?, ?, ?)",
                (account, imei, name),
            )
            assert cur.lastrowid is not None
            order = make(cur.lastrowid)
            self._insert_orders([order])
            self._db.execute(
                "UPDATE etrack_fences SET order_ulid = ? WHERE id = ?",
                (order.order_ulid, cur.lastrowid),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return order

    # --- files ---------------------------------------------------------------------------------
    def object_path(self, bucket: str, key: str) -> Path:
        return object_file(self.objects_dir, bucket, key)

    def record_file(
        self, bucket: str, key: str, *, size: int, sha256: str, content_type: str, now_ms: int
    ) -> None:
        self._db.execute(
            "INSERT INTO files (bucket, key, size, sha256, content_type, uploaded_ms)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, key) DO UPDATE SET"
            " size = excluded.size, sha256 = excluded.sha256,"
            " content_type = excluded.content_type, uploaded_ms = excluded.uploaded_ms,"
            " puts = puts + 1",
            (bucket, key, size, sha256, content_type, now_ms),
        )

    def get_file(self, bucket: str, key: str) -> StoredObject | None:
        row = self._db.execute(
            "SELECT size, sha256, content_type FROM files WHERE bucket = ? AND key = ?",
            (bucket, key),
        ).fetchone()
        if row is None:
            return None
        return StoredObject(bucket, key, row[0], row[1], row[2], self.object_path(bucket, key))

    def missing_files(self, refs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        missing: set[tuple[str, str]] = set()
        for bucket, key in set(refs):
            row = self._db.execute(
                "SELECT 1 FROM files WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            if row is None:
                missing.add((bucket, key))
        return missing

    # --- admin ---------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        (events, redelivered) = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(deliveries - 1), 0) FROM events"
        ).fetchone()
        (files, bytes_) = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files"
        ).fetchone()
        counts = dict(
            self._db.execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall()
        )
        return {
            "orders": sum(int(n) for n in counts.values()),
            **{f"orders_{str(k).lower()}": int(n) for k, n in counts.items()},
            "events": int(events),
            "redeliveries": int(redelivered),
            "files": int(files),
            "file_bytes": int(bytes_),
        }


def object_file(objects_dir: Path, bucket: str, key: str) -> Path:
    """Where the bytes of ``bucket/key`` live: named by the key's SHA-256, not by the key.

    S3 keys are flat strings: "a/b" and "a/b/c.png" are two objects, and a key part may be
    longer than a file name may be (NAME_MAX 255). Mapping keys onto directories made both a
    500 (a file where a directory is needed, or ENAMETOOLONG); a hash has neither problem.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return objects_dir / bucket / digest[:2] / digest


def write_object_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temp file, fsync, rename: a crash never leaves a half object under its key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with tmp.open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
