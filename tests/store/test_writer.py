"""Group commit: ``await put`` returns once durable; concurrent puts share transactions."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from agent.errors import StorageError
from agent.events import Bucket, Event, FileRef, TelemetryDetail, TelemetryEventType
from agent.store.api import Attachment, EventSink
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from tests.store.events_factory import alarm, periodic, vision


def _on_disk(outbox: Outbox) -> dict[str, int]:
    """Read through a second, independent connection: what another process would see."""
    with sqlite3.connect(outbox.path) as conn:
        return dict(conn.execute("SELECT ulid, seq FROM events"))


async def test_put_returns_the_sequence_once_the_event_is_on_disk(outbox: Outbox) -> None:
    async with OutboxWriter(outbox) as writer:
        sink: EventSink = writer
        event = alarm(1)
        seq = await sink.put(event)
        assert _on_disk(outbox) == {event.ulid: seq}
        assert seq == 1


async def test_concurrent_puts_share_transactions(outbox: Outbox) -> None:
    events = [periodic(i) for i in range(3000)]
    async with OutboxWriter(outbox, max_batch=500, max_wait_ms=5) as writer:
        seqs = await asyncio.gather(*(writer.put(e) for e in events))
        assert sorted(seqs) == list(range(1, 3001))
        assert writer.events == 3000
        assert 6 <= writer.batches <= 100  # far fewer commits (fsyncs) than events
    assert _on_disk(outbox) == {e.ulid: s for e, s in zip(events, seqs, strict=True)}


async def test_a_single_put_waits_at_most_the_batch_window(outbox: Outbox) -> None:
    async with OutboxWriter(outbox, max_batch=1000, max_wait_ms=20) as writer:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await writer.put(alarm(1))
        assert loop.time() - start < 2.0  # not stuck waiting for a full batch
        assert writer.batches == 1


async def test_close_commits_everything_already_queued(outbox: Outbox) -> None:
    writer = OutboxWriter(outbox, max_batch=50, max_wait_ms=50)
    tasks = [asyncio.create_task(writer.put(periodic(i))) for i in range(400)]
    await asyncio.sleep(0)  # let every task enqueue
    await writer.close()
    seqs = [t.result() for t in tasks]  # all done without awaiting them again
    assert sorted(seqs) == list(range(1, 401))
    assert len(_on_disk(outbox)) == 400
    with pytest.raises(StorageError, match="closed"):
        await writer.put(alarm(1))
    await writer.close()  # idempotent


async def test_run_flushes_when_cancelled(outbox: Outbox) -> None:
    writer = OutboxWriter(outbox, max_batch=1000, max_wait_ms=200)
    runner = asyncio.create_task(writer.run())
    puts = [asyncio.create_task(writer.put(periodic(i))) for i in range(10)]
    await asyncio.sleep(0.01)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert sorted([await p for p in puts]) == list(range(1, 11))


async def test_a_refused_event_fails_only_its_own_put(outbox: Outbox) -> None:
    bad = Attachment(FileRef("../../etc/passwd", Bucket.IMAGES), b"x")
    event = vision(1, with_file=True)
    good = Attachment(event.files[0], b"png bytes")
    async with OutboxWriter(outbox, max_batch=10, max_wait_ms=50) as writer:
        results = await asyncio.gather(
            writer.put(alarm(1), [bad]), writer.put(event, [good]), writer.put(alarm(2)),
            return_exceptions=True,
        )
    assert isinstance(results[0], StorageError)
    assert sorted(r for r in results[1:] if isinstance(r, int)) == [1, 2]
    (stored_vision,) = [e for e in outbox.claim(10) if e.ulid == event.ulid]
    assert stored_vision.files[0].path.read_bytes() == b"png bytes"


async def test_a_failed_transaction_fails_every_put_in_it_and_the_writer_recovers(
    outbox: Outbox,
) -> None:
    async with OutboxWriter(outbox, max_batch=100, max_wait_ms=20) as writer:
        await writer.put(alarm(0))
        outbox._conn.execute("PRAGMA query_only = 1")  # SQLite refuses every write
        results = await asyncio.gather(*(writer.put(alarm(i)) for i in range(1, 6)),
                                       return_exceptions=True)
        assert all(isinstance(r, StorageError) for r in results)
        outbox._conn.execute("PRAGMA query_only = 0")
        assert await writer.put(alarm(9)) == 2  # no sequence number was burnt


async def test_put_never_blocks_the_event_loop(outbox: Outbox) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async with OutboxWriter(outbox) as writer:
        tick_task = asyncio.create_task(ticker())
        with outbox._lock:  # a commit that cannot finish (as if fsync took very long)
            put = asyncio.create_task(writer.put(alarm(1)))
            await asyncio.sleep(0.2)
            assert not put.done()
            assert ticks >= 20  # the loop kept running meanwhile
        assert await put == 1
        tick_task.cancel()


async def test_puts_from_two_event_loops_in_two_threads(outbox: Outbox, tmp_path: Path) -> None:
    writer = OutboxWriter(outbox, max_batch=100, max_wait_ms=5)

    def other_thread() -> list[int]:
        async def produce() -> list[int]:
            return list(await asyncio.gather(*(writer.put(periodic(i)) for i in range(100))))

        return asyncio.run(produce())

    theirs, ours = await asyncio.gather(
        asyncio.to_thread(other_thread),
        asyncio.gather(*(writer.put(alarm(i)) for i in range(100))),
    )
    await writer.close()
    assert sorted([*theirs, *ours]) == list(range(1, 201))


async def test_an_event_that_cannot_be_encoded_fails_only_its_own_put(outbox: Outbox) -> None:
    # A producer bug (here a numpy integer in a detail field, which json cannot encode) must
    # not take down the other producers' events that share its group commit.
    src = alarm(5)
    bad = Event(src.timestamp_ms, src.context,
                TelemetryDetail(TelemetryEventType.HARSH_BRAKING, extra={"peak": np.int64(7)}))
    async with OutboxWriter(outbox, max_batch=10, max_wait_ms=50) as writer:
        results = await asyncio.gather(
            writer.put(alarm(1)), writer.put(bad), writer.put(alarm(2)), return_exceptions=True
        )
    assert isinstance(results[1], StorageError)
    assert sorted(r for r in (results[0], results[2]) if isinstance(r, int)) == [1, 2]
    assert len(_on_disk(outbox)) == 2
    assert outbox.stats().next_sequence == 3  # no sequence number burnt by the refused one
