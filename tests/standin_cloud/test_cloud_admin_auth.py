"""``/admin/*`` needs its own credential: a device token or nothing at all is not enough."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from backbone_factory import ADMIN_HEADERS, ADMIN_TOKEN, CloudProcess
from standin_cloud import CloudServer

ADMIN_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/admin/faults", None),
    ("POST", "/admin/faults", {"kind": "500", "count": 1, "paths": ["/nowhere"]}),
    ("DELETE", "/admin/faults", None),
    ("GET", "/admin/stats", None),
    ("POST", "/admin/deliveries", {"ulids": []}),
    ("POST", "/admin/revoke-tokens", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_admin_calls_without_the_admin_token_are_unauthorized(
    cloud: CloudServer, auth: dict[str, str], method: str, path: str, body: Any
) -> None:
    wrong: list[dict[str, str]] = [
        {},
        auth,  # a device's access token is not an admin credential
        {"X-Admin-Token": ADMIN_TOKEN[:-1]},
        {"X-Admin-Token": ""},
    ]
    for headers in wrong:
        r = httpx.request(method, f"{cloud.url}{path}", headers=headers, json=body)
        assert r.status_code == 401 and r.json() == {"Error": "Unauthorized"}, headers
    # Header bytes that are not ASCII (compare_digest refuses non-ASCII str): still a 401.
    raw = [(b"X-Admin-Token", "tök\xe9n".encode("latin-1"))]
    r = httpx.request(method, f"{cloud.url}{path}", headers=raw, json=body)
    assert r.status_code == 401 and r.json() == {"Error": "Unauthorized"}
    ok = httpx.request(method, f"{cloud.url}{path}", headers=ADMIN_HEADERS, json=body)
    assert ok.status_code == 200, ok.text


def test_revoke_without_admin_token_does_not_revoke(
    cloud: CloudServer, auth: dict[str, str]
) -> None:
    assert httpx.post(f"{cloud.url}/admin/revoke-tokens").status_code == 401
    r = httpx.post(f"{cloud.url}/events", headers=auth, json={"Events": []})
    assert r.status_code == 200


def test_cli_generates_an_admin_token_and_prints_it(tmp_path: Path) -> None:
    cloud = CloudProcess(tmp_path / "d", admin_token=None).start()
    try:
        assert [line.split(": ")[0] for line in cloud.lines] == ["cloud", "admin"]
        token = cloud.admin_token
        assert token is not None and len(token) >= 32
        assert httpx.get(f"{cloud.url}/admin/stats").status_code == 401
        r = httpx.get(f"{cloud.url}/admin/stats", headers={"X-Admin-Token": token})
        assert r.status_code == 200 and r.json()["events"] == 0
    finally:
        cloud.stop()


def test_cli_admin_token_flag_is_used_as_given(tmp_path: Path) -> None:
    cloud = CloudProcess(tmp_path / "d").start()  # passes --admin-token ADMIN_TOKEN
    try:
        assert cloud.lines == [f"cloud: {cloud.url}"]  # a given token is not echoed
        assert httpx.get(f"{cloud.url}/admin/stats").status_code == 401
        assert httpx.get(f"{cloud.url}/admin/stats", headers=ADMIN_HEADERS).status_code == 200
    finally:
        cloud.stop()
