"""The uplink: drains the outbox to the cloud, files first, forever, without losing anything.

One cycle (:meth:`Uplink.drain_once`): claim a batch from the outbox; upload every file of those
events that is not uploaded yet (pre-signed URL, ``PUT``, then ``mark_file_uploaded``) so an
event visible in the cloud never names a missing file; post the events in ``{"Events": [...]}``
bodies joined from the stored bytes (gzip when configured); ack what the cloud took,
dead-letter what it refused (``NotProcess``); on any transient failure release what is left.

:meth:`Uplink.run` repeats that until cancelled, sleeping with capped exponential backoff and
full jitter after a failure (or exactly ``Retry-After`` on a 429), and waiting for
:meth:`Uplink.notify` or the poll interval when the outbox is empty. Outbox calls block, so
they run in threads; producers never wait for the uplink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from agent.errors import StorageError, UplinkError
from agent.health import Heartbeat, tallies
from agent.store.api import OutboxQueue, StoredEvent, StoredFile
from agent.uplink.backoff import Backoff
from agent.uplink.batch import events_body, gzip_bytes, split_by_size
from agent.uplink.client import (
    MAX_FILES_PER_URL_REQUEST,
    CloudClient,
    RejectedError,
    RetryLaterError,
    tls_context,
)

if TYPE_CHECKING:
    from agent.config import AgentConfig, CloudSettings

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 5.0
HEARTBEAT_SLICE_S = 1.0  # idle and backoff waits stamp the heartbeat this often
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024  # uncompressed JSON per POST /events
DEFAULT_FILE_CONCURRENCY = 4
MAX_RETRY_AFTER_S = 3600.0


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one :meth:`Uplink.drain_once` did."""

    claimed: int = 0
    sent: int = 0
    dead_lettered: int = 0
    files_uploaded: int = 0

    def __add__(self, other: DrainResult) -> DrainResult:
        return DrainResult(
            self.claimed + other.claimed,
            self.sent + other.sent,
            self.dead_lettered + other.dead_lettered,
            self.files_uploaded + other.files_uploaded,
        )


