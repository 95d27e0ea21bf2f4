"""The order journal: at most once, recorded answers, the durable ordered status queue, one
transaction for the terminal status and the caller's action; and the kill -9 test."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.orders.journal import Finish, OrderJournal, SqliteDatabase
from agent.orders.model import OrderStatus, parse_order
from tests.orders.helpers import order_bytes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal(tmp_path: Path) -> OrderJournal:
    return OrderJournal(SqliteDatabase(tmp_path / "orders.sqlite3"))


def order(ulid: str, kind: str = "state", params: dict | None = None):  # type: ignore[no-untyped-def]
    return parse_order(order_bytes(ulid, kind, params), None)


def statuses(j: OrderJournal) -> list[tuple[str, str]]:
    return [(json.loads(m.payload)["orderUlid"], json.loads(m.payload)["status"])
            for m in j.pending(1000)]


def test_database_file_is_private_and_in_wal_full(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "j.sqlite3")
    OrderJournal(db)
    assert os.stat(tmp_path / "j.sqlite3").st_mode & 0o777 == 0o600
    with db.transaction() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_redelivered_order_is_answered_with_its_recorded_status(journal: OrderJournal) -> None:
    assert journal.receive(order("A"), 1).new
    assert journal.finish("A", OrderStatus.SUCCEEDED, "done", 2)
    r = journal.receive(order("A"), 3)
    assert (r.new, r.status, r.detail) == (False, OrderStatus.SUCCEEDED, "done")
    assert statuses(journal) == [("A", "RECEIVED"), ("A", "SUCCEEDED"), ("A", "SUCCEEDED")]


def test_terminal_is_final_and_the_action_runs_only_with_the_change(
        journal: OrderJournal) -> None:
    ran: list[int] = []
    journal.receive(order("A"), 1)
    assert journal.finish("A", OrderStatus.SUCCEEDED, "ok", 2, lambda c: ran.append(1))
    assert not journal.finish("A", OrderStatus.FAILED, "again", 3, lambda c: ran.append(2))
    assert not journal.finish("nope", OrderStatus.FAILED, "x", 3, lambda c: ran.append(3))
    assert ran == [1]
    entry = journal.get("A")
    assert entry is not None
    assert (entry.status, entry.detail) == (OrderStatus.SUCCEEDED, "ok")


def test_a_failing_action_rolls_back_the_status(journal: OrderJournal) -> None:
    journal.receive(order("A"), 1)

    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE t (x)")
        raise RuntimeError("outbox full")

    with pytest.raises(RuntimeError):
        journal.finish("A", OrderStatus.SUCCEEDED, "ok", 2, boom)
    entry = journal.get("A")
    assert entry is not None
    assert entry.status is OrderStatus.RECEIVED
    assert statuses(journal) == [("A", "RECEIVED")]


def test_statuses_wait_in_order_until_acked_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite3"
    j = OrderJournal(SqliteDatabase(path))
    for u in ("A", "B", "C"):
        j.receive(order(u), 1)
    j.finish("B", OrderStatus.SUCCEEDED, "", 2)
    first = j.pending(2)
    j.ack([first[0].id])
    j2 = OrderJournal(SqliteDatabase(path))
    assert statuses(j2) == [("B", "RECEIVED"), ("C", "RECEIVED"), ("B", "SUCCEEDED")]
    assert [e.ulid for e in j2.open_orders()] == ["A", "C"]
    assert j2.last_order_ulid() == "C"


def test_queue_cap_drops_oldest_progress_messages_first(tmp_path: Path) -> None:
    j = OrderJournal(SqliteDatabase(tmp_path / "o.sqlite3"), max_queued=3)
    j.receive(order("A"), 1)
    j.finish("A", OrderStatus.SUCCEEDED, "", 2)
    j.receive(order("B"), 3)
    j.receive(order("C"), 4)
    assert statuses(j) == [("A", "SUCCEEDED"), ("B", "RECEIVED"), ("C", "RECEIVED")]
    assert j.dropped == 1


def test_a_forged_refusal_does_not_take_the_id(journal: OrderJournal) -> None:
    journal.refuse("A", "state", OrderStatus.REJECTED, "bad signature", 1, journal=False)
    assert journal.get("A") is None
    assert journal.receive(order("A"), 2).new
    journal.refuse("B", "state", OrderStatus.REJECTED, "bad params", 1, journal=True)
    r = journal.receive(order("B"), 2)
    assert (r.new, r.status) == (False, OrderStatus.REJECTED)


def test_cancel_of_an_unknown_order_leaves_a_tombstone(journal: OrderJournal) -> None:
    journal.receive(order("C", "cancel", {"orderUlid": "T"}), 1)
    done = journal.finish_many([Finish("T", OrderStatus.FAILED, "cancelled", create=True),
                                Finish("C", OrderStatus.SUCCEEDED, "cancelled T")], 2)
    assert done == [True, True]
    r = journal.receive(order("T"), 3)
    assert (r.new, r.status, r.detail) == (False, OrderStatus.FAILED, "cancelled")
    assert journal.last_order_ulid() == "C"


def test_wifi_password_is_blanked_once_terminal(journal: OrderJournal) -> None:
    journal.receive(order("W", "wifi.add", {"wifiUlid": "w", "ssid": "s",
                                            "password": "secret-pass"}), 1)
    journal.finish("W", OrderStatus.SUCCEEDED, "added", 2)
    entry = journal.get("W")
    assert entry is not None
    assert entry.body is not None
    assert "secret-pass" not in entry.body


def test_prune_forgets_old_terminal_orders_only(journal: OrderJournal) -> None:
    journal.receive(order("A"), 1)
    journal.receive(order("B"), 1)
    journal.finish("A", OrderStatus.SUCCEEDED, "", 5)
    assert journal.prune(10) == 1
    assert journal.get("A") is None
    assert journal.get("B") is not None


KILLS = int(os.environ.get("ORDERS_CRASH_KILLS", "25"))


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_order_and_executes_none_twice(
        tmp_path: Path) -> None:
    db = tmp_path / "orders.sqlite3"
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "8")))
    promised_r: set[str] = set()
    promised_x: set[str] = set()
    start = 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(KILLS):
        out = tmp_path / "out.txt"
        with out.open("w") as f:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.orders.journal_crash_child", str(db), str(start)],
                stdout=f, cwd=REPO, env=env)
            deadline = time.monotonic() + 20
            while out.stat().st_size == 0 and time.monotonic() < deadline:
                time.sleep(0.01)  # let it get going, then kill it somewhere
            time.sleep(rng.uniform(0.0, 0.3))
            child.send_signal(signal.SIGKILL)
            child.wait()
        for line in out.read_text().split("\n")[:-1]:
            kind, ulid = line.split()
            (promised_r if kind == "R" else promised_x).add(ulid)
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = dict(conn.execute("SELECT ulid, status FROM order_journal").fetchall())
            executed = [r[0] for r in conn.execute("SELECT ulid FROM executed")]
        assert len(executed) == len(set(executed)), "an order executed twice"
        assert promised_r <= set(rows), "a journaled order was lost"
        assert promised_x <= set(executed), "an execution was lost"
        for ulid, status in rows.items():
            assert (status == "SUCCEEDED") == (ulid in executed), ulid
        start = max((int(u[1:]) for u in rows), default=-1) + 1
    assert len(promised_r) > KILLS  # the test did real work
