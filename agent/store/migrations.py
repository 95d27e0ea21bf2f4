"""Schemas of the stores that share the database, each an ordered list of migrations.

A :class:`Schema` belongs to one store (the outbox here; the order journal registers its own
through :meth:`agent.store.database.Database.migrate`). Each records how many of its migrations
have been applied: the outbox in ``PRAGMA user_version`` (where it has lived since the first
release), every other schema in a row of ``schema_versions``. A migration is applied inside the
same ``BEGIN IMMEDIATE`` transaction that bumps its version, so a power cut leaves the database
either before or after it, never half-way. Append new migrations; never edit one that has
shipped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from agent.errors import StorageError


@dataclass(frozen=True, slots=True)
class Schema:
    """One store's tables: ``migrations[i]`` is the SQL script taking it from version i to i+1.

    ``in_user_version``: the version lives in ``PRAGMA user_version`` (the outbox only: one
    schema can own it); otherwise in ``schema_versions`` under ``name``.
    """

    name: str
    migrations: tuple[str, ...]
    in_user_version: bool = False

    @property
    def version(self) -> int:
        return len(self.migrations)


# Each entry is one SQL script (several statements), run in order.
MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: events, their files, dead letters, eviction counters, the sequence counter.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('next_seq', 1);

    -- AUTOINCREMENT: row ids are never reused, so a late ack can never hit a newer row, and
    -- id order is append order (FIFO inside a lane).
    CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        ulid       TEXT    NOT NULL,
        seq        INTEGER NOT NULL,
        priority   INTEGER NOT NULL,
        state      INTEGER NOT NULL DEFAULT 0,   -- 0 pending, 1 in flight
        created_ms INTEGER NOT NULL,
        envelope   BLOB    NOT NULL
    );
    CREATE INDEX events_pending ON events (priority, id) WHERE state = 0;
    CREATE INDEX events_in_flight ON events (id) WHERE state = 1;

    CREATE TABLE files (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        bucket       TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        content_type TEXT    NOT NULL,
        size         INTEGER NOT NULL,
        uploaded     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX files_event ON files (event_id);
    CREATE INDEX files_location ON files (bucket, key);

    CREATE TABLE dead_letters (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id   INTEGER NOT NULL,              -- the row id it had in events
        ulid       TEXT    NOT NULL,
        seq        INTEGER NOT NULL,
        priority   INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        failed_ms  INTEGER NOT NULL,
        error      TEXT    NOT NULL,
        envelope   BLOB    NOT NULL
    );

    CREATE TABLE evictions (
        priority INTEGER PRIMARY KEY,
        count    INTEGER NOT NULL
    );
    """,
)

SCHEMA_VERSION: Final[int] = len(MIGRATIONS)
OUTBOX_SCHEMA: Final = Schema("outbox", MIGRATIONS, in_user_version=True)

_VERSIONS_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_versions ("
    " name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID"
)


def schema_version(conn: sqlite3.Connection, schema: Schema = OUTBOX_SCHEMA) -> int:
    if schema.in_user_version:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    exists = conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_versions'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT version FROM schema_versions WHERE name = ?",
                       (schema.name,)).fetchone()  # fmt: skip
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, schema: Schema = OUTBOX_SCHEMA) -> int:
    """Bring ``schema`` up to its latest version; return the version found before.

    ``conn`` must be in autocommit mode (``isolation_level=None``) and outside a transaction.
    A database newer than this code (a downgrade) is refused rather than guessed at.
    """
    found = schema_version(conn, schema)
    if found > schema.version:
        raise StorageError(
            f"{schema.name} schema version {found} is newer than this agent's {schema.version}"
            " (downgrade?); refusing to touch it"
        )
    for version in range(found, schema.version):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(schema.migrations[version]):
                conn.execute(statement)
            if schema.in_user_version:
                conn.execute(f"PRAGMA user_version = {version + 1}")
            else:
                conn.execute(_VERSIONS_TABLE)
                conn.execute(
                    "INSERT INTO schema_versions (name, version) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                    (schema.name, version + 1),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def _statements(script: str) -> list[str]:
    """Split a script on statement boundaries (``executescript`` would COMMIT on its own)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
