"""The seed's read API, called exactly as the seed's curl examples, returns what the agent sent.

The agent side is real: events and files go through the SQLite outbox and the Uplink into the
stand-in cloud. Then the seed's curl commands (method, path, headers and body read from
``000_*.txt``) are replayed with httpx. The seed's examples carry no ``Authorization`` header
although its Auth section requires the token on every call, so the token obtained by the seed's
own ``/auth/token`` example is added; the stand-in also answers the curls exactly as printed
(no token) unless started with ``--require-read-auth``.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from backbone_factory import (
    CLIENT_ID,
    CLIENT_SECRET,
    IDENTITY,
    SHARED_DIR,
    cloud_config,
    cloud_settings,
    image_bytes,
    telemetry,
)
from seed_curl import SEED_HOST, Curl, find_curl, seed_text
from standin_cloud import CloudServer

from agent.events import (
    Bucket,
    Event,
    FileFeature,
    FileRef,
    VisionDetail,
    VisionEventType,
    derived_key,
)
from agent.store.api import Attachment
from agent.store.outbox import Outbox
from agent.ulid import ulid_timestamp_ms
from agent.uplink import Uplink

SEED = seed_text(SHARED_DIR)
LATEST = find_curl(SEED, "/events/latest")
SEARCH = find_curl(SEED, "/events/search/time")
FILES = find_curl(SEED, "/events/files")
TOKEN = find_curl(SEED, "/auth/token")


@dataclass
class Uploaded:
    url: str
    token: str
    item_ulids: list[str]  # the seed's /events/latest items, uploaded as event ulids
    files: dict[str, bytes]  # key -> bytes of what the agent uploaded
    file_event: str


def _send(base: str, curl: Curl, token: str | None, **changes: Any) -> httpx.Response:
    curl = replace(curl, **changes)
    headers = dict(curl.headers)
    if token is not None:
        headers["Authorization"] = token
    return httpx.request(
        curl.method, base + curl.path, headers=headers, content=curl.body, timeout=10
    )


def _seed_token(base: str) -> str:
    assert TOKEN.body is not None
    body = TOKEN.body.replace("my_clientId", CLIENT_ID).replace("my_clientSecret", CLIENT_SECRET)
    r = httpx.request(TOKEN.method, base + TOKEN.path, headers=TOKEN.headers, content=body)
    assert r.status_code == 200  # the seed's Python example: json.loads(r.text)['accessToken']
    return str(json.loads(r.text)["accessToken"])


def _seed_files_event() -> tuple[Event, list[Attachment]]:
    """The event whose files the seed's /events/files example asks for (keys from the seed)."""
    assert FILES.body is not None
    keys = re.findall(r'"FileName":"([^"]+)"', FILES.body)
    assert len(keys) == 2 and keys[0].endswith("_cam0.png")
    ulid = keys[0].rsplit("/", 1)[1].split("_")[0]  # 01GXRRTMW98N719SNTRJ5YVC7C
    road = FileRef(keys[0], Bucket.IMAGES, feature=FileFeature.EVENT)
    face = FileRef(keys[1], Bucket.IMAGES, feature=FileFeature.FACE)
    rng = random.Random(5)
    derived = [
        FileRef(derived_key(keys[0], "thumbnail"), Bucket.IMAGES),
        FileRef(derived_key(keys[1], "thumbnail"), Bucket.IMAGES),
        FileRef(derived_key(keys[1], "filecrop"), Bucket.FACES),
    ]
    attachments = [Attachment(r, image_bytes(rng, 3000)) for r in (road, face, *derived)]
    ts = ulid_timestamp_ms(ulid)
    event = Event(
        timestamp_ms=ts,
        context=telemetry(0).context,
        detail=VisionDetail(VisionEventType.FACE_CAPTURE, vision_timestamp_s=ts // 1000),
        files=(road, face),
        ulid=ulid,
    )
    return event, attachments


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploaded]:
    """The agent (outbox + uplink) uploads: one event per seed item ULID, one with the seed's files."""
    root = tmp_path_factory.mktemp("read-api")
    assert LATEST.body is not None
    items = list(dict.fromkeys(json.loads(LATEST.body)["items"]))
    events = [
        replace(telemetry(i), ulid=u, timestamp_ms=ulid_timestamp_ms(u))
        for i, u in enumerate(items)
    ]
    file_event, attachments = _seed_files_event()
    with CloudServer(cloud_config(root / "cloud")) as cloud:
        with Outbox(root / "outbox", IDENTITY) as outbox:
            outbox.append_many(events)
            outbox.append(file_event, attachments)

            async def drain() -> None:
                async with Uplink(cloud_settings(cloud.url), outbox) as uplink:
                    result = await uplink.drain()
                assert result.sent == len(events) + 1 and result.dead_lettered == 0

            asyncio.run(drain())
        files = {a.ref.filename: a.data for a in attachments if isinstance(a.data, bytes)}
        yield Uploaded(cloud.url, _seed_token(cloud.url), items, files, file_event.ulid)


