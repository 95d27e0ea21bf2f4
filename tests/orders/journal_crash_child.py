"""Child of the kill -9 test: journals orders and "executes" them, forever, until killed.

Protocol on stdout (one flushed line per promise):
  ``R <ulid>``  the order is journaled (an MQTT PUBACK could go out now)
  ``X <ulid>``  its execution and terminal status committed together

Execution is an ``action`` of ``finish``: a row in ``executed`` (standing in for the effect
and the "order executed" event) committed with the SUCCEEDED status. Redeliveries of earlier
orders are mixed in; they must never execute again. At start the child recovers open orders
first (re-executing what was journaled but not finished), as the executor does.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from pathlib import Path

from agent.orders.journal import OrderJournal, SqliteDatabase
from agent.orders.model import OrderStatus, parse_order
from tests.orders.helpers import T0, order_bytes


def main() -> None:
    db_path, start = Path(sys.argv[1]), int(sys.argv[2])
    db = SqliteDatabase(db_path)
    journal = OrderJournal(db, max_queued=1_000_000)
    with db.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS executed (ulid TEXT NOT NULL)")

    def execute(ulid: str) -> None:
        def action(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO executed (ulid) VALUES (?)", (ulid,))
        if journal.finish(ulid, OrderStatus.SUCCEEDED, "done", 2, action):
            print(f"X {ulid}", flush=True)

    for entry in journal.open_orders():
        execute(entry.ulid)
    rng = random.Random(start)
    i = start
    while True:
        if i > start and rng.random() < 0.3:
            ulid = f"O{rng.randrange(max(0, start - 50), i):06d}"
        else:
            ulid = f"O{i:06d}"
            i += 1
        order = parse_order(order_bytes(ulid, "state", issued=T0), None)
        receipt = journal.receive(order, 1)
        if receipt.new:
            print(f"R {ulid}", flush=True)
            if rng.random() < 0.8:
                execute(ulid)
        if rng.random() < 0.2:
            journal.ack([m.id for m in journal.pending(rng.randrange(1, 5))])


if __name__ == "__main__":
    main()
