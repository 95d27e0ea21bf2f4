"""The stand-in cloud's upload API (CONTRACT.md §3): tokens, envelope validation, files."""

from __future__ import annotations

import copy
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from backbone_factory import (
    CLIENT_ID,
    CLIENT_SECRET,
    IDENTITY,
    cloud_config,
    image_bytes,
    stats,
    telemetry,
    vision_with_files,
)
from standin_cloud import CloudServer
from standin_cloud.signing import Signer
from standin_cloud.store import object_file

from agent.events import (
    ENVELOPE_KEYS,
    Event,
    HardwareDetail,
    HardwareEventType,
    to_envelope,
)

Envelope = dict[str, Any]


def _envelopes() -> list[Envelope]:
    vision, _ = vision_with_files(2, random.Random(0))
    hardware = Event(
        timestamp_ms=telemetry(3).timestamp_ms,
        context=telemetry(3).context,
        detail=HardwareDetail(HardwareEventType.AGENT_STARTED, time_since_boot_ms=5000),
    )
    vision_no_files = Event(vision.timestamp_ms, vision.context, vision.detail)
    return [
        to_envelope(e, IDENTITY, i) for i, e in enumerate([telemetry(1), vision_no_files, hardware])
    ]


def _post(url: str, auth: dict[str, str], events: list[Any], **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/events", headers=auth, json={"Events": events}, **kw)


def test_token_for_known_client_only(cloud: CloudServer) -> None:
    ok = httpx.post(
        f"{cloud.url}/auth/token", json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    )
    assert ok.status_code == 200
    assert ok.json()["expiresIn"] == 3600 and ok.json()["accessToken"]
    wrong = httpx.post(f"{cloud.url}/auth/token", json={"clientId": CLIENT_ID, "clientSecret": "x"})
    assert wrong.status_code == 401 and wrong.json() == {"Error": "Unauthorized"}
    missing = httpx.post(f"{cloud.url}/auth/token", json={"clientId": CLIENT_ID})
    assert missing.status_code == 400
    assert missing.json()["Error"].endswith("(error Aplication)")
    wrong_method = httpx.get(f"{cloud.url}/auth/token")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"Error": "Method not allowed"}


def test_only_the_raw_unexpired_token_is_accepted(cloud: CloudServer, auth: dict[str, str]) -> None:
    token = auth["Authorization"]
    assert _post(cloud.url, auth, []).status_code == 200
    for bad in (
        {},
        {"Authorization": f"Bearer {token}"},
        {"Authorization": token[:-1] + ("1" if token.endswith("0") else "0")},
    ):
        r = _post(cloud.url, bad, [])
        assert r.status_code == 401 and r.json() == {"Error": "Unauthorized"}


def test_tokens_expire_and_are_bound_to_the_key() -> None:
    signer = Signer(b"k" * 32)
    token = signer.issue_token("dev", issued_at=1000.0, expires_at=1060.0)
    assert signer.check_token(token, now=1059.9) == "dev"
    assert signer.check_token(token, now=1060.0) is None
    assert signer.check_token(token, now=1001.0, not_before=1000.5) is None
    assert Signer(b"j" * 32).check_token(token, now=1001.0) is None


def test_valid_envelopes_are_stored_once_even_when_resent(
    cloud: CloudServer, auth: dict[str, str]
) -> None:
    envs = _envelopes()
    assert [e["eventType"] for e in envs] == [1, 2, 3]
    for _ in range(2):
        r = _post(cloud.url, auth, envs)
        assert r.status_code == 200 and r.json() == {"NotProcess": None}
    s = stats(cloud.url)
    assert s["events"] == 3 and s["redeliveries"] == 3


def _drop(key: str) -> Callable[[Envelope], None]:
    return lambda e: e.pop(key)


def _set(key: str, value: Any) -> Callable[[Envelope], None]:
    return lambda e: e.__setitem__(key, value)