def test_seed_latest_curl_returns_the_uploaded_events_newest_first(uploaded: Uploaded) -> None:
    r = _send(uploaded.url, LATEST, uploaded.token)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"Events", "NotProcess"} and body["NotProcess"] is None
    got = [e["ulid"] for e in body["Events"]]
    assert sorted(got) == sorted(uploaded.item_ulids)  # the duplicate item counted once
    stamps = [e["timestamp"] for e in body["Events"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(e["deviceSource"] == IDENTITY.device_source for e in body["Events"])


def test_seed_latest_with_items_as_the_string_of_the_js_and_python_examples(
    uploaded: Uploaded,
) -> None:
    form = re.search(r'"items": ("\[.*?\]")', SEED)
    assert form is not None
    body = json.dumps({"items": json.loads(form.group(1))})
    assert body.startswith('{"items": "[\'')  # a string, not a list
    r = _send(uploaded.url, LATEST, uploaded.token, body=body)
    assert r.status_code == 200
    assert sorted(e["ulid"] for e in r.json()["Events"]) == sorted(uploaded.item_ulids)


def test_latest_maxkeys_caps_and_device_or_account_items_select_all(uploaded: Uploaded) -> None:
    r = _send(uploaded.url, LATEST, uploaded.token, headers={"maxkeys": "3"})
    newest = sorted(uploaded.item_ulids, key=ulid_timestamp_ms, reverse=True)[:3]
    assert [e["ulid"] for e in r.json()["Events"]] == newest
    for item in (IDENTITY.device_source, IDENTITY.account_ulid):
        body = json.dumps({"items": [item]})
        r = _send(uploaded.url, LATEST, uploaded.token, body=body)
        assert len(r.json()["Events"]) == len(uploaded.item_ulids) + 1
    r = _send(uploaded.url, LATEST, uploaded.token, headers={"maxkeys": "lots"})
    assert r.status_code == 400 and r.json()["Error"].endswith("(error Aplication)")


def test_seed_latest_curl_exactly_as_printed_without_a_token(uploaded: Uploaded) -> None:
    r = _send(uploaded.url, LATEST, None)
    assert r.status_code == 200
    assert sorted(e["ulid"] for e in r.json()["Events"]) == sorted(uploaded.item_ulids)


def test_seed_curls_with_a_wrong_token_are_unauthorized(uploaded: Uploaded) -> None:
    for curl in (LATEST, SEARCH, FILES):
        r = _send(uploaded.url, curl, "not-a-token")
        assert r.status_code == 401 and r.json() == {"Error": "Unauthorized"}


def test_seed_curls_without_a_token_are_unauthorized_when_reads_need_one(tmp_path: Any) -> None:
    with CloudServer(cloud_config(tmp_path / "cloud", require_read_auth=True)) as cloud:
        for curl in (LATEST, SEARCH, FILES):
            r = _send(cloud.url, curl, None)
            assert r.status_code == 401 and r.json() == {"Error": "Unauthorized"}


def test_seed_search_curl_with_its_placeholders_is_a_bad_request(uploaded: Uploaded) -> None:
    r = _send(uploaded.url, SEARCH, uploaded.token)  # literally "mm/dd/yyyy 00:00:00"
    assert r.status_code == 400
    assert r.json()["Error"] == "inithour must be MM/DD/YYYY HH:MM:SS (UTC)(error Aplication)"


def test_seed_search_curl_filled_in_returns_that_hour_oldest_first(uploaded: Uploaded) -> None:
    feb = [u for u in uploaded.item_ulids if u.startswith("01HNJJYG")]
    assert len(feb) == 4  # four of the seed's items were made within the same second
    first = datetime.fromtimestamp(min(map(ulid_timestamp_ms, feb)) / 1000, UTC)
    start = first.replace(microsecond=0) - timedelta(minutes=30)
    fmt = "%m/%d/%Y %H:%M:%S"
    path = SEARCH.path.replace("{devicesource}", IDENTITY.device_source)
    hours = {"inithour": start.strftime(fmt), "endhour": (start + timedelta(hours=1)).strftime(fmt)}
    r = _send(uploaded.url, SEARCH, uploaded.token, url=SEED_HOST + path, headers=hours)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"Events"}  # the seed's search answer has no NotProcess
    assert [e["ulid"] for e in body["Events"]] == sorted(feb, key=ulid_timestamp_ms)
    # Another device, or a window over an hour, per the seed's warning.
    other = SEARCH.path.replace("{devicesource}", "123456789012345")
    r = _send(uploaded.url, SEARCH, uploaded.token, url=SEED_HOST + other, headers=hours)
    assert r.json() == {"Events": []}
    too_long = {**hours, "endhour": (start + timedelta(hours=1, seconds=1)).strftime(fmt)}
    r = _send(uploaded.url, SEARCH, uploaded.token, url=SEED_HOST + path, headers=too_long)
    assert r.status_code == 400 and "1 hour" in r.json()["Error"]


def test_seed_files_curl_links_serve_the_uploaded_file_thumbnail_and_crop(
    uploaded: Uploaded,
) -> None:
    r = _send(uploaded.url, FILES, uploaded.token)  # the seed's body, missing comma and all
    assert r.status_code == 200
    files = r.json()["files"]
    assert [f["filename"] for f in files] == [k for k in uploaded.files if "_cam" in k][:2]
    for f in files:
        assert set(f) == {"filename", "urlfile", "urlfilethumb", "urlfilecrop"}
        key = f["filename"]
        assert httpx.get(f["urlfile"]).content == uploaded.files[key]
        thumb = derived_key(key, "thumbnail")
        assert httpx.get(f["urlfilethumb"]).content == uploaded.files[thumb]
        crop = httpx.get(f["urlfilecrop"])
        if key.endswith("_cam1.png"):  # the driver image has a face crop (in v3-device-faces)
            assert "/s3/v3-device-faces/" in f["urlfilecrop"]
            assert crop.content == uploaded.files[derived_key(key, "filecrop")]
        else:  # the road image has none: the link answers NoSuchKey
            assert crop.status_code == 404 and crop.json() == {"Error": "NoSuchKey"}


def test_file_links_are_signed(uploaded: Uploaded) -> None:
    r = _send(uploaded.url, FILES, uploaded.token)
    url = r.json()["files"][0]["urlfile"]
    assert httpx.get(url).status_code == 200
    tampered = url.replace("_cam0.png", "_cam1.png")
    assert httpx.get(tampered).status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 403
