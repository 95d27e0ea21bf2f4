"""Opening the outbox database: pragmas, schema, exclusive lock, and corruption quarantine.

A database that is not a database, or fails ``PRAGMA quick_check``, is moved aside (with its
``-wal``/``-shm`` and the files directory) to ``<name>.corrupt-<UTC timestamp>`` and a fresh one
is created: the agent keeps recording instead of crash-looping on a bad SD card.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Final

from agent.errors import StorageError
from agent.store.api import DiskFullError
from agent.store.files import DIR_MODE, FILE_MODE, fsync_dir
from agent.store.migrations import migrate

log = logging.getLogger(__name__)

DB_NAME: Final = "outbox.sqlite3"
LOCK_NAME: Final = "outbox.lock"
FILES_DIR: Final = "files"
CORRUPT_MARK: Final = ".corrupt-"

SQLITE_HEADER: Final = b"SQLite format 3\x00"
SQLITE_CORRUPT: Final = 11
SQLITE_FULL: Final = 13
SQLITE_NOTADB: Final = 26

# WAL keeps readers off the writer; FULL fsyncs the WAL at every commit (ignition off is a
# power cut). The WAL is truncated back to this size after a checkpoint.
JOURNAL_SIZE_LIMIT: Final = 8 * 1024 * 1024
BUSY_TIMEOUT_MS: Final = 10_000


class CorruptDatabaseError(Exception):
    """Internal: the file at the database path is unusable."""


def error_code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def storage_error(exc: sqlite3.Error, what: str) -> StorageError:
    """One readable :class:`StorageError` for a SQLite failure; disk full is said plainly."""
    code = error_code(exc)
    if code == SQLITE_FULL:
        return DiskFullError(f"disk full: {what}: the outbox database cannot grow ({exc})")
    return StorageError(f"{what}: {exc}")


def prepare_dir(data_dir: Path) -> None:
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if created:
        os.chmod(data_dir, DIR_MODE)
    files = data_dir / FILES_DIR
    files.mkdir(exist_ok=True, mode=DIR_MODE)
    os.chmod(files, DIR_MODE)


def acquire_lock(data_dir: Path) -> int:
    """Hold an exclusive lock for the outbox's lifetime: two agents on one outbox would both
    'recover' each other's rows in flight. The kernel drops it when the process dies."""
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(f"outbox {data_dir} is already in use by another process") from None
    return fd


def release_lock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def connect(db: Path) -> sqlite3.Connection:
    """Open (creating if needed), configure, check and migrate. Raises CorruptDatabaseError."""
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, FILE_MODE))  # -wal/-shm inherit 0600
    # Judge the header before SQLite sees the file: on a garbage file it would otherwise
    # discard a leftover -wal on close, which a technician may want to look at.
    with db.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise CorruptDatabaseError("file is not a database (bad header)")
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        _configure(conn)
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            raise CorruptDatabaseError("; ".join(str(r[0]) for r in rows[:5]))
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if error_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB):
            raise CorruptDatabaseError(str(exc)) from exc
        raise storage_error(exc, f"cannot open {db}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Must precede the first table; a no-op on an existing database.
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StorageError(f"cannot switch the outbox to WAL (journal_mode={mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")


def quarantine(data_dir: Path, reason: str) -> Path:
    """Move the database (+ -wal, -shm) and its files aside; return the new database path."""
    db = data_dir / DB_NAME
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = data_dir / f"{DB_NAME}{CORRUPT_MARK}{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = data_dir / f"{DB_NAME}{CORRUPT_MARK}{stamp}-{n}"
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{db}{suffix}")
        if src.exists():
            os.replace(src, f"{target}{suffix}")
    files = data_dir / FILES_DIR
    if files.exists():
        os.replace(files, data_dir / f"{FILES_DIR}{target.name[len(DB_NAME):]}")
    fsync_dir(data_dir)
    log.error("outbox database %s is corrupt (%s); moved to %s, starting a fresh one",
              db, reason, target)
    return target


def salvage_next_seq(corrupt_db: Path) -> int | None:
    """Best effort: the sequence counter of a quarantined database, so that ``sequenceNumber``
    keeps increasing across the quarantine. None when nothing trustworthy can be read."""
    found: list[int] = []
    for uri in (f"file:{corrupt_db}?mode=ro", f"file:{corrupt_db}?mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(uri, uri=True)
            try:
                for sql in ("SELECT value FROM meta WHERE key = 'next_seq'",
                            "SELECT max(seq) + 1 FROM events",
                            "SELECT max(seq) + 1 FROM dead_letters"):  # fmt: skip
                    with contextlib.suppress(sqlite3.Error):
                        row = conn.execute(sql).fetchone()
                        if row and isinstance(row[0], int) and row[0] > 0:
                            found.append(row[0])
            finally:
                conn.close()
        except sqlite3.Error:
            continue
        if found:
            break
    return max(found) if found else None


def quarantined_files(data_dir: Path) -> tuple[str, ...]:
    """Every database moved aside so far (they stay until a technician removes them)."""
    if not data_dir.is_dir():
        return ()
    found = [
        p.name for p in data_dir.iterdir()
        if p.name.startswith(DB_NAME + CORRUPT_MARK) and not p.name.endswith(("-wal", "-shm"))
    ]
    return tuple(sorted(found))


def file_bytes(db: Path) -> int:
    """Size on disk of the database and its -wal/-shm."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(f"{db}{suffix}").st_size
    return total
