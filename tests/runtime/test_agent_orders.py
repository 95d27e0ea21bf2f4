"""Orders end to end in the real agent process: a real mosquitto, the stand-in cloud, a moving
GNSS receiver on a pty. A config order applies live, is reported, persisted and survives a
restart; its "order executed" event reaches the cloud with the order's ULID; an engine stop at
72 km/h waits and says why; a state order gives a forced position."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_cloud import CloudServer

from agent.events import HardwareEventType, TelemetryEventType
from agent.sources.gnss.replay import NmeaPty
from agent.ulid import new_ulid
from tests.orders.broker import Broker
from tests.orders.harness import Cloud
from tests.orders.helpers import order_dict, orders_toml
from tests.test_app import Receiver
from tests.uplink.backbone_factory import CLIENT_ID, CLIENT_SECRET, cloud_config

pytestmark = pytest.mark.slow


def received(cloud: CloudServer) -> list[dict[str, Any]]:
    r = httpx.post(f"{cloud.url}/events/latest", headers={"maxkeys": "1000"},
                   json={"items": ["862798050833538"]})
    r.raise_for_status()
    return sorted(r.json()["Events"], key=lambda e: e["sequenceNumber"])


def speeding(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["telemetryEvent"].get("telemetryEventType")
            == TelemetryEventType.SPEEDING_STARTED]


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, env=os.environ)


def stop_agent(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    assert proc.wait(20) == 0


def effective(config: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "agent", "config", "--json", "--config",
                          str(config)], check=True, capture_output=True, text=True).stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


def order(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    return order_dict(new_ulid(int(now * 1000)), kind, params, issued=now, expires=now + 600)


def test_orders_reach_the_running_agent_and_apply_exactly_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    broker = Broker(tmp_path / "mqtt")
    broker.start()
    request.addfinalizer(broker.stop)  # also when an assertion fails half-way
    sock = Path("/tmp") / f"ea-orders-{os.getpid()}.sock"
    pty = NmeaPty(link=tmp_path / "gnss")
    request.addfinalizer(pty.close)
    gnss = pty.path
    receiver = Receiver(pty)
    with CloudServer(cloud_config(tmp_path / "cloud")) as http, receiver:
        config = tmp_path / "agent.toml"
        config.write_text(f"""
