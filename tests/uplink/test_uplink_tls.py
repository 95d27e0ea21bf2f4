"""The uplink over real HTTPS: the stand-in cloud serving TLS with a cert from a throwaway CA.

The certificate is made here with the openssl CLI (a private CA and a leaf for 127.0.0.1 and
localhost); the agent trusts it only through ``cloud.ca_file``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from backbone_factory import (
    ADMIN_HEADERS,
    CLIENT_SECRET,
    cloud_config,
    cloud_settings,
    make_tls_files,
    telemetry,
    vision_with_files,
    wait_until,
)
from standin_cloud import CloudServer

from agent.store.outbox import Outbox
from agent.uplink import RetryLaterError, Uplink


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_cloud(tmp_path: Path, tls: dict[str, Path]) -> Iterator[CloudServer]:
    config = cloud_config(tmp_path / "cloud", tls_cert=tls["cert"], tls_key=tls["key"])
    with CloudServer(config) as server:
        yield server


def _reader(tls: dict[str, Path]) -> httpx.Client:
    """The test's own view of the cloud, trusting the throwaway CA."""
    return httpx.Client(verify=ssl.create_default_context(cafile=str(tls["ca"])), timeout=10)


def _deliveries(url: str, tls: dict[str, Path], ulids: list[str]) -> dict[str, int]:
    with _reader(tls) as http:
        r = http.post(f"{url}/admin/deliveries", json={"ulids": ulids}, headers=ADMIN_HEADERS)
        r.raise_for_status()
        out: dict[str, int] = r.json()["deliveries"]
        return out


def _cloud_stats(url: str, tls: dict[str, Path]) -> dict[str, Any]:
    with _reader(tls) as http:
        r = http.get(f"{url}/admin/stats", headers=ADMIN_HEADERS)
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out


def _pending(outbox: Outbox) -> int:
    return sum(outbox.stats().pending.values())


