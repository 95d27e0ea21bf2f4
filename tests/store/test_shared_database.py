"""One Database shared by the outbox and another store: an order's result and its event commit
in one transaction, or neither does."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.errors import StorageError
from agent.store.database import Database, DiskBudget
from agent.store.migrations import Schema, schema_version
from agent.store.outbox import Outbox
from tests.store.events_factory import IDENTITY, alarm, hardware, periodic

# A stand-in for the order journal: tables owned by another store, same migration mechanism.
JOURNAL = Schema("order_journal", (
    """
    CREATE TABLE order_journal (
        order_id TEXT PRIMARY KEY,
        state    TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
))
JOURNAL_V2 = Schema("order_journal", (*JOURNAL.migrations, "ALTER TABLE order_journal"
                                                           " ADD COLUMN result TEXT;"))


class Boom(Exception):
    pass


def _rows(db_path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """What is committed, read from a separate connection (no in-memory state involved)."""
    with sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True) as conn:
        journal = conn.execute("SELECT order_id, state FROM order_journal").fetchall()
        events = [r[0] for r in conn.execute("SELECT ulid FROM events ORDER BY id")]
    return journal, events


@pytest.fixture
def db(data_dir: Path) -> Iterator[Database]:
    database = Database(data_dir)
    database.migrate(JOURNAL)
    yield database
    database.close()


def test_an_order_result_and_its_event_commit_together(db: Database) -> None:
    outbox = Outbox(db, IDENTITY)
    event = hardware(1)
    with db.transaction("record order result") as tx:
        tx.execute("INSERT INTO order_journal (order_id, state) VALUES ('o1', 'done')")
        seq = outbox.append_in(tx, event)
    assert _rows(db.path) == ([("o1", "done")], [event.ulid])
    assert seq == 1
    (claimed,) = outbox.claim(10)
    assert claimed.ulid == event.ulid and claimed.sequence_number == 1
    assert outbox.stats().used_bytes > 0


def test_a_failing_transaction_stores_neither_the_row_nor_the_event(db: Database) -> None:
    outbox = Outbox(db, IDENTITY)
    before = outbox.stats()

    def order_then_crash() -> None:
        with db.transaction("record order result") as tx:
            tx.execute("INSERT INTO order_journal (order_id, state) VALUES ('o1', 'done')")
            outbox.append_in(tx, hardware(1))
            outbox.append_in(tx, alarm(2))
            raise Boom

    with pytest.raises(Boom):
        order_then_crash()
    assert _rows(db.path) == ([], [])
    after = outbox.stats()
    assert after.used_bytes == before.used_bytes  # in-memory counts follow only commits
    assert after.next_sequence == 1
    # No sequence number was burnt: the next event, committed, gets 1.
    with db.transaction("next") as tx:
        assert outbox.append_in(tx, hardware(3)) == 1


def test_a_sqlite_failure_inside_the_transaction_rolls_both_back(db: Database) -> None:
    outbox = Outbox(db, IDENTITY)
    with db.transaction("first") as tx:
        tx.execute("INSERT INTO order_journal (order_id, state) VALUES ('o1', 'running')")

    def event_then_duplicate_order() -> None:
        with db.transaction("record order result") as tx:
            outbox.append_in(tx, hardware(1))
            tx.execute("INSERT INTO order_journal (order_id, state) VALUES ('o1', 'dup')")

    with pytest.raises(StorageError, match="record order result"):
        event_then_duplicate_order()
    assert _rows(db.path) == ([("o1", "running")], [])


def test_append_in_needs_an_open_transaction_of_its_own_database(
    db: Database, tmp_path: Path
) -> None:
    outbox = Outbox(db, IDENTITY)
    with db.transaction("t") as tx:
        pass
    with pytest.raises(StorageError, match="open transaction"):
        outbox.append_in(tx, alarm(1))  # already committed
    with Database(tmp_path / "other") as other, other.transaction("t") as foreign, \
            pytest.raises(StorageError, match="open transaction"):
        outbox.append_in(foreign, alarm(1))


def test_transactions_do_not_nest(db: Database) -> None:
    with db.transaction("outer"), pytest.raises(StorageError, match="already open"), \
            db.transaction("inner"):
        pass


def test_group_commit_and_append_in_share_the_sequence(db: Database) -> None:
    outbox = Outbox(db, IDENTITY)
    assert outbox.append_many([periodic(1), periodic(2)]) == [1, 2]
    with db.transaction("order") as tx:
        assert outbox.append_in(tx, hardware(3)) == 3
    assert outbox.append(alarm(4)) == 4


def test_another_store_migrates_through_the_same_mechanism(data_dir: Path) -> None:
    with Database(data_dir, schemas=()) as db:
        db.migrate(JOURNAL)
        with Outbox(db, IDENTITY) as outbox:  # the outbox adds its own schema when it opens
            outbox.append(alarm(1))
        assert schema_version(db.connection, JOURNAL) == 1
    with Database(data_dir) as db:
        db.migrate(JOURNAL_V2)  # upgraded in place, data kept
        assert schema_version(db.connection, JOURNAL_V2) == 2
        with db.transaction("t") as tx:
            tx.execute("INSERT INTO order_journal VALUES ('o1', 'done', 'ok')")
        # A journal newer than this code is refused, like the outbox's own schema.
        with pytest.raises(StorageError, match="order_journal schema version 2 is newer"):
            db.migrate(JOURNAL)


def test_the_shared_database_outlives_the_outbox(db: Database) -> None:
    outbox = Outbox(db, IDENTITY)
    outbox.append(alarm(1))
    outbox.close()
    with pytest.raises(StorageError, match="closed"):
        outbox.append(alarm(2))
    with db.transaction("still usable") as tx:  # its creator closes it
        tx.execute("INSERT INTO order_journal VALUES ('o1', 'done')")


def test_a_shared_database_keeps_its_own_disk_settings(db: Database) -> None:
    with pytest.raises(ValueError, match="shared Database"):
        Outbox(db, IDENTITY, reserve_bytes=1024)


def test_the_disk_budget_follows_the_partition() -> None:
    mib = 1024 * 1024
    big = DiskBudget.for_partition(32 * 1024 * mib, 8 * mib)
    assert (big.reserve_bytes, big.resume_free_bytes) == (8 * mib, 16 * mib)
    assert big.wal_autocheckpoint_pages == 1024  # SQLite's default 4 MiB
    twelve = DiskBudget.for_partition(12 * mib, 8 * mib)
    assert twelve.reserve_bytes == 12 * mib // 8
    assert twelve.resume_free_bytes < 12 * mib // 2  # reachable on that partition
    tiny = DiskBudget.for_partition(3 * mib, 8 * mib)
    assert tiny.reserve_bytes == 384 * 1024
    assert tiny.wal_autocheckpoint_pages * 4096 < tiny.reserve_bytes  # a checkpoint fits in it
    assert DiskBudget.for_partition(3 * mib, 0).reserve_bytes == 0  # reserve disabled
