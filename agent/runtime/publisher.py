"""The one way events leave their producers: rules, hardware, driver monitoring and orders.

``publish()`` is for synchronous producers on the event loop (the rules run inside a reading
callback): it queues and returns at once. ``put()`` is for coroutines that can wait (driver
monitoring, order results): it returns the sequence number once the event is durable. Both end
in the outbox writer (group commit) and wake the uplink after the commit.

Back-pressure is bounded: when ``max_queued`` events wait for the writer (a stalled SD card),
new low-priority events are refused and counted; alarms and hardware events are always queued
(they are few, and "alarms are never lost" is the product's promise). Queued events keep their
order. The publisher's heartbeat goes stale when one commit takes longer than its
``heartbeat_s``: that is how a stuck writer thread reaches the watchdog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from agent.events import Event, Priority
from agent.runtime.component import Component
from agent.store.api import Attachment, EventSink

log = logging.getLogger(__name__)

ALWAYS_QUEUED = frozenset({Priority.ALARM, Priority.HARDWARE})
FAILURE_LOG_INTERVAL_S = 30.0
RECENT_KEPT = 200

_Item = tuple[Event, Sequence[Attachment]]


class Publisher(Component):
    critical = True
    heartbeat_s = 20.0

    def __init__(
        self, sink: EventSink, notify: Callable[[], None], *, max_queued: int = 10_000
    ) -> None:
        super().__init__("publisher")
        self._sink = sink
        self._notify = notify
        self._max_queued = max_queued
        self._queue: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.published = 0
        self.failed = 0
        self.refused = 0
        self.last_error = ""
        self._last_failure_log = 0.0
        # The technician's ``watch events``: the newest stored events, numbered from 1.
        self.recent: deque[tuple[int, dict[str, Any]]] = deque(maxlen=RECENT_KEPT)
        self.stored_count = 0

    # --- producers ------------------------------------------------------------------------

    def publish(self, events: Sequence[Event], attachments: Sequence[Attachment] = ()) -> None:
        """Queue events (the attachments belong to the first) without blocking the caller."""
        for i, event in enumerate(events):
            if len(self._queue) >= self._max_queued and event.priority not in ALWAYS_QUEUED:
                self.refused += 1
                self._failure(f"publisher queue full ({self._max_queued}): event refused")
                continue
            self._queue.append((event, attachments if i == 0 else ()))
        if self._queue:
            self._idle.clear()
            self._wake.set()

    async def put(self, event: Event, attachments: Sequence[Attachment] = ()) -> int:
        """Store durably and wake the uplink; raises what the outbox raised (disk full...)."""
        try:
            seq = await self._sink.put(event, attachments)
        except Exception as exc:
            self.failed += 1
            self._failure(f"event not stored: {exc}")
            raise
        self.published += 1
        self._remember(event, seq)
        self._notify()
        return seq

    async def flush(self) -> None:
        """Wait until every queued event reached the outbox (or failed)."""
        await self._idle.wait()

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- the component ----------------------------------------------------------------------

    async def run(self) -> None:
        self.tracker.ok()
        while True:
            await self.heartbeat.checkpoint()
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                except TimeoutError:
                    continue
            await self._store_queued()

    async def drain_now(self) -> None:
        """Store whatever is still queued (at shutdown, after :meth:`run` was cancelled)."""
        while self._queue:
            await self._store_queued()
        self._idle.set()

    async def _store_queued(self) -> None:
        batch = list(self._queue)
        self._queue.clear()
        # Every put reaches the writer in order before any awaits: one group commit. Shielded:
        # a cancelled publisher (hang restart, shutdown) does not abandon events it took.
        results = await asyncio.shield(asyncio.gather(
            *(self._sink.put(e, a) for e, a in batch), return_exceptions=True
        ))
        errors = [r for r in results if isinstance(r, BaseException)]
        for (event, _), result in zip(batch, results, strict=True):
            if isinstance(result, int):
                self._remember(event, result)
        self.published += len(results) - len(errors)
        if errors:
            self.failed += len(errors)
            self._failure(f"{len(errors)} event(s) not stored: {errors[0]}")
        else:
            self.tracker.activity()
        self._notify()

    def _remember(self, event: Event, seq: int) -> None:
        self.stored_count += 1
        d = event.detail
        self.recent.append((self.stored_count, {
            "seq": seq, "timestamp_ms": event.timestamp_ms, "kind": event.event_type.name,
            "type": d.event_type.name, "ulid": event.ulid,
            "speed_kmh": event.context.speed_kmh, "files": len(event.files),
        }))

    def _failure(self, text: str) -> None:
        self.last_error = text
        now = time.monotonic()
        if now - self._last_failure_log >= FAILURE_LOG_INTERVAL_S:
            self._last_failure_log = now
            log.error("%s (failed %d, refused %d so far)", text, self.failed, self.refused)

    def status(self) -> dict[str, Any]:
        return {"published": self.published, "failed": self.failed, "refused": self.refused,
                "queued": len(self._queue), "last_error": self.last_error}