[cloud]
url = "{http.url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
backoff_initial_s = 0.1
backoff_max_s = 0.5
[storage]
data_dir = "{tmp_path / 'data'}"
[vehicle.gnss]
backend = "serial"
port = "{gnss}"
[runtime]
control_socket = "{sock}"
{orders_toml(tmp_path, broker.url)}
""")
        log = tmp_path / "agent.log"
        agent = start_agent(config, log)
        try:
            async def first_run() -> tuple[dict[str, Any], dict[str, Any]]:
                async with Cloud(broker.port) as cloud:
                    await cloud.wait_for(lambda: cloud.of("presence")
                                         and cloud.of("presence")[-1]["online"], 30)
                    cfg = order("config", {"orders": [
                        {"config": "MAX_SPEED_KMH", "value": 50},
                        {"config": "NO_SUCH_KEY", "value": 1}]})
                    await cloud.send(cfg)
                    await cloud.wait_for(lambda: ("SUCCEEDED" in [
                        s for s, _ in cloud.statuses(cfg["orderUlid"])]), 20)
                    await cloud.send(cfg)  # redelivered: answered, not applied again
                    await cloud.wait_for(lambda: len(cloud.statuses(cfg["orderUlid"])) >= 3, 10)
                    # The next speeding uses the new limit: 72 km/h is over 50 (not over 90).
                    for _ in range(150):
                        if speeding(await asyncio.to_thread(received, http)):
                            break
                        await asyncio.sleep(0.2)
                    relay = order("command", {"command": "RELAY,1"})
                    await cloud.send(relay)
                    await cloud.wait_for(lambda: any("speed 72 km/h" in d for s, d in
                                                     cloud.statuses(relay["orderUlid"])), 20)
                    receiver.speed_mps = 0.0  # the vehicle stops: the engine may be cut now
                    await cloud.wait_for(lambda: ("SUCCEEDED" in [
                        s for s, _ in cloud.statuses(relay["orderUlid"])]), 30)
                    await cloud.wait_for(lambda: cloud.of("state")[-1]["oilpowerstatus"] == 0,
                                         15)
                    state = order("state", {})
                    await cloud.send(state)
                    await cloud.wait_for(lambda: ("SUCCEEDED" in [
                        s for s, _ in cloud.statuses(state["orderUlid"])]), 20)
                    await cloud.wait_for(lambda: cloud.of("state"), 15)
                    reported = cloud.of("config/reported")[-1]
                    assert {"accstatus", "mileage", "IsOnTripAndMoving"} <= set(cloud.of("state")[-1])
                    return ({"cfg": cfg, "relay": relay, "state": state,
                             "statuses": {k: cloud.statuses(v["orderUlid"]) for k, v in
                                          (("cfg", cfg), ("relay", relay), ("state", state))}},
                            reported)

            orders, reported = asyncio.run(first_run())
            live = effective(config)
            doc = json.loads(subprocess.run(
                [sys.executable, "-m", "agent", "status", "--json", "--config", str(config)],
                check=False, capture_output=True, text=True).stdout)
            assert doc["agent"]["config_version"] == 1
            assert doc["components"]["orders.link"]["health"] == "ok"
            selftest = subprocess.run([sys.executable, "-m", "agent", "selftest", "--json",
                                       "--config", str(config)], check=False, capture_output=True,
                                      text=True)
            checks = {c["name"]: c for c in json.loads(selftest.stdout)["checks"]}
            assert checks["broker"]["result"] == "pass", checks["broker"]
        finally:
            stop_agent(agent)

        statuses = orders["statuses"]
        assert statuses["cfg"][0][0] == "RECEIVED"
        assert [s for s, _ in statuses["cfg"]].count("SUCCEEDED") == 2  # once + the redelivery
        detail = statuses["cfg"][1][1]
        assert "MAX_SPEED_KMH" in detail and "NO_SUCH_KEY" in detail
        assert reported["config"]["MAX_SPEED_KMH"] == 50 and reported["version"] == 1
        assert live["rules.max_speed_kmh"] == {"value": 50, "origin": "order"}
        relay_statuses = statuses["relay"]
        # At 72 km/h it waits and says so (under load a stale fix can first read "unknown").
        waiting = [d for s, d in relay_statuses if s == "RECEIVED" and "speed 72 km/h" in d]
        assert waiting, relay_statuses
        assert relay_statuses[-1][0] == "SUCCEEDED"
        assert relay_statuses[-1][1].startswith("Cut off the fuel supply: Success! Speed: 0km/h")
        actuators = json.loads((tmp_path / "actuators.json").read_text())
        assert actuators["relay"] == 1  # the simulated relay line holds the cut

        events = received(http)
        over = speeding(events)
        assert over, "72 km/h is speeding once MAX_SPEED_KMH is 50"
        assert over[0]["telemetryEvent"]["speedLimitKmh"] == 50
        assert over[0]["telemetryEvent"]["maxSpeedExceeded"] is True
        executed = [e for e in events if e["hardwareEvent"].get("HardwareEventType")
                    == HardwareEventType.ORDER_EXECUTED]
        by_order = {e["hardwareEvent"]["OriginalUlid"]: e for e in executed}
        assert set(by_order) == {orders["cfg"]["orderUlid"], orders["state"]["orderUlid"],
                                 orders["relay"]["orderUlid"]}
        forced = [e for e in events if e["telemetryEvent"].get("telemetryEventType")
                  == TelemetryEventType.FORCED_POSITION]
        assert len(forced) == 1 and forced[0]["fixed"] is True

        # The config order survives a restart (persisted), still reported as from an order.
        agent = start_agent(config, log)
        try:
            deadline = time.monotonic() + 30
            while not sock.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            again = effective(config)
        finally:
            stop_agent(agent)
        assert again["rules.max_speed_kmh"] == {"value": 50, "origin": "order"}
