"""Hostile input never makes the cloud answer 500: each case gets the seed's ``{"Error": ...}``.

Every case runs on one keep-alive connection, which must survive it (a 500 from an exception
also closed the connection), and the cloud's own request counters must show no 500 at the end.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from backbone_factory import (
    ADMIN_HEADERS,
    CLIENT_ID,
    IDENTITY,
    image_bytes,
    stats,
    telemetry,
)
from standin_cloud import CloudServer

from agent.events import to_envelope

DEEP = 5000  # far past Python's recursion limit (1000)
DEEP_LIST = b"[" * DEEP + b"]" * DEEP
DEEP_OBJECT = b'{"a":' * DEEP + b"1" + b"}" * DEEP


@pytest.fixture
def http(cloud: CloudServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.url, timeout=30) as client:
        yield client


def _no_500(cloud: CloudServer) -> None:
    requests = stats(cloud.url)["requests"]
    assert not [k for k in requests if k.endswith(" 500")], requests


def _bad_request(r: httpx.Response) -> None:
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["Error"].endswith("(error Aplication)")


DEEP_BODIES: list[tuple[str, bytes]] = [
    ("/auth/token", DEEP_LIST),
    ("/auth/token", DEEP_OBJECT),
    ("/events", DEEP_LIST),
    ("/events", b'{"Events":[' + DEEP_OBJECT + b"]}"),  # the fast path's per-event scanner
    ("/events", b'{"Events":[' + DEEP_LIST + b'], "x": 1}'),
    ("/events", b'{"x": 1, "Events":[' + DEEP_LIST + b"]}"),  # the full-parse path
    ("/events/latest", DEEP_OBJECT),
    ("/events/files/upload", b'{"files": ' + DEEP_LIST + b"}"),
    ("/events/files", DEEP_LIST),
    ("/admin/faults", DEEP_LIST),
    ("/admin/deliveries", b'{"ulids": ' + DEEP_LIST + b"}"),
]


@pytest.mark.parametrize(("path", "body"), DEEP_BODIES)
def test_deeply_nested_json_is_a_bad_request(
    cloud: CloudServer, http: httpx.Client, auth: dict[str, str], path: str, body: bytes
) -> None:
    headers = {**auth, **ADMIN_HEADERS, "Content-Type": "application/json", "maxkeys": "5"}
    r = http.post(path, headers=headers, content=body)
    _bad_request(r)
    assert http.get("/health").status_code == 200  # the same connection still works
    _no_500(cloud)


def test_deeply_nested_json_inside_an_event_extra_is_refused(
    cloud: CloudServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    # A valid envelope whose documented-extras object hides a deep value.
    env = to_envelope(telemetry(1), IDENTITY, 1)
    text = json.dumps({"Events": [env]}).encode()
    marker = b'"telemetryEvent": {'
    body = text.replace(marker, marker + b'"deep": ' + DEEP_LIST + b", ")
    r = http.post("/events", headers=auth, content=body)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert r.json()["NotProcess"], "a deep extra must not be stored"
    assert stats(cloud.url)["events"] == 0
    _no_500(cloud)


@pytest.mark.parametrize(
    "body",
    [
        b'{"clientId": "device-under-test", "clientSecret": "\\ud800"}',
        b'{"clientId": "\\ud800", "clientSecret": "\\ud800"}',
        b'{"clientId": "device-under-test", "clientSecret": "s\\u00e9cret"}',
    ],
)
def test_unencodable_or_non_ascii_secrets_are_unauthorized(
    cloud: CloudServer, http: httpx.Client, body: bytes
) -> None:
    assert CLIENT_ID in body.decode() or b"ud800" in body
    r = http.post("/auth/token", content=body)
    assert r.status_code == 401 and r.json() == {"Error": "Unauthorized"}
    _no_500(cloud)


@pytest.mark.parametrize(
    "token",
    [
        "v1.ZGV2.1.2.caf\xe9",  # five parts, a non-ASCII MAC
        "v1.\xe9.1.2." + "0" * 64,
        "\xe9\xe8\xff",
    ],
)
def test_tokens_with_non_ascii_characters_are_unauthorized(
    cloud: CloudServer, http: httpx.Client, token: str
) -> None:
    headers = [(b"Authorization", token.encode("latin-1"))]
    for path in ("/events", "/events/latest", "/events/files/upload"):
        r = http.post(path, headers=headers, json={"Events": []})
        assert r.status_code == 401 and r.json() == {"Error": "Unauthorized"}, path
    _no_500(cloud)


def _put_url(http: httpx.Client, auth: dict[str, str], key: str, size: int) -> str:
    item = {"BucketName": "v3-device-images", "FileName": key, "Size": size}
    r = http.post("/events/files/upload", headers=auth, json={"files": [item]})
    assert r.status_code == 200, r.text
    url: str = r.json()["files"][0]["uploadUrl"]
    return url


def _read_back(http: httpx.Client, key: str) -> bytes | None:
    r = http.post(
        "/events/files", json={"files": [{"BucketName": "v3-device-images", "FileName": key}]}
    )
    assert r.status_code == 200, r.text
    got = http.get(r.json()["files"][0]["urlfile"])
    return got.content if got.status_code == 200 else None


def test_put_signatures_with_non_ascii_characters_are_forbidden(
    cloud: CloudServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    url = _put_url(http, auth, "a/sig.png", 3)
    for bad in ("%C3%A9" * 32, "%FF%FE", "%E2%82%AC0"):
        r = http.put(url.replace("signature=", f"signature={bad}"), content=b"abc")
        assert r.status_code == 403, r.text
    _no_500(cloud)


def test_a_key_with_a_300_character_part_is_stored_and_served(
    cloud: CloudServer, http: httpx.Client, auth: dict[str, str]
) -> None:
    # Longer than a file name may be (NAME_MAX 255); S3 keys may be 1024 bytes long.
    key = f"{IDENTITY.account_ulid}/{'x' * 300}.png"
    data = image_bytes(random.Random(5), 100)
    assert http.put(_put_url(http, auth, key, len(data)), content=data).status_code == 200
    assert _read_back(http, key) == data
    _no_500(cloud)


@pytest.mark.parametrize(
    "keys", [("a/b", "a/b/c.png"), ("a/b/c.png", "a/b")], ids=["file-then-below", "below-then-file"]
)
def test_a_key_may_be_a_prefix_of_another(
    cloud: CloudServer, http: httpx.Client, auth: dict[str, str], keys: tuple[str, str]
) -> None:
    # S3 keys are flat: "a/b" and "a/b/c.png" are two objects, not a file and a directory.
    rng = random.Random(6)
    blobs = {k: image_bytes(rng, 50) for k in keys}
    for key, data in blobs.items():
        r = http.put(_put_url(http, auth, key, len(data)), content=data)
        assert r.status_code == 200, r.text
    for key, data in blobs.items():
        assert _read_back(http, key) == data
    _no_500(cloud)


UNHASHABLE_AND_ODD: list[tuple[str, Any]] = [
    ("/events/files/upload", {"files": [{"BucketName": [], "FileName": "a.png", "Size": 1}]}),
    ("/events/files/upload", {"files": [{"BucketName": {}, "FileName": "a.png", "Size": 1}]}),
    (
        "/events/files/upload",
        {"files": [{"BucketName": "v3-device-images", "FileName": "\ud800.png", "Size": 1}]},
    ),
    (
        "/events/files/upload",
        {"files": [{"BucketName": "v3-device-images", "FileName": "é" * 600, "Size": 1}]},
    ),
    ("/events/files", {"files": [{"BucketName": [], "FileName": "a.png"}]}),
    ("/events/files", {"files": [{"BucketName": "v3-device-images", "FileName": "\udcff"}]}),
    ("/events/latest", {"items": ["\ud800"]}),
    ("/admin/deliveries", {"ulids": ["\ud800"]}),
    ("/admin/deliveries", {"ulids": [[[]]]}),
    ("/admin/faults", {"kind": "429", "retry_after": 1e400}),
    ("/admin/faults", {"kind": "slow", "delay_s": 1e400}),
    ("/admin/faults", {"kind": "500", "count": 1e400}),
    ("/admin/faults", {"kind": ["500"]}),
    ("/admin/faults", {"kind": "500", "paths": [["/events"]]}),
    ("/admin/faults", {"kind": "500", "count": 10**30}),
]


@pytest.mark.parametrize(("path", "body"), UNHASHABLE_AND_ODD)
def test_odd_values_in_request_bodies_are_bad_requests(
    cloud: CloudServer, http: httpx.Client, auth: dict[str, str], path: str, body: Any
) -> None:
    text = json.dumps(body).replace("Infinity", "1e400")  # json writes inf as Infinity
    headers = {**auth, **ADMIN_HEADERS, "maxkeys": "5", "Content-Type": "application/json"}
    r = http.post(path, headers=headers, content=text.encode())
    _bad_request(r)
    assert http.get("/admin/faults", headers=ADMIN_HEADERS).status_code == 200
    _no_500(cloud)


def _event_with(mutate: Any) -> dict[str, Any]:
    env = to_envelope(telemetry(1), IDENTITY, 1)
    mutate(env)
    return env


ODD_EVENTS: list[tuple[str, Any]] = [
    (
        "unhashable bucket",
        lambda e: e.__setitem__("files", [{"filename": "a.png", "bucket": [], "type": "image"}]),
    ),
    (
        "unhashable type",
        lambda e: e.__setitem__(
            "files", [{"filename": "a.png", "bucket": "v3-device-images", "type": {}}]
        ),
    ),
    (
        "unhashable feature",
        lambda e: e.__setitem__(
            "files",
            [{"filename": "a.png", "bucket": "v3-device-images", "type": "image", "feature": []}],
        ),
    ),
    ("surrogate unknown key", lambda e: e.__setitem__("\ud800", 1)),
    (
        "surrogate filename",
        lambda e: e.__setitem__(
            "files", [{"filename": "\ud800", "bucket": "v3-device-images", "type": "image"}]
        ),
    ),
    ("surrogate in an extra", lambda e: e["telemetryEvent"].__setitem__("note", "\ud800")),
    ("unicode digits as deviceSource", lambda e: e.__setitem__("deviceSource", "٣٣٣")),
]


@pytest.mark.parametrize("case", [c for c, _ in ODD_EVENTS])
def test_odd_events_are_refused_in_not_process(
    cloud: CloudServer, http: httpx.Client, auth: dict[str, str], case: str
) -> None:
    mutate = dict(ODD_EVENTS)[case]
    env = _event_with(mutate)
    # Not json=: httpx refuses to encode lone surrogates; the fallback full parse is exercised
    # by the non-compact separators too.
    text = json.dumps({"x": 0, "Events": [env]})
    r = http.post("/events", headers=auth, content=text.encode())
    assert r.status_code == 200, r.text
    [refused] = r.json()["NotProcess"]
    assert refused["Error"].endswith("(error Aplication)")
    assert stats(cloud.url)["events"] == 0
    _no_500(cloud)
