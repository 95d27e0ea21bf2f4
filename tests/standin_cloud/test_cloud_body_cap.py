"""Bodies are capped however they arrive: Content-Length, chunked, gzip, or a PUT's signed size."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from backbone_factory import IDENTITY, cloud_config, stats, telemetry, token
from standin_cloud import CloudServer

from agent.events import to_envelope

CAP = 64 * 1024  # the cap in these tests (64 MiB by default)


@pytest.fixture
def small(tmp_path: Path) -> Iterator[CloudServer]:
    with CloudServer(cloud_config(tmp_path / "cloud", max_body_bytes=CAP)) as server:
        yield server


def _big_events_body() -> bytes:
    """A valid ``{"Events": [...]}`` body larger than CAP (padding is JSON whitespace)."""
    env = to_envelope(telemetry(1), IDENTITY, 1)
    return b'{"Events": [' + json.dumps(env).encode() + b" " * CAP + b"]}"


def _too_large(r: httpx.Response) -> None:
    assert r.status_code == 413, (r.status_code, r.text)
    assert "too large" in r.json()["Error"]


def _chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_a_chunked_body_without_content_length_is_capped(small: CloudServer) -> None:
    headers = {"Authorization": token(small.url), "Content-Type": "application/json"}
    # A generator makes httpx send Transfer-Encoding: chunked, no Content-Length.
    r = httpx.post(f"{small.url}/events", headers=headers, content=_chunks(_big_events_body()))
    _too_large(r)
    assert stats(small.url)["events"] == 0


def test_reading_stops_at_the_cap_without_waiting_for_the_end(small: CloudServer) -> None:
    # The body never ends: the cloud must answer once CAP is passed, not read on for ever.
    head = (
        "POST /events HTTP/1.1\r\nHost: cloud\r\nContent-Type: application/json\r\n"
        f"Authorization: {token(small.url)}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n" % 16384 + b" " * 16384 + b"\r\n"
    with socket.create_connection((small.host, small.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for _ in range(CAP // 16384 + 2):
            sock.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer:
            got = sock.recv(4096)
            assert got, "connection closed without an answer"
            answer += got
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_declared_length_over_the_cap_is_refused_before_reading(small: CloudServer) -> None:
    headers = {"Authorization": token(small.url)}
    r = httpx.post(f"{small.url}/events", headers=headers, content=_big_events_body())
    _too_large(r)
    r = httpx.post(f"{small.url}/auth/token", content=b" " * (CAP + 1))
    _too_large(r)


def test_gzip_that_inflates_past_the_cap_is_refused(small: CloudServer) -> None:
    headers = {"Authorization": token(small.url), "Content-Encoding": "gzip"}
    packed = gzip.compress(_big_events_body())
    assert len(packed) < CAP
    _too_large(httpx.post(f"{small.url}/events", headers=headers, content=packed))


def _put_url(url: str, size: int) -> str:
    r = httpx.post(
        f"{url}/events/files/upload",
        headers={"Authorization": token(url)},
        json={"files": [{"BucketName": "v3-device-images", "FileName": "a/b.png", "Size": size}]},
    )
    out: str = r.json()["files"][0]["uploadUrl"]
    return out


def test_a_put_is_capped_at_its_signed_size_however_it_is_sent(cloud: CloudServer) -> None:
    url = _put_url(cloud.url, 10)
    _too_large(httpx.put(url, content=_chunks(b"x" * 100_000)))
    _too_large(httpx.put(url, content=b"x" * 11))
    assert stats(cloud.url)["files"] == 0
    assert httpx.put(url, content=_chunks(b"y" * 10, 3)).status_code == 200  # chunked, exact
    assert stats(cloud.url)["file_bytes"] == 10
