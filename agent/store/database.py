"""The agent's SQLite database, shared by the stores that live in it (the outbox, the order
journal): one connection, one lock, explicit transactions, schema migrations, the disk reserve.

- :class:`Database` opens (pragmas, exclusive lock, quick check, migrations), serialises the
  threads that use it, and runs every write in :meth:`Database.transaction` (``BEGIN
  IMMEDIATE`` … ``COMMIT``/``ROLLBACK``). Stores write inside a caller's transaction, so an
  order's result and its event commit together.
- A ``-wal`` that is not a write-ahead log (SQLite would drop it silently) is moved aside on
  its own and reported; the database stays. A database that is not a database, that this
  user cannot read and write, or that fails ``PRAGMA quick_check``, is moved aside (with its
  ``-wal``/``-shm`` and the files directory) to ``<name>.corrupt-<UTC timestamp>`` and a fresh
  one is created: the agent keeps recording instead of crash-looping on a bad SD card.
- Disk full: a reserve file is lent out when the partition fills, so claims and acks can still
  drain; sizes follow the partition (:class:`DiskBudget`). See docs/outbox.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from agent.errors import StorageError
from agent.store.api import DiskFullError, StorageFault
from agent.store.files import DIR_MODE, FILE_MODE, Reserve, fsync_dir
from agent.store.migrations import OUTBOX_SCHEMA, Schema, migrate

if TYPE_CHECKING:
    from agent.config import StorageSettings

log = logging.getLogger(__name__)

DB_NAME: Final = "outbox.sqlite3"
LOCK_NAME: Final = "outbox.lock"
FILES_DIR: Final = "files"
CORRUPT_MARK: Final = ".corrupt-"

SQLITE_HEADER: Final = b"SQLite format 3\x00"
WAL_MAGIC: Final = (0x377F0682, 0x377F0683)  # the -wal header's first 4 bytes (big-endian)
WAL_HEADER_BYTES: Final = 32
SQLITE_CORRUPT: Final = 11
SQLITE_FULL: Final = 13
SQLITE_NOTADB: Final = 26

# WAL keeps readers off the writer; FULL fsyncs the WAL at every commit (ignition off is a
# power cut). The WAL is truncated back to at most this size after a checkpoint.
JOURNAL_SIZE_LIMIT: Final = 8 * 1024 * 1024
BUSY_TIMEOUT_MS: Final = 10_000

# Space set aside on the filesystem: released when the disk fills so the uplink can still
# claim and ack (every write, a delete too, needs room in the WAL); events of the lower lanes
# are refused until it can be put back. Scaled down on small partitions (DiskBudget).
RESERVE_NAME: Final = "outbox.reserve"
DEFAULT_RESERVE_BYTES: Final = 8 * 1024 * 1024  # > the WAL at auto-checkpoint (4 MiB)
MIN_RESERVE_BYTES: Final = 64 * 1024
MAX_WAL_BYTES: Final = 4 * 1024 * 1024  # SQLite's default auto-checkpoint: 1000 pages of 4 KiB
MIN_WAL_PAGES: Final = 16


@dataclass(frozen=True, slots=True)
class DiskBudget:
    """Disk sizes that follow the partition (``statvfs``), so a small one still works.

    - ``reserve_bytes``: the requested reserve, at most 1/8 of the partition (at least
      :data:`MIN_RESERVE_BYTES`): 8 MiB from a 64 MiB partition up, 384 KiB on 3 MiB.
    - ``resume_free_bytes``: a full disk counts as recovered (reserve restored, every lane
      accepted again) once this much is free: twice the reserve, so the first write after it
      does not fill the disk again.
    - ``wal_autocheckpoint_pages``: the WAL is folded back at 1/16 of the partition (at most
      SQLite's default 4 MiB), so a checkpoint's growth of the database always fits in the
      reserve; ``journal_size_limit``: what a checkpoint truncates the WAL back to.
    """

    partition_bytes: int
    reserve_bytes: int
    resume_free_bytes: int
    wal_autocheckpoint_pages: int
    journal_size_limit: int

    @classmethod
    def for_partition(
        cls, partition_bytes: int, requested_reserve: int, page_size: int = 4096
    ) -> DiskBudget:
        reserve = 0
        if requested_reserve > 0:
            reserve = min(requested_reserve, max(MIN_RESERVE_BYTES, partition_bytes // 8))
        wal = min(MAX_WAL_BYTES, max(MIN_WAL_PAGES * page_size, partition_bytes // 16))
        return cls(
            partition_bytes=partition_bytes,
            reserve_bytes=reserve,
            resume_free_bytes=2 * reserve,
            wal_autocheckpoint_pages=max(MIN_WAL_PAGES, wal // page_size),
            journal_size_limit=min(JOURNAL_SIZE_LIMIT, 2 * wal),
        )

    @classmethod
    def of(cls, directory: Path, requested_reserve: int) -> DiskBudget:
        st = os.statvfs(directory)
        return cls.for_partition(st.f_blocks * st.f_frsize, requested_reserve)


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


def connect(db: Path, schemas: Sequence[Schema] = (OUTBOX_SCHEMA,)) -> sqlite3.Connection:
    """Open (creating if needed), configure, check and migrate. Raises CorruptDatabaseError."""
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, FILE_MODE))  # -wal/-shm inherit 0600
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            # e.g. made by root beside an agent running as its own user: moved aside like a
            # corrupt file (kept for a technician) rather than a restart loop recording nothing
            raise CorruptDatabaseError(f"{path.name} is not readable and writable by this user")
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
        for schema in schemas:
            migrate(conn, schema)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if error_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB):
            raise CorruptDatabaseError(str(exc)) from exc
        raise storage_error(exc, f"cannot open {db}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def wal_is_garbage(wal: Path) -> bool:
    """A ``-wal`` long enough to hold frames whose header is not a valid WAL header (magic,
    format version 3007000, a power-of-two page size, the header checksum): SQLite ignores
    such a file, and with it whatever was committed in it. Empty or header-only: False."""
    try:
        with wal.open("rb") as f:
            head = f.read(WAL_HEADER_BYTES + 1)
    except OSError:
        return False  # missing; unreadable is connect()'s to report
    if len(head) <= WAL_HEADER_BYTES:
        return False  # no frame could be in it: nothing is lost whatever the header says
    words = [int.from_bytes(head[i:i + 4], "big") for i in range(0, WAL_HEADER_BYTES, 4)]
    magic, version, page_size = words[0], words[1], words[2]
    if magic not in WAL_MAGIC or version != 3007000:
        return True
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return True
    order: Literal["big", "little"] = "big" if magic & 1 else "little"  # SQLite's wal.c
    s1 = s2 = 0
    for i in range(0, 24, 8):
        s1 = (s1 + int.from_bytes(head[i:i + 4], order) + s2) & 0xFFFFFFFF
        s2 = (s2 + int.from_bytes(head[i + 4:i + 8], order) + s1) & 0xFFFFFFFF
    return (s1, s2) != (words[6], words[7])


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


def _aside(data_dir: Path, name: str) -> Path:
    """A free ``<name>.corrupt-<UTC timestamp>[-n]`` in ``data_dir``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = data_dir / f"{name}{CORRUPT_MARK}{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = data_dir / f"{name}{CORRUPT_MARK}{stamp}-{n}"
    return target


def set_aside_garbage_wal(data_dir: Path) -> Path | None:
    """A ``-wal`` that is not a write-ahead log (:func:`wal_is_garbage`) is moved aside, with
    its ``-shm`` index, before SQLite opens the database; return where it went, or None.

    SQLite would ignore such a file silently, and with it whatever was committed in it; what
    it held cannot be read back either way, but now it is kept for a technician and reported.
    The database itself stays: it holds everything up to the last checkpoint, still to be
    delivered (moving it aside too would strand those events as well). A torn -wal header
    after a power cut lands here too, and loses nothing: its frames were all checkpointed."""
    db = data_dir / DB_NAME
    if not wal_is_garbage(Path(f"{db}-wal")):
        return None
    target = _aside(data_dir, f"{DB_NAME}-wal")
    os.replace(f"{db}-wal", target)
    with contextlib.suppress(FileNotFoundError):  # an index of the old -wal; SQLite rebuilds it
        os.replace(f"{db}-shm", f"{target}-shm")
    fsync_dir(data_dir)
    log.error("outbox database %s: the -wal is not a write-ahead log (bad header); moved to %s, "
              "what it held since the last checkpoint is lost", db, target)
    return target


def quarantine(data_dir: Path, reason: str) -> Path:
    """Move the database (+ -wal, -shm) and its files aside; return the new database path."""
    db = data_dir / DB_NAME
    target = _aside(data_dir, DB_NAME)
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
    """Every database or -wal moved aside so far (they stay until a technician removes them)."""
    if not data_dir.is_dir():
        return ()
    found = [
        p.name for p in data_dir.iterdir()
        if p.name.startswith((DB_NAME + CORRUPT_MARK, f"{DB_NAME}-wal{CORRUPT_MARK}"))
        and not p.name.endswith(("-wal", "-shm"))
    ]
    return tuple(sorted(found))


def file_bytes(db: Path) -> int:
    """Size on disk of the database and its -wal/-shm."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(f"{db}{suffix}").st_size
    return total


@contextmanager
def closed_on_failure(close: Callable[[], None], what: str) -> Iterator[None]:
    """For an opening sequence: on any failure call ``close``; an ``OSError`` is reported as
    :class:`StorageError` ("``what``: ...")."""
    try:
        yield
    except BaseException as exc:
        close()
        if isinstance(exc, OSError):
            raise StorageError(f"{what}: {exc}") from exc
        raise


class Closing:
    """``with thing:`` closes it at the end (the stores and the database share this)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transaction:
    """An open ``BEGIN IMMEDIATE`` transaction of a :class:`Database` (see its ``transaction``).

    ``execute``/``executemany`` run on the database's connection. Hooks registered with
    :meth:`on_commit` run after ``COMMIT`` returned (still under the database lock), those of
    :meth:`on_rollback` after a rollback: stores keep in-memory state (byte counts, files to
    delete) consistent with what really committed.
    """

    __slots__ = ("_on_commit", "_on_rollback", "active", "conn", "database")

    def __init__(self, database: Database, conn: sqlite3.Connection) -> None:
        self.database = database
        self.conn = conn
        self.active = True
        self._on_commit: list[Callable[[], None]] = []
        self._on_rollback: list[Callable[[], None]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def on_commit(self, hook: Callable[[], None]) -> None:
        self._on_commit.append(hook)

    def on_rollback(self, hook: Callable[[], None]) -> None:
        self._on_rollback.append(hook)

    def _finish(self, committed: bool) -> None:
        self.active = False
        hooks = self._on_commit if committed else self._on_rollback
        self._on_commit, self._on_rollback = [], []
        for hook in hooks:
            hook()


FaultCallback = Callable[[StorageFault], None]


class Database(Closing):
    """The agent's SQLite database: connection, lock, transactions, migrations, disk reserve.

    Blocking (disk, fsync): use it from a thread or an executor. Several stores share one
    instance (the outbox, the order journal); whoever created it closes it, after them.

    ``on_storage_fault`` is called once when a disk-full episode starts (with the reason),
    from the thread that hit it and possibly under the database lock: it must only hand the
    fault over (e.g. ``loop.call_soon_threadsafe``), never call back into a store.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        schemas: Sequence[Schema] = (OUTBOX_SCHEMA,),
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        on_storage_fault: FaultCallback | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_NAME
        self.files_dir = data_dir / FILES_DIR
        self.lock = threading.RLock()
        self._on_fault = on_storage_fault
        self._tx: Transaction | None = None
        self._full = False
        self._episodes = 0
        self._lock_fd: int | None = None
        self.quarantined_at_open: tuple[Path, ...] = ()  # whole databases moved aside
        self.wal_set_aside: Path | None = None  # a garbage -wal moved aside (database kept)
        try:
            prepare_dir(data_dir)
            self._lock_fd = acquire_lock(data_dir)
            self.budget = DiskBudget.of(data_dir, reserve_bytes)
        except OSError as exc:
            raise StorageError(f"cannot open the database in {data_dir}: {exc}") from exc
        self._reserve = Reserve(data_dir / RESERVE_NAME, self.budget.reserve_bytes)
        with closed_on_failure(self._close_quietly, f"cannot open the database in {data_dir}"):
            if self.path.exists() and os.access(self.path, os.R_OK | os.W_OK):
                self.wal_set_aside = set_aside_garbage_wal(data_dir)
            try:
                self._conn = connect(self.path, schemas)
            except CorruptDatabaseError as exc:
                moved = quarantine(data_dir, str(exc))
                self.quarantined_at_open = (moved,)
                prepare_dir(data_dir)
                self._conn = connect(self.path, schemas)
            budget = self.budget
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {budget.wal_autocheckpoint_pages}")
            self._conn.execute(f"PRAGMA journal_size_limit = {budget.journal_size_limit}")
            self.page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
            self.has_room()

    @classmethod
    def from_settings(
        cls, storage: StorageSettings, *, on_storage_fault: FaultCallback | None = None
    ) -> Database:
        return cls(storage.data_dir, on_storage_fault=on_storage_fault)

    @property
    def connection(self) -> sqlite3.Connection:
        """For reads under :attr:`lock`; every write goes through :meth:`transaction`."""
        return self._conn

    def migrate(self, schema: Schema) -> None:
        """Create or upgrade another store's tables (e.g. the order journal's). Idempotent."""
        with self.lock:
            self.check_open()
            if self._tx is not None:
                raise StorageError("cannot migrate inside a transaction")
            try:
                migrate(self._conn, schema)
            except sqlite3.Error as exc:
                raise self._failed(exc, f"cannot migrate the {schema.name} schema") from exc

    @contextmanager
    def transaction(self, what: str) -> Iterator[Transaction]:
        """``with db.transaction("store the order result") as tx:`` — one atomic write.

        Holds the lock throughout; commits when the block ends, rolls back when it raises.
        A SQLite failure becomes :class:`StorageError` (``what`` says what failed), disk full
        :class:`~agent.store.api.DiskFullError` (and starts a disk-full episode). Not
        re-entrant: a store that writes inside a caller's transaction takes its ``tx``.
        """
        with self.lock:
            self.check_open()
            if self._tx is not None:
                raise StorageError(f"{what}: a transaction is already open on this thread")
            conn = self._conn
            tx = Transaction(self, conn)
            self._tx = tx
            try:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    yield tx
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._abort(tx)
                    raise self._failed(exc, what) from exc
                except BaseException:
                    self._abort(tx)
                    raise
            finally:
                self._tx = None
            tx._finish(committed=True)
            self._after_write()

    # -- disk space ------------------------------------------------------------------------

    @property
    def disk_full(self) -> bool:
        """A disk-full episode is on: the reserve is lent out until ``resume_free_bytes``."""
        return self._full

    @property
    def disk_full_episodes(self) -> int:
        return self._episodes

    def has_room(self) -> bool:
        """Whether new data may be stored: the reserve is in place (or could be put back).

        While a disk-full episode is on, this ends it once ``budget.resume_free_bytes`` is
        free and the reserve is back. Starting an episode is :meth:`enter_disk_full`'s.
        """
        with self.lock:
            if self._full:
                if self._reserve.free_bytes() < self.budget.resume_free_bytes:
                    return False
                if not self._reserve.create():
                    return False
                self._full = False
                log.warning("disk space is back (%d bytes free): reserve restored, accepting "
                            "every event again", self._reserve.free_bytes())
                return True
            if self._reserve.present() or self._reserve.create():
                return True
            self.enter_disk_full(f"disk full: no room for the {self._reserve.size}-byte reserve")
            return False

    def enter_disk_full(self, why: str) -> None:
        """The disk filled (``why``): lend the reserve out so claims and acks can still drain,
        keep the WAL from needing new space, and report the episode once."""
        with self.lock:
            if not self._full:
                self._full = True
                self._episodes += 1
                self._reserve.release()
                log.error("%s; released the %d-byte reserve so the uplink can drain; "
                          "only alarms and hardware events are stored until %d bytes are free",
                          why, self._reserve.size, self.budget.resume_free_bytes)
                if self._on_fault is not None:
                    try:
                        self._on_fault(StorageFault("disk_full", why, self._episodes))
                    except Exception:
                        log.exception("storage fault callback failed")
            self._shrink()

    def _after_write(self) -> None:
        if self._full:
            self._shrink()
            self.has_room()

    def _shrink(self) -> None:
        """While the disk is full, after every write: give free pages back to the filesystem
        and fold the WAL back, truncated, so it never holds more than one transaction."""
        if self._tx is not None or self._lock_fd is None:
            return
        try:  # executescript steps it to the end (execute() frees one page per call)
            self._conn.executescript("PRAGMA incremental_vacuum")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("checkpoint on a full disk failed: %s", exc)

    # -- lifecycle -------------------------------------------------------------------------

    def check_open(self) -> None:
        if self._lock_fd is None:
            raise StorageError("the database is closed")

    @property
    def closed(self) -> bool:
        return self._lock_fd is None

    def close(self) -> None:
        """Checkpoint the WAL (a clean stop leaves one self-contained file), release the lock."""
        with self.lock:
            if self._lock_fd is None:
                return
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as exc:
                log.warning("checkpoint at close failed: %s", exc)
            self._close_quietly()

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
        if self._lock_fd is not None:
            release_lock(self._lock_fd)
            self._lock_fd = None

    def _abort(self, tx: Transaction) -> None:
        self._tx = None
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:  # SQLite may already have rolled back (disk full)
                log.debug("rollback: %s", exc)
        tx._finish(committed=False)

    def _failed(self, exc: sqlite3.Error, what: str) -> StorageError:
        error = storage_error(exc, what)
        if isinstance(error, DiskFullError):
            self.enter_disk_full(str(error))
        return error
