"""Group commit: many producers' events share one transaction and one fsync.

``await writer.put(event)`` queues the event and returns its sequence number once the
transaction holding it has committed (durable). One thread drains the queue: it takes what is
waiting, waits at most ``max_wait_ms`` for more (up to ``max_batch``; it stops early when the
queue stays quiet for :data:`IDLE_GAP_S`), and commits them all with
:meth:`Outbox.append_batch`. Events that arrive during a commit form the next batch. The event
loop only ever enqueues and awaits a future.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from agent.errors import StorageError
from agent.events import Event
from agent.store.api import Attachment, DiskFullError
from agent.store.outbox import Outbox

if TYPE_CHECKING:
    from agent.config import StorageSettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Request:
    event: Event
    attachments: Sequence[Attachment]
    future: asyncio.Future[int]
    loop: asyncio.AbstractEventLoop


_STOP: Final = object()
# Stop filling a batch early once no event arrived for this long: when every producer is
# blocked awaiting its put, waiting out the whole window only adds latency.
IDLE_GAP_S: Final = 0.0005
_Settled = tuple[asyncio.Future[int], int | BaseException]


class OutboxWriter:
    """The producers' :class:`agent.store.api.EventSink` over an :class:`Outbox`.

    Lifecycle: ``start()`` (or the first ``put``), then ``await close()`` which commits
    everything already queued before returning. ``async with OutboxWriter(...)`` does both;
    ``await run()`` runs until cancelled, then closes.
    """

    def __init__(self, outbox: Outbox, *, max_batch: int = 1000, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._outbox = outbox
        self._max_batch = max_batch
        self._max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._start_lock = threading.Lock()
        self.batches = 0  # transactions committed (for benchmarks and diagnostics)
        self.events = 0

    @classmethod
    def from_settings(cls, outbox: Outbox, storage: StorageSettings) -> OutboxWriter:
        return cls(
            outbox, max_batch=storage.group_commit_max, max_wait_ms=storage.group_commit_wait_ms
        )

    def start(self) -> None:
        with self._start_lock:
            if self._closed:
                raise StorageError("outbox writer is closed")
            if self._thread is None:
                self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="outbox-writer", daemon=True)
        self._thread.start()

    async def put(self, event: Event, attachments: Sequence[Attachment] = ()) -> int:
        """Queue ``event``; return its sequence number once it is durable on disk."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        request = _Request(event, tuple(attachments), fut, loop)
        # Under the lock (held for microseconds): a request is either queued before the stop
        # marker, so committed by close(), or refused; never left waiting forever.
        with self._start_lock:
            if self._closed:
                raise StorageError("outbox writer is closed")
            if self._thread is None:
                self._start_thread()
            self._queue.put(request)
        return await fut

    async def close(self) -> None:
        """Commit everything queued so far, then stop the thread. Idempotent."""
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        with self._start_lock:
            if self._closed:
                thread = self._thread
                self._thread = None
            else:
                self._closed = True
                thread = self._thread
                self._thread = None
                if thread is not None:
                    self._queue.put(_STOP)
        if thread is not None:
            thread.join()

    async def run(self) -> None:
        """Run until cancelled (for a TaskGroup); flushes on the way out."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.close())

    async def __aenter__(self) -> OutboxWriter:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the writer thread -----------------------------------------------------------------

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            assert isinstance(first, _Request)
            batch = [first]
            deadline = time.monotonic() + self._max_wait_s
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:  # a quiet queue means the producers are waiting on this very commit
                        item = self._queue.get(timeout=min(remaining, IDLE_GAP_S))
                    except queue.Empty:
                        break
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, _Request)
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Request]) -> None:
        results: list[int | BaseException]
        try:
            results = list(
                self._outbox.append_batch([(r.event, r.attachments) for r in batch])
            )
            self.batches += 1
            self.events += sum(1 for r in results if isinstance(r, int))
        except DiskFullError as exc:  # the outbox logs full-disk refusals as a summary
            results = [exc] * len(batch)
        except Exception as exc:  # the whole transaction failed: every caller learns why
            log.error("outbox group commit of %d event(s) failed: %s", len(batch), exc)
            results = [exc] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
        for req, res in zip(batch, results, strict=True):
            by_loop.setdefault(req.loop, []).append((req.future, res))
        for loop, settled in by_loop.items():
            # One wake-up per loop per batch, not one per event; a closed loop has no waiters.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[_Settled]) -> None:
    for fut, res in settled:
        if fut.done():  # the caller was cancelled; the event is stored anyway
            continue
        if isinstance(res, BaseException):
            fut.set_exception(res)
        else:
            fut.set_result(res)
