"""etrack's open API on the stand-in cloud (seed 004 2.1, 2.4-2.6), against a real mosquitto and
the device's real order side (tests/orders/harness.py): the md5(md5(password)+time) token, a
command sent, queried pending, carried out and answered with the device's text within the
seed's 30 s of polling; a circle geofence reaching the device; every bad input answered in the
seed's ``{"code": N, "message": ...}`` shape, never a 500."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from backbone_factory import cloud_config, stats
from standin_cloud import CloudServer
from standin_cloud.__main__ import load_etrack_accounts
from standin_cloud.etrack import EtrackAccount, signature

from tests.orders.broker import Broker
from tests.orders.harness import DS, Device, FakePorts
from tests.orders.helpers import KEY

pytestmark = pytest.mark.timeout(90)

ACCOUNT, PASSWORD = "fleet", "Abc@34590"
ACCOUNTS = {
    ACCOUNT: EtrackAccount(ACCOUNT, PASSWORD),
    "other": EtrackAccount("other", "other-pass", frozenset({"111111111111111"})),
}


def test_the_signature_is_the_seeds_example() -> None:
    # seed 004 2.1: password Abc@34590, time 1556243443.
    assert signature("Abc@34590", "1556243443") == "3844afd2c3bf68f0f3f4aa0a9ee8ee6c"


def test_accounts_come_from_the_credentials_file(tmp_path: Path) -> None:
    creds = tmp_path / "c.toml"
    creds.write_text('[[etrack]]\naccount = "a"\npassword = "p"\n'
                     '[[etrack]]\naccount = "b"\npassword = "q"\nimeis = ["1", "2"]\n')  # fmt: skip
    accounts = load_etrack_accounts(creds)
    assert accounts == {"a": EtrackAccount("a", "p"), "b": EtrackAccount("b", "q",
                                                                         frozenset({"1", "2"}))}
    assert "p" not in repr(accounts["a"])  # the password stays out of logs
    creds.write_text('[[etrack]]\naccount = "a"\n')
    with pytest.raises(ValueError, match="account and password"):
        load_etrack_accounts(creds)
    repo_creds = Path(__file__).resolve().parents[2] / "config" / "cloud-demo.toml"
    assert load_etrack_accounts(repo_creds)  # the demo's account


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def etrack_cloud(tmp_path: Path, broker: Broker | None = None, **kwargs: Any) -> CloudServer:
    if broker is not None:
        kwargs["mqtt_url"] = broker.url
    return CloudServer(cloud_config(tmp_path / "cloud", etrack_accounts=ACCOUNTS, **kwargs))


@pytest.fixture
async def http_for() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(cloud: CloudServer) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(base_url=cloud.url, timeout=10))
        return clients[-1]

    yield make
    for c in clients:
        await c.aclose()


async def token(http: httpx.AsyncClient, account: str = ACCOUNT, password: str = PASSWORD,
                when: int | None = None) -> dict[str, Any]:
    t = str(int(time.time()) if when is None else when)
    r = await http.get("/api/authorization",
                       params={"time": t, "account": account,
                               "signature": signature(password, t)})  # fmt: skip
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def access(http: httpx.AsyncClient) -> str:
    body = await token(http)
    assert body["code"] == 0, body
    return str(body["record"]["access_token"])


async def send(http: httpx.AsyncClient, tok: str, command: str, imei: str = DS) -> dict[str, Any]:
    # The seed's form: a POST with every parameter in the query string.
    r = await http.post("/api/command/send",
                        params={"access_token": tok, "imei": imei, "command": command})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def query(http: httpx.AsyncClient, tok: str, commandid: str) -> dict[str, Any]:
    r = await http.post("/api/command/query",
                        params={"access_token": tok, "commandid": commandid})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def poll(http: httpx.AsyncClient, tok: str, commandid: str) -> dict[str, Any]:
    """The seed's client loop: query once a second, up to 30 times, until commandstatus 1."""
    for _ in range(30):
        body = await query(http, tok, commandid)
        assert body["code"] == 0, body
        if body["record"]["commandstatus"] == 1:
            return body
        await asyncio.sleep(1)
    raise AssertionError(f"command {commandid}: no answer within 30 s: {body}")


async def until_online(http: httpx.AsyncClient, imei: str = DS) -> None:
    for _ in range(200):
        r = await http.get(f"/order/devices/{imei}/config")
        if r.json()["online"] is True:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{imei} never online")


