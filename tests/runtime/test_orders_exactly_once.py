"""Exactly once with the real agent process: orders sent while it is being killed with SIGKILL
at random moments, while it is offline, and after the broker lost its sessions. The cloud side
here does what CONTRACT §4 asks of the cloud: it re-publishes every order it does not hold as
terminal when the device's ``orders/sync`` arrives. Every order must end SUCCEEDED at the
cloud and be executed once: one "order executed" event per order in the stand-in cloud."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from standin_cloud import CloudServer

from agent.events import HardwareEventType
from agent.ulid import new_ulid
from tests.orders.broker import Broker
from tests.orders.helpers import order_dict, orders_toml
from tests.uplink.backbone_factory import CLIENT_ID, CLIENT_SECRET, cloud_config

pytestmark = pytest.mark.slow
DS = "862798050833538"
TERMINAL = {"SUCCEEDED", "FAILED", "REJECTED", "EXPIRED"}
ROUNDS = 6
ORDERS_PER_ROUND = 4
RETRY_S = 5.0


class ReconcilingCloud:
    """The cloud's MQTT side, reduced to what exactly-once needs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.orders: dict[str, dict[str, Any]] = {}
        self.status: dict[str, str] = {}
        self.syncs = 0
        self.client: aiomqtt.Client | None = None

    async def run(self, stop: asyncio.Event) -> None:
        retry = asyncio.create_task(self._retry())
        try:
            await self._serve(stop)
        finally:
            retry.cancel()
            await asyncio.gather(retry, return_exceptions=True)

    async def _retry(self) -> None:
        """A cloud re-sends what it has no final answer for (its own answer may have been lost
        while it reconnected); the device answers a known order with its recorded status."""
        while True:
            await asyncio.sleep(RETRY_S)
            for ulid, msg in list(self.orders.items()):
                if self.status.get(ulid) not in TERMINAL:
                    await self.send(msg)

    async def _serve(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with aiomqtt.Client("127.0.0.1", self.port,
                                          identifier=f"cloud-{time.time_ns()}") as c:
                    self.client = c
                    await c.subscribe(f"v3/devices/{DS}/orders/status", qos=1)
                    await c.subscribe(f"v3/devices/{DS}/orders/sync", qos=1)
                    for msg in list(self.orders.values()):  # what may have been lost
                        await self.send(msg)
                    async for m in c.messages:
                        doc = json.loads(bytes(m.payload))  # type: ignore[arg-type]
                        if str(m.topic).endswith("/sync"):
                            self.syncs += 1
                            # A copy: order() adds to it while a publish is awaited.
                            for ulid, msg in list(self.orders.items()):
                                if self.status.get(ulid) not in TERMINAL:
                                    await self.send(msg)
                        elif self.status.get(doc["orderUlid"]) not in TERMINAL:
                            self.status[doc["orderUlid"]] = doc["status"]
            except aiomqtt.MqttError:
                self.client = None
                await asyncio.sleep(0.2)

    async def send(self, msg: dict[str, Any]) -> None:
        if self.client is None:
            return  # not connected yet: sent on connect
        # The broker went away: the next connect or sync re-sends it.
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.publish(f"v3/devices/{DS}/orders", json.dumps(msg), qos=1)

    async def order(self, value: int) -> str:
        now = time.time()
        msg = order_dict(new_ulid(int(now * 1000)), "config",
                         {"orders": [{"config": "MAX_SPEED_KMH", "value": value}]},
                         issued=now, expires=now + 3600)
        self.orders[msg["orderUlid"]] = msg
        await self.send(msg)
        return str(msg["orderUlid"])


def test_every_order_executes_once_through_kills_offline_time_and_a_wiped_broker(
    tmp_path: Path,
) -> None:
    rnd = random.Random(7)
    broker = Broker(tmp_path / "mqtt")
    broker.start()
    with CloudServer(cloud_config(tmp_path / "cloud")) as http:
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
[runtime]
control_socket = "/tmp/ea-once-{os.getpid()}.sock"
{orders_toml(tmp_path, broker.url)}
""")
        log = (tmp_path / "agent.log").open("ab")

        started: list[subprocess.Popen[bytes]] = []

        def start() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config",
                                     str(config)], stdout=log, stderr=subprocess.STDOUT)
            started.append(proc)
            return proc

        async def scenario() -> ReconcilingCloud:
            cloud = ReconcilingCloud(broker.port)
            stop = asyncio.Event()
            runner = asyncio.create_task(cloud.run(stop))
            value = 40
            try:
                for round_ in range(ROUNDS):
                    agent = start()
                    await asyncio.sleep(rnd.uniform(0.5, 2.5))
                    for _ in range(ORDERS_PER_ROUND):
                        value += 1
                        await cloud.order(value)
                        await asyncio.sleep(rnd.uniform(0.0, 0.3))
                    await asyncio.sleep(rnd.uniform(0.0, 1.0))
                    agent.send_signal(signal.SIGKILL)  # anywhere: receipt, journal, execution
                    agent.wait()
                    value += 1
                    await cloud.order(value)  # sent while the agent is offline
                    if round_ == ROUNDS // 2:  # the broker loses every session and message
                        broker.stop()
                        for f in broker.dir.glob("*.db"):
                            f.unlink()
                        broker.start()
                agent = start()
                deadline = time.monotonic() + 90
                while any(cloud.status.get(u) not in TERMINAL for u in cloud.orders):
                    assert time.monotonic() < deadline, {
                        u: cloud.status.get(u) for u in cloud.orders
                        if cloud.status.get(u) not in TERMINAL}
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)
                agent.terminate()
                assert agent.wait(20) == 0
            finally:
                stop.set()
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
            return cloud

        try:
            cloud = asyncio.run(scenario())
        finally:  # a failed run leaves no agent or broker behind
            for proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            broker.stop()
            log.close()
        r = httpx.post(f"{http.url}/events/latest", headers={"maxkeys": "1000"},
                       json={"items": [DS]})
        r.raise_for_status()
        events = r.json()["Events"]

    assert set(cloud.status.values()) == {"SUCCEEDED"}
    assert len(cloud.orders) == ROUNDS * (ORDERS_PER_ROUND + 1)
    executed = [e["hardwareEvent"]["OriginalUlid"] for e in events
                if e["hardwareEvent"].get("HardwareEventType")
                == HardwareEventType.ORDER_EXECUTED]
    assert sorted(executed) == sorted(cloud.orders), "each order executed exactly once"
    assert cloud.syncs >= ROUNDS + 1
