"""The uplink against the real stand-in cloud over loopback, with a real SQLite outbox."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3

import pytest
from backbone_factory import (
    CLIENT_SECRET,
    IDENTITY,
    add_fault,
    cloud_file,
    cloud_settings,
    deliveries,
    invalid_telemetry,
    latest,
    revoke_tokens,
    stats,
    telemetry,
    vision_with_files,
    wait_until,
)
from standin_cloud import CloudServer

from agent.store.outbox import Outbox
from agent.uplink import RetryLaterError, Uplink


def _pending(outbox: Outbox) -> int:
    return sum(outbox.stats().pending.values())


async def test_drain_delivers_every_event_once_and_empties_the_outbox(
    cloud: CloudServer, outbox: Outbox
) -> None:
    events = [telemetry(i) for i in range(120)]
    outbox.append_many(events)
    async with Uplink(cloud_settings(cloud.url, batch_size=50), outbox) as uplink:
        result = await uplink.drain()
    assert result.claimed == 120 and result.sent == 120 and result.dead_lettered == 0
    got = latest(cloud.url, [IDENTITY.device_source])
    assert sorted(e["ulid"] for e in got) == sorted(e.ulid for e in events)
    assert set(deliveries(cloud.url, [e.ulid for e in events]).values()) == {1}
    assert _pending(outbox) == 0 and outbox.stats().in_flight == 0
    # What arrived is the stored envelope, sequence numbers included (1 per event, in order).
    assert sorted(e["sequenceNumber"] for e in got) == list(
        range(got[-1]["sequenceNumber"], got[-1]["sequenceNumber"] + 120)
    )


@pytest.mark.parametrize("use_gzip", [True, False])
async def test_event_bodies_are_gzipped_only_when_configured(
    cloud: CloudServer, outbox: Outbox, use_gzip: bool
) -> None:
    outbox.append_many([telemetry(i) for i in range(10)])
    async with Uplink(cloud_settings(cloud.url, gzip=use_gzip), outbox) as uplink:
        await uplink.drain()
        sent_bytes = uplink.diagnostics()["sent_bytes"]
    requests = stats(cloud.url)["requests"]
    assert requests.get("events bodies gzip", 0) == (1 if use_gzip else 0)
    assert requests.get("events bodies plain", 0) == (0 if use_gzip else 1)
    assert stats(cloud.url)["events"] == 10
    compact = [
        json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode()
        for e in latest(cloud.url, [IDENTITY.device_source])
    ]
    plain_size = len(b'{"Events":[' + b",".join(compact) + b"]}")
    if use_gzip:
        assert sent_bytes < plain_size / 3  # envelopes compress well; proves the body was gzip
    else:
        assert sent_bytes == plain_size  # the stored envelopes joined, byte for byte


async def test_files_are_uploaded_before_their_event_and_served_back(
    cloud: CloudServer, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rng = random.Random(7)
    event, attachments = vision_with_files(1, rng)
    outbox.append(event, attachments)
    async with Uplink(cloud_settings(cloud.url), outbox) as uplink:
        result = await uplink.drain()
    assert result.sent == 1 and result.files_uploaded == 5
    assert "PUT http://" in caplog.text and "/s3/v3-device-faces/" in caplog.text  # httpx logs
    assert "signature=" not in caplog.text  # but not the pre-signed query
    for a in attachments:
        assert cloud_file(cloud.url, str(a.ref.bucket), a.ref.filename) == a.data
    assert stats(cloud.url)["requests"]["POST /events 200"] == 1  # refused events count 400s


async def test_event_is_not_sent_while_one_of_its_files_fails_to_upload(
    cloud: CloudServer, outbox: Outbox
) -> None:
    event, attachments = vision_with_files(2, random.Random(3))
    outbox.append(event, attachments)
    add_fault(cloud.url, kind="500", count=1, paths=["/s3/"])
    async with Uplink(cloud_settings(cloud.url, gzip=False), outbox) as uplink:
        with pytest.raises(RetryLaterError, match="HTTP 500"):
            await uplink.drain_once()
        assert stats(cloud.url)["events"] == 0  # the event waited for its files
        assert _pending(outbox) == 1 and outbox.stats().in_flight == 0  # released, not lost
        result = await uplink.drain()
    assert result.sent == 1
    assert latest(cloud.url, [event.ulid])[0]["ulid"] == event.ulid
    # Files uploaded before the failure were marked and not sent twice.
    assert stats(cloud.url)["requests"].get("PUT /s3/{bucket}/{key:path} 200") == 5


async def test_refused_events_become_dead_letters_and_the_rest_is_acked(
    cloud: CloudServer, outbox: Outbox
) -> None:
    good = [telemetry(i) for i in range(5)]
    bad = invalid_telemetry(10)
    outbox.append_many([good[0], good[1], bad, good[2], good[3], good[4]])
    async with Uplink(cloud_settings(cloud.url), outbox) as uplink:
        result = await uplink.drain()
        diag = uplink.diagnostics()
    assert result.sent == 5 and result.dead_lettered == 1
    assert diag["dead_lettered"] == 1
    dead = outbox.dead_letters()
    assert [d.ulid for d in dead] == [bad.ulid]
    assert "latitude" in dead[0].error
    assert sorted(e["ulid"] for e in latest(cloud.url, [IDENTITY.device_source])) == sorted(
        e.ulid for e in good
    )
    assert _pending(outbox) == 0


async def test_event_naming_a_file_never_stored_is_refused_by_the_cloud(
    cloud: CloudServer, outbox: Outbox
) -> None:
    event, attachments = vision_with_files(3, random.Random(1))
    outbox.append(event, attachments[1:])  # cam0 named in files[] but never attached
    async with Uplink(cloud_settings(cloud.url), outbox) as uplink:
        result = await uplink.drain()
    assert result.dead_lettered == 1 and result.sent == 0
    assert "file not uploaded" in outbox.dead_letters()[0].error
    assert stats(cloud.url)["events"] == 0


async def test_corrupt_stored_envelope_is_isolated_by_bisection(
    cloud: CloudServer, outbox: Outbox
) -> None:
    events = [telemetry(i) for i in range(9)]
    outbox.append_many(events)
    with sqlite3.connect(outbox.path) as db:  # bit rot in one stored row
        db.execute("UPDATE events SET envelope = ? WHERE ulid = ?", (b"{not json", events[4].ulid))
    async with Uplink(cloud_settings(cloud.url), outbox) as uplink:
        result = await uplink.drain()
    assert result.sent == 8 and result.dead_lettered == 1
    assert [d.ulid for d in outbox.dead_letters()] == [events[4].ulid]
    assert stats(cloud.url)["events"] == 8


async def test_a_revoked_token_is_replaced_once_and_the_call_retried(
    cloud: CloudServer, outbox: Outbox
) -> None:
    outbox.append_many([telemetry(1)])
    async with Uplink(cloud_settings(cloud.url), outbox) as uplink:
        await uplink.drain()
        await asyncio.to_thread(revoke_tokens, cloud.url)
        await asyncio.sleep(0.01)
        outbox.append_many([telemetry(2)])
        result = await uplink.drain()
        diag = uplink.diagnostics()
    assert result.sent == 1
    assert diag["token_refreshes"] == 2 and diag["retries"] == 0
    requests = stats(cloud.url)["requests"]
    assert requests["POST /events 401"] == 1 and requests["POST /events 200"] == 2
    assert requests["POST /auth/token 200"] == 2


async def test_token_is_refreshed_before_it_expires(tmp_path: object, outbox: Outbox) -> None:
    from pathlib import Path

    from backbone_factory import cloud_config

    assert isinstance(tmp_path, Path)
    with CloudServer(cloud_config(tmp_path / "cloud", token_ttl_s=2)) as cloud:
        async with Uplink(cloud_settings(cloud.url), outbox) as uplink:
            outbox.append_many([telemetry(1)])
            await uplink.drain()
            assert 1.5 < uplink.diagnostics()["token_valid_for_s"] <= 1.8  # 10 % margin
            await asyncio.sleep(1.85)
            outbox.append_many([telemetry(2)])
            await uplink.drain()
            assert uplink.diagnostics()["token_refreshes"] == 2
        requests = stats(cloud.url)["requests"]
    assert requests.get("POST /events 401", 0) == 0  # refreshed ahead, never refused
    assert requests["POST /events 200"] == 2


async def test_429_waits_for_retry_after_then_delivers(cloud: CloudServer, outbox: Outbox) -> None:
    outbox.append_many([telemetry(i) for i in range(3)])
    add_fault(cloud.url, kind="429", count=1, retry_after=0.7, paths=["/events"])
    uplink = Uplink(cloud_settings(cloud.url, backoff_initial_s=0.01), outbox)
    task = asyncio.create_task(uplink.run())
    try:
        elapsed = await wait_until(lambda: stats(cloud.url)["events"] == 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    diag = uplink.diagnostics()
    assert elapsed >= 0.7  # backoff alone (<= 0.01 s) would have retried at once
    assert diag["retries"] == 1 and diag["backoff_s"] == 0.7
    assert "429" in diag["last_error"]


async def test_errors_and_dropped_connections_are_retried_until_delivered(
    cloud: CloudServer, outbox: Outbox
) -> None:
    events = [telemetry(i) for i in range(40)]
    outbox.append_many(events)
    for kind in ("500", "drop", "500", "drop_after", "429"):
        add_fault(cloud.url, kind=kind, count=1, retry_after=0, paths=["/events"])
    add_fault(cloud.url, kind="drop", count=1, paths=["/auth/token"])
    uplink = Uplink(cloud_settings(cloud.url, batch_size=20), outbox)
    task = asyncio.create_task(uplink.run())
    try:
        await wait_until(lambda: stats(cloud.url)["events"] == 40, timeout_s=20)
        await wait_until(lambda: _pending(outbox) + outbox.stats().in_flight == 0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert uplink.diagnostics()["retries"] == 6
    seen = deliveries(cloud.url, [e.ulid for e in events])
    assert sorted(seen) == sorted(e.ulid for e in events)  # every one, exactly once stored
    assert sum(seen.values()) == 40 + 20  # drop_after: that batch was delivered twice, deduped
    assert stats(cloud.url)["events"] == 40


async def test_run_wakes_on_notify_instead_of_waiting_for_the_poll(
    cloud: CloudServer, outbox: Outbox
) -> None:
    uplink = Uplink(cloud_settings(cloud.url), outbox, poll_interval_s=60)
    task = asyncio.create_task(uplink.run())
    try:
        await asyncio.sleep(0.3)  # idle, waiting
        assert uplink.diagnostics()["state"] == "idle"
        outbox.append_many([telemetry(1)])
        uplink.notify()
        await wait_until(lambda: stats(cloud.url)["events"] == 1, timeout_s=3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert uplink.diagnostics()["state"] == "stopped"


async def test_cancelling_run_mid_request_hands_the_rows_back(
    cloud: CloudServer, outbox: Outbox
) -> None:
    outbox.append_many([telemetry(i) for i in range(30)])
    add_fault(cloud.url, kind="slow", count=1, delay_s=3, paths=["/events"])
    uplink = Uplink(cloud_settings(cloud.url, batch_size=10), outbox)
    task = asyncio.create_task(uplink.run())
    await wait_until(lambda: stats(cloud.url)["faults"]["slow"] == 1, timeout_s=3)
    await wait_until(lambda: outbox.stats().in_flight == 20, timeout_s=3)  # + the batch ahead
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert outbox.stats().in_flight == 0 and _pending(outbox) == 30


async def test_wrong_secret_keeps_retrying_and_never_leaks_secrets(
    cloud: CloudServer, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outbox.append_many([telemetry(1)])
    wrong = "Not-The-Secret-41b7"
    uplink = Uplink(cloud_settings(cloud.url, client_secret=wrong), outbox)
    task = asyncio.create_task(uplink.run())
    try:
        await wait_until(lambda: uplink.diagnostics()["retries"] >= 3, timeout_s=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    diag = uplink.diagnostics()
    assert "credentials refused" in diag["last_error"]
    assert _pending(outbox) == 1  # kept, will go once the credentials are fixed
    text = json.dumps(diag) + caplog.text
    assert wrong not in text and CLIENT_SECRET not in text
    # And with the right secret, a token is used but never logged either.
    caplog.clear()
    async with Uplink(cloud_settings(cloud.url), outbox) as uplink2:
        await uplink2.drain()
        text = json.dumps(uplink2.diagnostics()) + caplog.text
    assert CLIENT_SECRET not in text and "v1." not in text


async def test_drain_failure_hands_back_the_batch_claimed_ahead(
    cloud: CloudServer, outbox: Outbox
) -> None:
    outbox.append_many([telemetry(i) for i in range(60)])
    add_fault(cloud.url, kind="slow", count=1, delay_s=0, paths=["/events"])  # 1st POST passes
    add_fault(cloud.url, kind="500", count=1, paths=["/events"])  # 2nd POST fails
    async with Uplink(cloud_settings(cloud.url, batch_size=20), outbox) as uplink:
        with pytest.raises(RetryLaterError):
            await uplink.drain()
        assert outbox.stats().in_flight == 0  # batch 2 released, batch 3 (claimed ahead) too
        assert _pending(outbox) == 40 and stats(cloud.url)["events"] == 20
        assert (await uplink.drain()).sent == 40
    assert _pending(outbox) == 0