async def test_token_from_the_seeds_signature_and_its_refusals(
    tmp_path: Path, http_for: Any
) -> None:
    with etrack_cloud(tmp_path) as cloud:
        http = http_for(cloud)
        body = await token(http)
        assert body["code"] == 0 and body["message"] == ""
        assert body["record"]["expires_in"] == 7200
        first = body["record"]["access_token"]
        assert (await query(http, first, "1"))["code"] == 10004  # valid token, no such command

        assert (await token(http, password="wrong"))["code"] == 20001
        assert (await token(http, account="nobody"))["code"] == 20001
        late = await token(http, when=int(time.time()) - 3600)
        assert (late["code"], late["message"]) == (10014, "Request time error")
        r = await http.get("/api/authorization", params={"account": ACCOUNT})
        assert r.json()["code"] == 10005 and "time" in r.json()["detail"]
        t = str(int(time.time()))
        r = await http.get("/api/authorization", params={  # upper-case hex is the same digest
            "time": t, "account": ACCOUNT, "signature": signature(PASSWORD, t).upper()})
        assert r.json()["code"] == 0

        # A new token makes the older ones invalid at once (seed 2.1).
        second = await access(http)
        body = await query(http, first, "1")
        assert (body["code"], body["message"]) == (10011, "Access token is invalid")
        assert (await query(http, second, "1"))["code"] == 10004
        assert (await query(http, "no-such-token", "1"))["code"] == 10010
        assert (await query(http, "", "1"))["code"] == 10005

    with etrack_cloud(tmp_path / "short", etrack_token_ttl_s=1) as cloud:
        http = http_for(cloud)
        tok = await access(http)
        await asyncio.sleep(1.1)
        body = await query(http, tok, "1")
        assert (body["code"], body["message"]) == (10012, "Access token is out of date")


async def test_send_query_pending_then_the_devices_answer_within_30_s(
    tmp_path: Path, broker: Broker, http_for: Any
) -> None:
    ports = FakePorts(speed=40.0)  # RELAY,1 waits above 5 km/h
    with etrack_cloud(tmp_path, broker, order_key=KEY) as cloud:
        http = http_for(cloud)
        tok = await access(http)
        async with Device(tmp_path / "dev", broker.url, key=KEY, ports=ports) as dev:
            await until_online(http)
            sent = await send(http, tok, "RELAY,1")
            assert sent["code"] == 0, sent
            relay = sent["record"]["commandid"]
            # Pending while the vehicle moves: commandstatus 0, the device's reason shown.
            for _ in range(100):
                body = await query(http, tok, relay)
                if "km/h" in body["record"]["response"]:
                    break
                assert body["record"] == {"response": "", "commandstatus": 0}
                await asyncio.sleep(0.05)
            assert body["record"]["commandstatus"] == 0
            assert "speed 40 km/h" in body["record"]["response"]
            assert dev.actuator_state().get("relay") != 1

            ports.speed = 2.0  # the vehicle stops: the engine is cut, the answer arrives
            began = time.monotonic()
            done = await poll(http, tok, relay)
            assert done == {"code": 0, "message": "", "record": {
                "response": "Cut off the fuel supply: Success! Speed: 2km/h.",
                "commandstatus": 1}}  # fmt: skip
            assert dev.actuator_state()["relay"] == 1

            lock = (await send(http, tok, "lockdoor"))["record"]["commandid"]  # any case
            assert lock != relay
            done = await poll(http, tok, lock)
            assert done["record"]["response"] == "Lock the door: Success! Speed: 2km/h."
            assert dev.actuator_state()["door_lock"] == 1
            assert time.monotonic() - began < 30

            reset = (await send(http, tok, "RESET"))["record"]["commandid"]
            done = await poll(http, tok, reset)
            assert done["record"]["response"] == "Reset the device: Success! (simulated)"

        # Every etrack command is an order of the Order API, signed, listed with its status.
        r = await http.get(f"/order/devices/{DS}")
        listed = [(o["type"], o["status"], o["detail"]) for o in r.json()]
        assert listed == [
            ("command", "SUCCEEDED", "Cut off the fuel supply: Success! Speed: 2km/h."),
            ("command", "SUCCEEDED", "Lock the door: Success! Speed: 2km/h."),
            ("command", "SUCCEEDED", "Reset the device: Success! (simulated)"),
        ]
        r = await http.get(f"/order/{r.json()[1]['orderUlid']}")
        (order,) = r.json()
        assert order["message"]["params"] == {"command": "LOCKDOOR"}
        assert order["message"]["expiresAt"] is not None  # 3600 s: no surprise next week
        # Another account cannot read these commands.
        other = await token(http, "other", "other-pass")
        body = await query(http, other["record"]["access_token"], relay)
        assert body["code"] == 10004
        assert not [k for k in stats(cloud.url)["requests"] if k.endswith(" 500")]