class Uplink:
    """Delivers the outbox to the V3 cloud. Build with :meth:`from_config`, then ``await run()``."""

    def __init__(
        self,
        settings: CloudSettings,
        outbox: OutboxQueue,
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        file_concurrency: int = DEFAULT_FILE_CONCURRENCY,
        gzip_level: int = 6,
        uniform: Callable[[float, float], float] = random.uniform,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._poll_interval_s = poll_interval_s
        self._max_body_bytes = max_body_bytes
        self._file_concurrency = max(1, file_concurrency)
        self._gzip_level = gzip_level
        self._transport = transport
        self._client: CloudClient | None = None
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, uniform)
        self._wakeup = asyncio.Event()
        self._ack_task: asyncio.Future[None] | None = None
        # diagnostics
        self._state = "stopped"
        self.heartbeat = Heartbeat()
        # Event counts diagnostics() reports: sent_events, sent_batches, sent_bytes,
        # files_uploaded, dead_lettered, retries.
        self.counts: Counter[str] = Counter()
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_success_at: float | None = None
        self._last_delay_s = 0.0
        self._next_attempt_at: float | None = None  # monotonic

    @classmethod
    def from_config(cls, config: AgentConfig, outbox: OutboxQueue, **kwargs: Any) -> Uplink:
        return cls(config.cloud, outbox, **kwargs)

    # --- public surface ------------------------------------------------------------------------
    def reconfigure(self, settings: CloudSettings) -> bool:
        """New ``[cloud]`` settings; True when they differ (restart :meth:`run` to apply: it
        closes the HTTP pool on the way out and the next run opens one with these)."""
        if settings == self._settings:
            return False
        self._settings = settings
        self._backoff.initial_s = settings.backoff_initial_s
        self._backoff.max_s = settings.backoff_max_s
        return True

    def notify(self) -> None:
        """New events are in the outbox: wake :meth:`run` now (call from the event loop)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver until cancelled; never raises for cloud or network trouble."""
        try:
            while True:
                await self.heartbeat.checkpoint()
                self._wakeup.clear()
                self._state = "sending"
                try:
                    result = await self.drain()
                except RetryLaterError as exc:
                    await self._back_off(str(exc), exc.retry_after)
                    continue
                except (UplinkError, StorageError) as exc:
                    await self._back_off(f"{type(exc).__name__}: {exc}", None)
                    continue
                except Exception as exc:  # a bug must not stop uploads for good; it is logged
                    log.exception("uplink: unexpected error")
                    await self._back_off(f"{type(exc).__name__}: {exc}", None)
                    continue
                if result.claimed == 0:
                    self._state = "idle"
                    await self._idle(self._poll_interval_s)
        finally:
            self._state = "stopped"
            self._next_attempt_at = None
            await asyncio.shield(self.aclose())

    async def drain_once(self) -> DrainResult:
        """Claim one batch and deliver it; on failure release what was not delivered and raise.

        Raises :class:`RetryLaterError` (transient; nothing lost) or :class:`StorageError`.
        When it returns, the delivered rows are acked.
        """
        await self._open_client()
        try:
            return await self._deliver_claimed(await self._take(self._start_claim()))
        finally:
            await self._flush_acks()

    async def drain(self) -> DrainResult:
        """Deliver batch after batch until nothing is left to claim; raise like :meth:`drain_once`.

        The next batch is claimed, and the previous one acked, while the current one is on the
        wire, so the outbox's fsyncs overlap the network round trip.
        """
        await self._open_client()
        total = DrainResult()
        ahead: asyncio.Task[list[StoredEvent]] | None = self._start_claim()
        try:
            while ahead is not None:
                task, ahead = ahead, None  # _take hands the rows back itself if cancelled
                claimed = await self._take(task)
                if not claimed:
                    break
                ahead = self._start_claim()
                total += await self._deliver_claimed(claimed)
        finally:
            if ahead is not None:
                await self._abandon(ahead)
            await self._flush_acks()
        return total

    def diagnostics(self) -> dict[str, Any]:
        """State for ``edge-agent diag`` and the logs; never contains the token or the secret."""
        client = self._client
        next_in = None
        if self._next_attempt_at is not None:
            next_in = round(max(0.0, self._next_attempt_at - time.monotonic()), 3)
        return {
            "cloud_url": self._settings.url,
            "state": self._state,
            **tallies(self.counts, "sent_events", "sent_batches", "sent_bytes", "files_uploaded",
                      "dead_lettered", "retries"),
            "consecutive_failures": self._backoff.failures,
            "backoff_s": round(self._last_delay_s, 3),
            "backoff_ceiling_s": round(self._backoff.ceiling(), 3),
            "next_attempt_in_s": next_in,
            "last_error": self._last_error,
            "last_error_at": self._last_error_at,
            "last_success_at": self._last_success_at,
            "token_valid_for_s": round(client.token_valid_for(), 1) if client else 0.0,
            "token_refreshes": client.token_refreshes if client else 0,
            "tls": self._tls_mode(),
            "gzip": self._settings.gzip,
            "batch_size": self._settings.batch_size,
        }

    def _tls_mode(self) -> str | None:
        s = self._settings
        if not s.url.startswith("https://"):
            return None
        if not s.verify_tls:
            return "unverified"
        return f"ca_file {s.ca_file}" if s.ca_file is not None else "default store"

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Uplink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- internals -----------------------------------------------------------------------------
    @property
    def client(self) -> CloudClient:
        if self._client is None:
            raise RuntimeError("uplink: client used before _open_client()")
        return self._client

    async def _open_client(self) -> CloudClient:
        """The HTTP pool, made on first use; its TLS context is built in a thread (file reads)."""
        if self._client is None:
            s = self._settings
            verify = await asyncio.to_thread(tls_context, s.verify_tls, s.ca_file)
            if verify is False and s.url.startswith("https://"):
                log.warning("uplink: cloud.verify_tls is off: the certificate is not checked")
            if self._client is None:  # nobody opened one while we were in the thread
                self._client = CloudClient(
                    s.url,
                    s.client_id,
                    s.client_secret.get_secret_value(),
                    timeout_s=s.timeout_s,
                    verify=verify,
                    max_connections=self._file_concurrency + 1,
                    transport=self._transport,
                )
        return self._client

    async def _back_off(self, error: str, retry_after: float | None) -> None:
        self.counts["retries"] += 1
        self._last_error = error
        self._last_error_at = time.time()
        if (
            retry_after is not None
        ):  # the cloud said when: honour it (bounded against absurd values)
            delay = min(retry_after, MAX_RETRY_AFTER_S)
            self._backoff.failures += 1
        else:
            delay = self._backoff.next_delay()
        self._last_delay_s = delay
        self._state = "backoff"
        self._next_attempt_at = time.monotonic() + delay
        log.warning("uplink: %s; retrying in %.2f s", error, delay)
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:  # sliced: waiting is not hanging
            await asyncio.sleep(min(left, HEARTBEAT_SLICE_S))
            await self.heartbeat.checkpoint()
        self._next_attempt_at = None

    async def _idle(self, seconds: float) -> None:
        """Wait for :meth:`notify` up to ``seconds``, stamping the heartbeat meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), min(left, HEARTBEAT_SLICE_S))
                return
            await self.heartbeat.checkpoint()

    def _start_claim(self) -> asyncio.Task[list[StoredEvent]]:
        claim = self._outbox.claim
        return asyncio.ensure_future(
            asyncio.to_thread(lambda: list(claim(self._settings.batch_size)))
        )

    async def _take(self, task: asyncio.Task[list[StoredEvent]]) -> list[StoredEvent]:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await self._abandon(task)  # cancelled while the claim ran: hand the rows back
            raise

    async def _abandon(self, task: asyncio.Task[list[StoredEvent]]) -> None:
        """Release the rows of a claim that will not be delivered now."""
        with contextlib.suppress(Exception):
            rows = await task
            if rows:
                await self._release([r.row_id for r in rows])

    async def _deliver_claimed(self, claimed: list[StoredEvent]) -> DrainResult:
        if not claimed:
            return DrainResult()
        pending = {ev.row_id for ev in claimed}
        try:
            result = await self._deliver(claimed, pending)
        except BaseException as exc:
            if not isinstance(exc, RetryLaterError | asyncio.CancelledError):
                log.warning("uplink: delivery failed: %s", exc)
            raise
        finally:
            if pending:
                await self._release(sorted(pending))
        self._last_success_at = time.time()
        self._backoff.reset()
        return result

    async def _ack(self, row_ids: list[int]) -> None:
        """Ack in the background (one at a time, in order); :meth:`_flush_acks` waits for it."""
        await self._flush_acks()

        async def ack() -> None:
            try:
                await asyncio.to_thread(self._outbox.ack, row_ids)
            except StorageError:
                await self._release(row_ids)  # re-sent later; the cloud de-duplicates
                raise

        self._ack_task = asyncio.ensure_future(ack())

    async def _flush_acks(self) -> None:
        task, self._ack_task = self._ack_task, None
        if task is not None:
            await asyncio.shield(task)

    async def _release(self, row_ids: Sequence[int]) -> None:
        try:
            await asyncio.shield(asyncio.to_thread(self._outbox.release, row_ids))
        except StorageError as exc:  # they come back as pending when the outbox reopens
            log.error("uplink: could not release %d rows: %s", len(row_ids), exc)

    async def _deliver(self, claimed: list[StoredEvent], pending: set[int]) -> DrainResult:
        dead_before, files_before = self.counts["dead_lettered"], self.counts["files_uploaded"]
        refused = await self._upload_files(claimed)
        for ev in claimed:
            if ev.row_id in refused:
                await self._dead_letter(ev, refused[ev.row_id], pending)
        sendable = [ev for ev in claimed if ev.row_id not in refused]
        sent = 0
        for chunk in split_by_size(sendable, self._max_body_bytes):
            sent += await self._post(chunk, pending)
        return DrainResult(
            claimed=len(claimed),
            sent=sent,
            dead_lettered=self.counts["dead_lettered"] - dead_before,
            files_uploaded=self.counts["files_uploaded"] - files_before,
        )

    async def _dead_letter(self, ev: StoredEvent, error: str, pending: set[int]) -> None:
        log.warning("uplink: event %s refused for good: %s", ev.ulid, error)
        await asyncio.to_thread(self._outbox.dead_letter, ev.row_id, error)
        pending.discard(ev.row_id)
        self.counts["dead_lettered"] += 1

    async def _post(self, chunk: list[StoredEvent], pending: set[int]) -> int:
        """POST one body; ack and dead-letter per the answer; return how many were accepted."""
        body = events_body(chunk)
        gzipped = self._settings.gzip
        payload = await asyncio.to_thread(gzip_bytes, body, self._gzip_level) if gzipped else body
        try:
            not_process = await self.client.post_events(payload, gzipped=gzipped)
        except RejectedError as exc:
            if len(chunk) == 1:
                await self._dead_letter(chunk[0], str(exc), pending)
                return 0
            return await self._bisect(chunk, pending)
        by_ulid = {ev.ulid: ev for ev in chunk}
        refused: dict[int, str] = {}
        for item in not_process:
            ev = by_ulid.get(str(item.get("ulid", "")))
            if ev is None:
                if len(chunk) > 1:  # cannot tell which one was refused: narrow it down
                    return await self._bisect(chunk, pending)
                ev = chunk[0]
            refused[ev.row_id] = str(item.get("Error") or "refused by the cloud")
        accepted = [ev.row_id for ev in chunk if ev.row_id not in refused]
        if accepted:
            await self._ack(accepted)
            pending.difference_update(accepted)
        for ev in chunk:
            if ev.row_id in refused:
                await self._dead_letter(ev, refused[ev.row_id], pending)
        self.counts["sent_events"] += len(accepted)
        self.counts["sent_batches"] += 1
        self.counts["sent_bytes"] += len(payload)
        return len(accepted)

    async def _bisect(self, chunk: list[StoredEvent], pending: set[int]) -> int:
        mid = len(chunk) // 2
        return await self._post(chunk[:mid], pending) + await self._post(chunk[mid:], pending)

    async def _upload_files(self, claimed: Sequence[StoredEvent]) -> dict[int, str]:
        """Upload every not-yet-uploaded file; return {row_id: error} of events to dead-letter."""
        todo = [(ev, f) for ev in claimed for f in ev.files if not f.uploaded]
        if not todo:
            return {}
        sizes = await asyncio.to_thread(lambda: [_size_of(f.path) for _, f in todo])
        refused: dict[int, str] = {}
        ready: list[tuple[StoredEvent, StoredFile, int]] = []
        for (ev, f), size in zip(todo, sizes, strict=True):
            if size is None:
                refused.setdefault(ev.row_id, f"file missing on the device: {f.bucket}/{f.key}")
            else:
                ready.append((ev, f, size))
        groups = [
            ready[i : i + MAX_FILES_PER_URL_REQUEST]
            for i in range(0, len(ready), MAX_FILES_PER_URL_REQUEST)
        ]
        while groups:
            group = [item for item in groups.pop() if item[0].row_id not in refused]
            if not group:
                continue
            try:
                urls = await self.client.upload_urls([(f, size) for _, f, size in group])
            except RejectedError as exc:
                if len(group) == 1:
                    refused[group[0][0].row_id] = str(exc)
                else:  # find the file at fault one by one
                    groups.extend([item] for item in group)
                continue
            await self._put_all(group, urls, refused)
        return refused

    async def _put_all(
        self,
        group: list[tuple[StoredEvent, StoredFile, int]],
        urls: list[str],
        refused: dict[int, str],
    ) -> None:
        gate = asyncio.Semaphore(self._file_concurrency)

        async def put(f: StoredFile, url: str, size: int) -> None:
            async with gate:
                await self.client.put_file(url, f, size)
            await asyncio.to_thread(self._outbox.mark_file_uploaded, f.file_id)
            self.counts["files_uploaded"] += 1

        results = await asyncio.gather(
            *(put(f, url, size) for (_, f, size), url in zip(group, urls, strict=True)),
            return_exceptions=True,
        )
        retry: BaseException | None = None
        for (ev, _, _), outcome in zip(group, results, strict=True):
            if isinstance(outcome, RejectedError):
                refused.setdefault(ev.row_id, str(outcome))
            elif isinstance(outcome, BaseException) and retry is None:
                retry = outcome
        if retry is not None:
            raise retry


def _size_of(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None