MUTATIONS: dict[str, tuple[int, Callable[[Envelope], None], str]] = {
    "missing key": (0, _drop("odometer"), "odometer: missing"),
    "unknown key": (0, _set("extra", 1), "extra: unknown key"),
    "string speed": (0, _set("speed", "32"), "speed: must be an integer"),
    "int as bool": (0, _set("fixed", 1), "fixed: must be a boolean"),
    "bool as number": (0, _set("latitude", True), "latitude: must be a number"),
    "bad ulid": (0, _set("ulid", "01D1LD8WGVJ3GGS45SGSAD89A"), "ulid: not a ULID"),
    "seq too big": (0, _set("sequenceNumber", 1 << 32), "sequenceNumber: out of range"),
    "event type 4": (0, _set("eventType", 4), "eventType: must be 1, 2 or 3"),
    "seed hardware says 2": (2, _set("eventType", 2), "hardwareEvent: must be {} for eventType 2"),
    "two nested objects": (
        0,
        lambda e: e.__setitem__("hardwareEvent", {"HardwareEventType": 1}),
        "hardwareEvent: must be {} for eventType 1",
    ),
    "seed colon key": (
        1,
        lambda e: e["visionEvent"].__setitem__(
            "MaskConfidence:", e["visionEvent"].pop("MaskConfidence")
        ),
        "visionEvent.MaskConfidence: missing",
    ),
    "box field": (
        1,
        lambda e: e["visionEvent"]["BoundingBox"].pop("IsDriver"),
        "visionEvent.BoundingBox.IsDriver: missing",
    ),
    "bad bucket": (
        0,
        _set("files", [{"filename": "a/b.png", "bucket": "elsewhere", "type": "image"}]),
        "files[0].bucket: unknown bucket",
    ),
    "escaping key": (
        0,
        _set("files", [{"filename": "../x.png", "bucket": "v3-device-images", "type": "image"}]),
        "files[0].filename",
    ),
}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_invalid_envelope_is_refused_alone_with_its_error(
    cloud: CloudServer, auth: dict[str, str], case: str
) -> None:
    which, mutate, message = MUTATIONS[case]
    envs = _envelopes()
    bad = copy.deepcopy(envs[which])
    mutate(bad)
    good = [e for i, e in enumerate(envs) if i != which]
    r = _post(cloud.url, auth, [good[0], bad, good[1]])
    assert r.status_code == 200
    [refused] = r.json()["NotProcess"]
    assert refused["ulid"] == (bad["ulid"] if isinstance(bad.get("ulid"), str) else "")
    assert message in refused["Error"] and refused["Error"].endswith("(error Aplication)")
    assert stats(cloud.url)["events"] == 2


def test_envelope_keys_are_the_seed_31(cloud: CloudServer) -> None:
    assert len(ENVELOPE_KEYS) == 31 and list(_envelopes()[0]) == list(ENVELOPE_KEYS)


