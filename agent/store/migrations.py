"""Schema of the outbox database, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations have been applied. A migration is applied
inside the same ``BEGIN IMMEDIATE`` transaction that bumps ``user_version``, so a power cut
leaves the database either before or after it, never half-way. Append new migrations; never
edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from agent.errors import StorageError

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


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; return the version found before.

    ``conn`` must be in autocommit mode (``isolation_level=None``). A database newer than this
    code (a downgrade) is refused rather than guessed at.
    """
    found = schema_version(conn)
    if found > SCHEMA_VERSION:
        raise StorageError(
            f"outbox schema version {found} is newer than this agent's {SCHEMA_VERSION}"
            " (downgrade?); refusing to touch it"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
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