async def test_a_command_for_a_device_that_got_it_but_has_not_answered_is_pending(
    tmp_path: Path, broker: Broker, http_for: Any
) -> None:
    imei = "358899051025339"  # the seed's IMEI: online (its presence says so), never answers
    with etrack_cloud(tmp_path, broker) as cloud:
        http = http_for(cloud)
        tok = await access(http)
        async with aiomqtt.Client("127.0.0.1", broker.port) as c:
            await c.publish(f"v3/devices/{imei}/presence",
                            json.dumps({"online": True, "timestamp": 1}), qos=1, retain=True)
        await until_online(http, imei)
        sent = await send(http, tok, "RELAY,0", imei)
        commandid = sent["record"]["commandid"]
        assert sent == {"code": 0, "message": "", "record": {"commandid": commandid}}
        for _ in range(3):
            body = await query(http, tok, commandid)
            assert body == {"code": 0, "message": "",
                            "record": {"response": "", "commandstatus": 0}}  # fmt: skip
            await asyncio.sleep(0.2)


async def test_commands_only_to_an_online_device_and_only_known_commands(
    tmp_path: Path, broker: Broker, http_for: Any
) -> None:
    with etrack_cloud(tmp_path, broker) as cloud:
        http = http_for(cloud)
        tok = await access(http)
        body = await send(http, tok, "LOCKDOOR")  # never connected
        assert (body["code"], body["message"]) == (20017, "Device is offline.")
        async with Device(tmp_path / "dev", broker.url):
            await until_online(http)
            body = await send(http, tok, "SELFDESTRUCT")
            assert (body["code"], body["message"]) == (20048, "Unsupported command.")
            assert "RELAY,1" in body["detail"]
        for _ in range(100):  # the last will: offline
            r = await http.get(f"/order/devices/{DS}/config")
            if r.json()["online"] is False:
                break
            await asyncio.sleep(0.05)
        assert (await send(http, tok, "LOCKDOOR"))["code"] == 20017
        other = (await token(http, "other", "other-pass"))["record"]["access_token"]
        body = await send(http, other, "LOCKDOOR")
        assert (body["code"], body["message"]) == (10013, "IMEI is not authorized")
        r = await http.get(f"/order/devices/{DS}")
        assert r.json() == []  # nothing was stored for any of these
    with etrack_cloud(tmp_path / "nomqtt") as cloud:  # no broker: nothing can be delivered
        http = http_for(cloud)
        body = await send(http, await access(http), "LOCKDOOR")
        assert (body["code"], body["message"]) == (20018, "Send command fail.")


async def test_geofence_create_reaches_the_device_and_offline_it_waits(
    tmp_path: Path, broker: Broker, http_for: Any
) -> None:
    with etrack_cloud(tmp_path, broker, order_key=KEY) as cloud:
        http = http_for(cloud)
        tok = await access(http)
        # The seed's example, parameters in the query string; the device is offline: queued.
        r = await http.post("/api/geofence/create", params={
            "access_token": tok, "imei": DS, "efencename": "home", "alarmtype": "0",
            "longitude": "113.97196", "latitude": "22.56861", "radius": "300"})  # fmt: skip
        body = r.json()
        assert body["code"] == 0, body
        home, ulid = body["record"]["efenceid"], body["record"]["orderUlid"]
        # A form body (curl -d) and a JSON body work as well.
        r = await http.post("/api/geofence/create", data={
            "access_token": tok, "imei": DS, "efencename": "depot", "alarmtype": "2",
            "longitude": "-3.7", "latitude": "40.4", "radius": "5000"})  # fmt: skip
        depot = r.json()["record"]["efenceid"]
        r = await http.post("/api/geofence/create", json={
            "access_token": tok, "imei": DS, "efencename": "yard", "alarmtype": 1,
            "longitude": 2.17, "latitude": 41.38, "radius": 100})  # fmt: skip
        yard = r.json()["record"]["efenceid"]
        assert len({home, depot, yard}) == 3
        ports = FakePorts()
        async with Device(tmp_path / "dev", broker.url, key=KEY, ports=ports):
            for _ in range(200):  # orders/sync: the three queued orders come, all succeed
                r = await http.get(f"/order/devices/{DS}")
                if [o["status"] for o in r.json()] == ["SUCCEEDED"] * 3:
                    break
                await asyncio.sleep(0.05)
        assert ports.fences is not None
        got = {c.id: c for c in ports.fences.circles}
        assert (got[home].name, got[home].latitude, got[home].longitude, got[home].radius,
                got[home].alarmtype) == ("home", 22.56861, 113.97196, 300, 0)  # fmt: skip
        assert (got[depot].alarmtype, got[depot].radius) == (2, 5000)
        assert (got[yard].alarmtype, got[yard].name) == (1, "yard")
        r = await http.get(f"/order/{ulid}")
        assert r.json()[0]["status"] == "SUCCEEDED"
        assert r.json()[0]["detail"] == f"geofence {home} set (circle, radius 300 m)"


