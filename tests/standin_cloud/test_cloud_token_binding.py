"""A token stores events only for the device and account its client is bound to."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
from backbone_factory import CLIENT_ID, CLIENT_SECRET, IDENTITY, cloud_config, stats, telemetry
from standin_cloud import CloudServer
from standin_cloud.__main__ import load_credentials
from standin_cloud.app import ClientBinding

from agent.events import to_envelope
from agent.ulid import new_ulid

OTHER_DEVICE = "356938035643809"
OTHER_ACCOUNT = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


def _env(i: int, **changes: Any) -> dict[str, Any]:
    env = copy.deepcopy(to_envelope(telemetry(i), IDENTITY, i))
    env["ulid"] = new_ulid(env["timestamp"])
    env.update(changes)
    return env


def _token(url: str, cid: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> dict[str, str]:
    r = httpx.post(f"{url}/auth/token", json={"clientId": cid, "clientSecret": secret})
    assert r.status_code == 200, r.text
    return {"Authorization": r.json()["accessToken"]}


def _post(url: str, auth: dict[str, str], *events: dict[str, Any]) -> list[dict[str, str]]:
    r = httpx.post(f"{url}/events", headers=auth, json={"Events": list(events)})
    assert r.status_code == 200, r.text
    out: list[dict[str, str]] = r.json()["NotProcess"] or []
    return out


def test_an_unregistered_client_is_bound_to_the_first_device_and_account_it_sends_for(
    tmp_path: Path,
) -> None:
    data = tmp_path / "cloud"
    with CloudServer(cloud_config(data)) as cloud:
        auth = _token(cloud.url)
        assert _post(cloud.url, auth, _env(1)) == []
        other_device = _env(2, deviceSource=OTHER_DEVICE)
        other_account = _env(3, accountulid=OTHER_ACCOUNT)
        refused = _post(cloud.url, auth, other_device, _env(4), other_account)
        assert [r["ulid"] for r in refused] == [other_device["ulid"], other_account["ulid"]]
        assert refused[0]["Error"].startswith("deviceSource: not the device")
        assert refused[1]["Error"].startswith("accountulid: not the account")
        assert all(r["Error"].endswith("(error Aplication)") for r in refused)
        assert stats(cloud.url)["events"] == 2
    with CloudServer(cloud_config(data)) as cloud:  # the binding survives a restart
        assert len(_post(cloud.url, auth, _env(5, deviceSource=OTHER_DEVICE))) == 1
        assert stats(cloud.url)["events"] == 2


def test_a_first_batch_for_two_devices_binds_to_the_first_one_only(cloud: CloudServer) -> None:
    auth = _token(cloud.url)
    other = _env(2, deviceSource=OTHER_DEVICE)
    refused = _post(cloud.url, auth, _env(1), other)
    assert [r["ulid"] for r in refused] == [other["ulid"]]


def test_a_registered_binding_holds_from_the_first_event(tmp_path: Path) -> None:
    bound = ClientBinding(device_source=OTHER_DEVICE, account_ulid=IDENTITY.account_ulid)
    config = cloud_config(tmp_path / "cloud", bindings={CLIENT_ID: bound})
    with CloudServer(config) as cloud:
        auth = _token(cloud.url)
        mine = _env(1)
        refused = _post(cloud.url, auth, mine, _env(2, deviceSource=OTHER_DEVICE))
        assert [r["ulid"] for r in refused] == [mine["ulid"]]
        assert stats(cloud.url)["events"] == 1


def test_clients_cannot_send_for_each_other(tmp_path: Path) -> None:
    config = cloud_config(tmp_path / "cloud")
    config.clients["second-device"] = "Second-Secret-1"
    with CloudServer(config) as cloud:
        first, second = _token(cloud.url), _token(cloud.url, "second-device", "Second-Secret-1")
        assert _post(cloud.url, first, _env(1)) == []
        assert _post(cloud.url, second, _env(2, deviceSource=OTHER_DEVICE)) == []
        assert len(_post(cloud.url, second, _env(3))) == 1  # the first device's deviceSource
        assert len(_post(cloud.url, first, _env(4, deviceSource=OTHER_DEVICE))) == 1
        assert stats(cloud.url)["events"] == 2


def test_credentials_file_may_register_the_device_and_account(tmp_path: Path) -> None:
    creds = tmp_path / "creds.toml"
    creds.write_text(
        "[[clients]]\nclientId = 'a'\nclientSecret = 'sa'\n"
        f"deviceSource = '{IDENTITY.device_source}'\naccountulid = '{IDENTITY.account_ulid}'\n"
        "[[clients]]\nclientId = 'b'\nclientSecret = 'sb'\n"
    )
    clients, bindings = load_credentials(creds)
    assert clients == {"a": "sa", "b": "sb"}
    assert bindings == {"a": ClientBinding(IDENTITY.device_source, IDENTITY.account_ulid)}