async def test_events_and_files_arrive_once_over_https_with_the_private_ca_trusted(
    https_cloud: CloudServer, outbox: Outbox, tls: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert https_cloud.url.startswith("https://127.0.0.1:")
    rng = random.Random(7)
    events = [telemetry(i) for i in range(30)]
    outbox.append_many(events)
    vision, attachments = vision_with_files(100, rng)
    outbox.append(vision, attachments)
    settings = cloud_settings(https_cloud.url, ca_file=tls["ca"], batch_size=10)
    async with Uplink(settings, outbox) as uplink:
        result = await uplink.drain()
        diag = uplink.diagnostics()
    assert result.sent == 31 and result.files_uploaded == 5 and result.dead_lettered == 0
    assert diag["tls"] == f"ca_file {tls['ca']}" and diag["last_error"] is None
    ulids = [e.ulid for e in events] + [vision.ulid]
    assert set(_deliveries(https_cloud.url, tls, ulids).values()) == {1}
    assert _pending(outbox) == 0 and outbox.stats().in_flight == 0
    # The pre-signed upload URLs the cloud handed out were https (httpx logs each PUT).
    assert "PUT https://127.0.0.1" in caplog.text and "PUT http://" not in caplog.text
    # Every file is served back byte-identical, through https read-API links.
    with _reader(tls) as http:
        for a in attachments:
            r = http.post(
                f"{https_cloud.url}/events/files",
                json={"files": [{"BucketName": a.ref.bucket, "FileName": a.ref.filename}]},
            )
            urlfile = r.json()["files"][0]["urlfile"]
            assert urlfile.startswith(f"{https_cloud.url}/s3/")
            got = http.get(urlfile)
            assert got.status_code == 200 and got.content == a.data


async def test_untrusted_certificate_keeps_everything_until_the_ca_is_configured(
    https_cloud: CloudServer, outbox: Outbox, tls: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything httpx/httpcore/uplink say, to check for secrets
    rng = random.Random(8)
    events = [telemetry(i) for i in range(40)]
    outbox.append_many(events)
    vision, attachments = vision_with_files(200, rng)
    outbox.append(vision, attachments)
    ulids = [e.ulid for e in events] + [vision.ulid]

    # Default verification: the throwaway CA is in no store the agent knows.
    untrusting = Uplink(cloud_settings(https_cloud.url), outbox, poll_interval_s=0.05)
    task = asyncio.create_task(untrusting.run())
    try:
        await wait_until(lambda: untrusting.diagnostics()["retries"] >= 3, timeout_s=5)
        assert task.done() is False  # still retrying, not crashed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    diag = untrusting.diagnostics()
    assert diag["tls"] == "default store" and diag["sent_events"] == 0
    assert "TLS certificate not trusted" in diag["last_error"]
    assert "unable to get local issuer certificate" in diag["last_error"]
    assert "TLS certificate not trusted" in caplog.text  # the backoff warning names it
    stats = _cloud_stats(https_cloud.url, tls)
    assert stats["events"] == 0 and stats["files"] == 0
    assert stats["requests"].get("POST /auth/token 200", 0) == 0  # not even the secret went out
    assert _pending(outbox) == 41 and outbox.stats().in_flight == 0  # all kept, none claimed

    # Configured with the CA, a new uplink delivers all of it, once.
    trusting = Uplink(
        cloud_settings(https_cloud.url, ca_file=tls["ca"]), outbox, poll_interval_s=0.05
    )
    task = asyncio.create_task(trusting.run())
    try:
        await wait_until(lambda: trusting.diagnostics()["sent_events"] == 41, timeout_s=8)
        await wait_until(lambda: trusting.diagnostics()["state"] == "idle", timeout_s=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert set(_deliveries(https_cloud.url, tls, ulids).values()) == {1}
    assert _cloud_stats(https_cloud.url, tls)["files"] == len(attachments)
    assert _pending(outbox) == 0 and outbox.stats().in_flight == 0  # all acked

    # No secret in any log line or in diagnostics: the client secret, a token, a signature.
    text = caplog.text + json.dumps(diag) + json.dumps(trusting.diagnostics(), default=str)
    assert CLIENT_SECRET not in text and "v1." not in text and "signature=" not in text
    assert tls["key"].read_text().strip().splitlines()[1] not in text


async def test_unloadable_ca_file_is_retried_without_sending_anything(
    https_cloud: CloudServer, outbox: Outbox, tls: dict[str, Path], tmp_path: Path
) -> None:
    outbox.append_many([telemetry(1)])
    missing = tmp_path / "not-provisioned-yet.pem"
    async with Uplink(cloud_settings(https_cloud.url, ca_file=missing), outbox) as uplink:
        with pytest.raises(RetryLaterError, match=r"cannot load cloud\.ca_file"):
            await uplink.drain()
        assert _pending(outbox) == 1 and outbox.stats().in_flight == 0
        # The file shows up (provisioning): the same uplink picks it up on the next attempt.
        missing.write_bytes(tls["ca"].read_bytes())
        assert (await uplink.drain()).sent == 1
    assert _pending(outbox) == 0


async def test_a_different_private_ca_is_not_trusted(
    https_cloud: CloudServer, outbox: Outbox, tmp_path: Path
) -> None:
    other = make_tls_files(tmp_path / "other", ca_name="Some Other CA")
    outbox.append_many([telemetry(1)])
    async with Uplink(cloud_settings(https_cloud.url, ca_file=other["ca"]), outbox) as uplink:
        with pytest.raises(RetryLaterError, match="TLS certificate not trusted"):
            await uplink.drain()
    assert _pending(outbox) == 1


async def test_verification_off_still_encrypts_and_delivers(
    https_cloud: CloudServer, outbox: Outbox, tls: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    outbox.append_many([telemetry(1)])
    async with Uplink(cloud_settings(https_cloud.url, verify_tls=False), outbox) as uplink:
        assert (await uplink.drain()).sent == 1
        assert uplink.diagnostics()["tls"] == "unverified"
    assert "verify_tls is off" in caplog.text
    assert _cloud_stats(https_cloud.url, tls)["events"] == 1