BAD_FENCES: list[tuple[dict[str, Any], int]] = [
    ({"radius": "99"}, 10006),
    ({"radius": "5001"}, 10006),
    ({"radius": "300.5"}, 10004),
    ({"alarmtype": "3"}, 10006),
    ({"alarmtype": "in"}, 10004),
    ({"latitude": "91"}, 10006),
    ({"longitude": "-180.5"}, 10006),
    ({"latitude": "nan"}, 10004),
    ({"longitude": "1e999"}, 10004),
    ({"efencename": "x" * 129}, 10006),
    ({"efencename": ""}, 10005),
    ({"imei": "35889/051025339"}, 10004),
    ({"radius": None}, 10005),
]


async def test_bad_input_gets_the_seeds_error_codes_never_a_500(cloud: CloudServer) -> None:
    config = cloud.config
    config.etrack_accounts = ACCOUNTS  # the fixture's cloud, with accounts
    async with httpx.AsyncClient(base_url=cloud.url, timeout=10) as http:
        tok = await access(http)
        good = {"access_token": tok, "imei": DS, "efencename": "home", "alarmtype": "0",
                "longitude": "113.97196", "latitude": "22.56861", "radius": "300"}  # fmt: skip
        for change, code in BAD_FENCES:
            params = {k: v for k, v in {**good, **change}.items() if v is not None}
            r = await http.post("/api/geofence/create", params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["code"], set(body)) == (code, {"code", "message", "detail"}), (change,
                                                                                        body)
            assert body["message"] and body["detail"]
        hostile: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
            ("POST", "/api/geofence/create", {}, b"[" * 5000, 10004),
            ("POST", "/api/geofence/create", {"Content-Type": "application/json"}, b"{", 10004),
            ("POST", "/api/geofence/create", {}, b'{"imei": {"a": 1}}', 10004),
            ("POST", "/api/geofence/create", {}, b'{"imei": "\\ud800"}', 10004),
            ("POST", "/api/geofence/create", {}, b"\xff\xfe", 10004),
            ("POST", "/api/geofence/create", {}, b"a" * 70_000, 10004),
            ("POST", "/api/command/send?imei=1", {}, b"imei=2", 10004),
            ("POST", "/api/command/query", {}, f"access_token={tok}&commandid=zz".encode(),
             10004),
            ("GET", "/api/authorization?time=abc&account=a&signature=b", {}, None, 10004),
            ("GET", f"/api/authorization?time={'9' * 30}&account=a&signature=b", {}, None,
             10006),
            ("GET", "/api/track", {}, None, 10001),
            ("DELETE", "/api/geofence/create", {}, None, 10001),
            ("GET", "/api/", {}, None, 10001),
        ]
        for method, path, headers, content, code in hostile:
            r = await http.request(method, path, headers=headers, content=content)
            assert r.status_code == 200, (path, r.text)
            assert r.json()["code"] == code, (method, path, content, r.text)
        # The seed's GET URLs work as pasted (every parameter in the query).
        r = await http.get("/api/geofence/create", params=good)
        assert r.json()["code"] == 0
    assert not [k for k in stats(cloud.url)["requests"] if k.endswith(" 500")]
