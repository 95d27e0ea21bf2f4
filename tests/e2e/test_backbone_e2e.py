"""Backbone end to end: producers → OutboxWriter → SQLite Outbox → Uplink → stand-in cloud.

Everything is real and separate: the cloud is ``scripts/cloud`` in its own process (so it can
be killed and restarted on the same port and data dir), the agent side runs in this process.
While events with files are produced, the cloud is stormed with 500s, 429s, slow answers that
time out, connections dropped before and after the work was done, and a kill -9 mid-drain.
Afterwards every event is in the cloud exactly once (by ulid), every file byte-identical, and
nothing is left on the device or dead-lettered.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import httpx
from backbone_factory import (
    CLIENT_ID,
    CLIENT_SECRET,
    IDENTITY,
    CloudProcess,
    add_fault,
    cloud_files,
    cloud_settings,
    deliveries,
    free_port,
    latest,
    stats,
    telemetry,
    vision_with_files,
    wait_until,
)

from agent.events import Event, TelemetryEventType
from agent.runtime.publisher import Publisher
from agent.store.api import Attachment
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from agent.uplink import Uplink

N_TELEMETRY = 300
N_VISION = 30


def _credentials(tmp: Path) -> Path:
    path = tmp / "clients.toml"
    path.write_text(f'[[clients]]\nclientId = "{CLIENT_ID}"\nclientSecret = "{CLIENT_SECRET}"\n')
    path.chmod(0o600)
    return path


def _storm(url: str, phase: int) -> None:
    if phase == 1:
        add_fault(url, kind="500", count=1, paths=["/auth/token"])
        add_fault(url, kind="500", count=3, paths=["/events"])
        add_fault(url, kind="429", count=2, retry_after=0.3, paths=["/events"])
        add_fault(url, kind="drop", count=2, paths=["/events"])
        add_fault(url, kind="drop_after", count=2, paths=["/events"])
        add_fault(url, kind="slow", count=1, delay_s=1.5, paths=["/events"])  # > client timeout
        add_fault(url, kind="500", count=2, paths=["/s3/"], methods=["PUT"])
        add_fault(url, kind="drop", count=1, paths=["/s3/"], methods=["PUT"])
        add_fault(url, kind="drop_after", count=1, paths=["/s3/"], methods=["PUT"])
        add_fault(url, kind="429", count=1, retry_after=0.2, paths=["/events/files/upload"])
    else:
        add_fault(url, kind="drop_after", count=2, paths=["/events"])
        add_fault(url, kind="500", count=2, paths=["/s3/"], methods=["PUT"])


async def test_events_and_files_arrive_exactly_once_through_fault_storms_and_a_restart(
    tmp_path: Path,
) -> None:
    rng = random.Random(2026)
    produced: list[tuple[Event, list[Attachment]]] = []
    for i in range(N_TELEMETRY + N_VISION):
        if i % 11 == 5 and len(produced) - N_TELEMETRY < N_VISION:
            produced.append(vision_with_files(i, rng))
        else:
            kind = (
                TelemetryEventType.HARSH_BRAKING
                if i % 7 == 0
                else TelemetryEventType.PERIODIC_POSITION
            )
            produced.append((telemetry(i, kind), []))
    while sum(1 for _, a in produced if a) < N_VISION:
        produced.append(vision_with_files(len(produced), rng))
    total = len(produced)

    cloud = CloudProcess(
        tmp_path / "cloud", "--credentials", str(_credentials(tmp_path)), port=free_port()
    ).start()
    restarted = False
    try:
        settings = cloud_settings(
            cloud.url, batch_size=25, timeout_s=1.0, backoff_initial_s=0.05, backoff_max_s=0.5
        )
        with Outbox(tmp_path / "outbox", IDENTITY) as outbox:
            uplink = Uplink(settings, outbox, poll_interval_s=0.5)
            async with OutboxWriter(outbox) as writer:
                sink = Publisher(writer, uplink.notify)
                await asyncio.to_thread(_storm, cloud.url, 1)
                uplink_task = asyncio.create_task(uplink.run())

                async def produce() -> None:
                    # Several producers (GNSS, rules, DMS) put concurrently, over time.
                    for n in range(0, total, 10):
                        group = produced[n : n + 10]
                        await asyncio.gather(*(sink.put(e, a) for e, a in group))
                        await asyncio.sleep(0.01)

                producer = asyncio.create_task(produce())
                # Kill the cloud mid-drain (SIGKILL: no goodbye), bring it back on the same
                # port and data dir, storm it again.
                await wait_until(lambda: stats(cloud.url)["events"] >= total // 3, timeout_s=30)
                cloud.stop(signal.SIGKILL)
                await asyncio.sleep(0.5)
                await asyncio.to_thread(cloud.start)
                restarted = True
                await asyncio.to_thread(_storm, cloud.url, 2)
                await producer

                def drained() -> bool:
                    s = outbox.stats()
                    return sum(s.pending.values()) == 0 and s.in_flight == 0

                await wait_until(drained, timeout_s=60)
                uplink_task.cancel()
                await asyncio.gather(uplink_task, return_exceptions=True)
            diag = uplink.diagnostics()
            dead = outbox.stats().dead_letters

        # Exactly once, by ulid: every produced event, nothing else.
        ulids = [event.ulid for event, _ in produced]
        seen = await asyncio.to_thread(deliveries, cloud.url, ulids)
        assert sorted(seen) == sorted(ulids)
        final = await asyncio.to_thread(stats, cloud.url)
        assert final["events"] == total
        assert dead == 0
        # The storm really happened: retries, and re-deliveries the cloud de-duplicated.
        assert diag["retries"] >= 10
        assert sum(seen.values()) > total  # at-least-once on the wire, once in the store
        # Every file, thumbnail and crop is there, byte for byte; all events are readable.
        with_files = [(e, a) for e, a in produced if a]
        expected = {
            (str(a.ref.bucket), a.ref.filename): a.data for _, att in with_files for a in att
        }
        got = await asyncio.to_thread(cloud_files, cloud.url, list(expected))
        assert got == expected
        assert final["files"] == sum(len(a) for _, a in with_files)
        stored = await asyncio.to_thread(latest, cloud.url, [IDENTITY.device_source], 1000)
        assert len(stored) == total
        # The envelopes in the cloud are the ones the outbox stored: one sequence number each,
        # consecutive, given at put time.
        seqs = sorted(e["sequenceNumber"] for e in stored)
        assert seqs == list(range(seqs[0], seqs[0] + total))
    finally:
        if cloud.proc is not None and cloud.proc.poll() is None:
            cloud.stop()
        assert restarted


async def test_cloud_down_for_a_while_then_everything_goes(tmp_path: Path) -> None:
    """Nothing is dropped because the cloud is down: the backlog leaves when it comes back."""
    port = free_port()
    settings = cloud_settings(f"http://127.0.0.1:{port}", backoff_initial_s=0.05, backoff_max_s=0.3)
    events = [telemetry(i) for i in range(200)]
    with Outbox(tmp_path / "outbox", IDENTITY) as outbox:
        uplink = Uplink(settings, outbox, poll_interval_s=0.2)
        task = asyncio.create_task(uplink.run())
        async with OutboxWriter(outbox) as writer:
            sink = Publisher(writer, uplink.notify)
            for e in events:
                await sink.put(e)
        await wait_until(lambda: uplink.diagnostics()["retries"] >= 3, timeout_s=10)
        assert "ConnectError" in uplink.diagnostics()["last_error"]
        assert sum(outbox.stats().pending.values()) == 200
        cloud = CloudProcess(
            tmp_path / "cloud", "--credentials", str(_credentials(tmp_path)), port=port
        ).start()
        try:
            await wait_until(lambda: sum(outbox.stats().pending.values()) == 0, timeout_s=20)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            got = await asyncio.to_thread(deliveries, cloud.url, [e.ulid for e in events])
            assert sorted(got) == sorted(e.ulid for e in events)
            health = await asyncio.to_thread(httpx.get, f"{cloud.url}/health")
            assert health.status_code == 200
        finally:
            cloud.stop()