def test_gzip_bodies_are_accepted_and_broken_bodies_refused(
    cloud: CloudServer, auth: dict[str, str]
) -> None:
    body = json.dumps({"Events": _envelopes()}).encode()
    headers = {**auth, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    r = httpx.post(f"{cloud.url}/events", headers=headers, content=gzip.compress(body))
    assert r.status_code == 200 and r.json() == {"NotProcess": None}
    assert stats(cloud.url)["events"] == 3
    for content, hdrs in (
        (body, headers),  # says gzip, is not
        (b"{nope", auth),
        (b'{"Events": {}}', auth),
        (json.dumps({"Events": [{}] * 5001}).encode(), auth),
    ):
        r = httpx.post(f"{cloud.url}/events", headers=hdrs, content=content)
        assert r.status_code == 400 and r.json()["Error"].endswith("(error Aplication)")


def _upload_urls(url: str, auth: dict[str, str], files: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{url}/events/files/upload", headers=auth, json={"files": files})


def test_presigned_put_stores_the_bytes_and_checks_size_and_signature(
    cloud: CloudServer, auth: dict[str, str]
) -> None:
    data = image_bytes(random.Random(1), 5000)
    key = f"{IDENTITY.account_ulid}/{IDENTITY.device_source}/01JGZZZZZZZZZZZZZZZZZZZZZZ_cam0.png"
    item = {"BucketName": "v3-device-images", "FileName": key, "ContentType": "image/png"}
    r = _upload_urls(cloud.url, auth, [{**item, "Size": len(data)}])
    assert r.status_code == 200
    [answer] = r.json()["files"]
    assert answer["FileName"] == key
    put_url = answer["uploadUrl"]
    assert httpx.put(put_url, content=data[:-1]).status_code == 400  # not the signed size
    assert httpx.put(put_url.replace("signature=", "signature=0"), content=data).status_code == 403
    assert httpx.put(put_url.replace("_cam0", "_cam1"), content=data).status_code == 403
    assert (
        httpx.put(put_url, content=data, headers={"Content-Type": "image/png"}).status_code == 200
    )
    assert stats(cloud.url)["files"] == 1 and stats(cloud.url)["file_bytes"] == len(data)
    stored = object_file(cloud.config.data_dir / "objects", "v3-device-images", key)
    assert stored.read_bytes() == data


def test_upload_url_requests_are_validated(cloud: CloudServer, auth: dict[str, str]) -> None:
    base = {"BucketName": "v3-device-images", "FileName": "a/b.png", "Size": 10}
    for bad in (
        {**base, "BucketName": "nope"},
        {**base, "FileName": "../../etc/passwd"},
        {**base, "FileName": "/abs.png"},
        {**base, "Size": -1},
        {**base, "Size": "10"},
    ):
        r = _upload_urls(cloud.url, auth, [bad])
        assert r.status_code == 400, bad
    assert _upload_urls(cloud.url, {}, [base]).status_code == 401


def test_expired_upload_url_is_refused(tmp_path: Path) -> None:
    with CloudServer(cloud_config(tmp_path / "c", url_ttl_s=-1)) as cloud:
        auth = {"Authorization": _token(cloud.url)}
        r = _upload_urls(
            cloud.url, auth, [{"BucketName": "v3-device-images", "FileName": "a.png", "Size": 1}]
        )
        put = httpx.put(r.json()["files"][0]["uploadUrl"], content=b"x")
    assert put.status_code == 403 and put.json() == {"Error": "url expired"}


def _token(url: str) -> str:
    from backbone_factory import token

    return token(url)


def test_events_naming_files_not_uploaded_are_refused_unless_allowed(tmp_path: Path) -> None:
    event, _ = vision_with_files(1, random.Random(2))
    env = to_envelope(event, IDENTITY, 1)
    with CloudServer(cloud_config(tmp_path / "strict")) as cloud:
        r = _post(cloud.url, {"Authorization": _token(cloud.url)}, [env])
        [refused] = r.json()["NotProcess"]
        assert refused["Error"].startswith(
            f"file not uploaded: v3-device-images/{event.files[0].filename}"
        )
    with CloudServer(cloud_config(tmp_path / "lax", require_files=False)) as cloud:
        r = _post(cloud.url, {"Authorization": _token(cloud.url)}, [env])
        assert r.json() == {"NotProcess": None}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_constants_are_refused_not_stored(
    cloud: CloudServer, auth: dict[str, str], constant: str
) -> None:
    # Python's json writes and reads NaN/Infinity, but they are not JSON (RFC 8259): a real
    # cloud's parser refuses the body, so the stand-in must too rather than store and serve it.
    env = _envelopes()[0]
    env["hdop"] = 0.0
    text = json.dumps({"Events": [env]}).replace('"hdop": 0.0', f'"hdop": {constant}')
    r = httpx.post(f"{cloud.url}/events", headers=auth, content=text.encode())
    assert r.status_code == 400 and r.json()["Error"].endswith("(error Aplication)")
    assert stats(cloud.url)["events"] == 0
