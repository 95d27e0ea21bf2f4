#!/usr/bin/env python3
"""Orders over MQTT: latency, offline backlog, whole-agent RSS (issue 8's benchmarks).

A real broker on free loopback ports (mosquitto, or ``--broker nats`` for nats-server's MQTT
endpoint), the device side as the agent wires it (the real ``OrderExecutor`` + ``MqttLink`` +
SQLite ``OrderJournal`` with ``synchronous=FULL``, fake agent ports: tests/orders/harness.py)
and a cloud-side aiomqtt client that publishes config orders (``MAX_SPEED_KMH``) at QoS 1 and
timestamps each order's ``SUCCEEDED`` status.

- ``latency``: 1,000 orders one at a time (publish, wait for SUCCEEDED, next): p50/p99/max of
  publish -> SUCCEEDED received. Target p99 <= 50 ms. Then the same 1,000 pipelined
  (published back to back): per-order latency and throughput.
- ``backlog``: the device connects once (its persistent session exists), goes away; the cloud
  publishes 1,000 orders; the device comes back. Time from its restart, and from its presence
  ``online`` reaching the cloud, until the last SUCCEEDED arrives.
- ``rss``: the real agent process (``python -m agent run``, stand-in cloud, GNSS on a pty,
  ``[orders] enabled``) for ``--rss-seconds``, receiving 10 config orders/s; RSS sampled every
  0.25 s with psutil. Target <= 250 MB.

    .venv/bin/python scripts/bench_orders.py [--broker mosquitto|nats] [--orders 1000]
        [--only latency,backlog,rss] [--rss-seconds 20]

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from agent.orders.model import iso  # noqa: E402
from agent.ulid import new_ulid  # noqa: E402
from tests.orders.broker import MqttBroker, make_broker  # noqa: E402
from tests.orders.harness import DS, Device  # noqa: E402

PREFIX = f"v3/devices/{DS}/"
NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def config_order(i: int) -> tuple[str, bytes]:
    now = time.time()
    ulid = new_ulid(int(now * 1000))
    msg = {"orderUlid": ulid, "type": "config",
           "params": {"orders": [{"config": "MAX_SPEED_KMH", "value": 60 + i % 100}]},
           "issuedAt": iso(now), "expiresAt": iso(now + 3600)}
    return ulid, json.dumps(msg).encode()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p90_ms": round(pct(ms, 90), 2),
            "p99_ms": round(pct(ms, 99), 2), "max_ms": round(max(ms), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


class CloudSide:
    """Publishes orders; records when each order's SUCCEEDED (and the presence) arrives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.succeeded: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.online_at: float | None = None
        self.all_done = asyncio.Event()
        self.expect = 0
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CloudSide:
        # The bench's own client is the instrument: TCP_NODELAY, so its PUBLISHes and PUBACKs
        # are not held back by Nagle waiting for a delayed ACK (what is measured is the
        # device and the broker).
        self._client = aiomqtt.Client("127.0.0.1", self.port, identifier=f"bench-{time.time_ns()}",
                                      socket_options=[NODELAY])
        await self._client.__aenter__()
        await self._client.subscribe(PREFIX + "orders/status", qos=1)
        await self._client.subscribe(PREFIX + "presence", qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        assert self._client is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        assert self._client is not None
        async for m in self._client.messages:
            t = time.perf_counter()
            assert isinstance(m.payload, bytes | bytearray)
            doc = json.loads(m.payload)
            if str(m.topic).endswith("presence"):
                if doc.get("online") and not m.retain:
                    self.online_at = self.online_at or t
                continue
            if doc["status"] == "SUCCEEDED":
                ulid = doc["orderUlid"]
                self.succeeded.setdefault(ulid, t)
                fut = self.waiters.pop(ulid, None)
                if fut is not None and not fut.done():
                    fut.set_result(t)
                if self.expect and len(self.succeeded) >= self.expect:
                    self.all_done.set()
            elif doc["status"] != "RECEIVED":
                raise RuntimeError(f"unexpected status {doc}")

    async def publish(self, payload: bytes) -> None:
        assert self._client is not None
        await self._client.publish(PREFIX + "orders", payload, qos=1)


async def wait_online(dev: Device) -> None:
    deadline = time.monotonic() + 20
    while not dev.link.connected:
        if time.monotonic() > deadline:
            raise RuntimeError("device did not connect")
        await asyncio.sleep(0.01)


async def bench_latency(broker: MqttBroker, work: Path, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with CloudSide(broker.port) as cloud, Device(work / "dev-lat", broker.url) as dev:
        await wait_online(dev)
        loop = asyncio.get_running_loop()
        for i in range(20):  # warm-up (first SQLite pages, paho, JIT-free but caches)
            ulid, payload = config_order(i)
            cloud.waiters[ulid] = loop.create_future()
            fut = cloud.waiters[ulid]
            await cloud.publish(payload)
            await asyncio.wait_for(fut, 10)
        lat: list[float] = []
        cpu0 = time.process_time()
        t_all = time.perf_counter()
        for i in range(n):
            ulid, payload = config_order(i)
            fut = loop.create_future()
            cloud.waiters[ulid] = fut
            t0 = time.perf_counter()
            await cloud.publish(payload)
            lat.append(await asyncio.wait_for(fut, 10) - t0)
        wall = time.perf_counter() - t_all
        out["sequential"] = {**summary_ms(lat), "orders_per_s": round(n / wall, 1),
                             "process_cpu_ms_per_order": round(
                                 (time.process_time() - cpu0) / n * 1000, 2)}
        # pipelined: all published back to back, each timed from its own publish
        sent: dict[str, float] = {}
        orders = [config_order(i) for i in range(n)]
        cloud.expect = len(cloud.succeeded) + n
        cloud.all_done.clear()
        t_all = time.perf_counter()
        for ulid, payload in orders:
            sent[ulid] = time.perf_counter()
            await cloud.publish(payload)
        await asyncio.wait_for(cloud.all_done.wait(), 120)
        wall = time.perf_counter() - t_all
        pl = [cloud.succeeded[u] - sent[u] for u in sent]
        out["pipelined"] = {**summary_ms(pl), "orders_per_s": round(n / wall, 1),
                            "wall_s": round(wall, 3)}
        out["device_version"] = dev.ports.version
    return out


async def bench_backlog(broker: MqttBroker, work: Path, n: int) -> dict[str, Any]:
    dev_dir = work / "dev-backlog"
    async with Device(dev_dir, broker.url) as dev:
        await wait_online(dev)  # the persistent session and its subscription exist
    async with CloudSide(broker.port) as cloud:
        ulids = []
        t0 = time.perf_counter()
        for i in range(n):
            ulid, payload = config_order(i)
            ulids.append(ulid)
            await cloud.publish(payload)
        publish_s = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # let the broker persist the queue (mosquitto autosave 1 s)
        cloud.expect = n
        t_start = time.perf_counter()
        async with Device(dev_dir, broker.url) as dev:
            await asyncio.wait_for(cloud.all_done.wait(), 300)
            t_last = max(cloud.succeeded[u] for u in ulids)
            executed = dev.ports.version
        online = cloud.online_at
    return {"orders": n, "cloud_publish_s": round(publish_s, 3),
            "restart_to_last_succeeded_s": round(t_last - t_start, 3),
            "online_to_last_succeeded_s": None if online is None else round(t_last - online, 3),
            "restart_to_online_s": None if online is None else round(online - t_start, 3),
            "orders_per_s_after_online": None if online is None else round(
                n / (t_last - online), 1),
            "executed": executed}


def bench_rss(broker: MqttBroker, work: Path, seconds: float) -> dict[str, Any]:
    from standin_cloud import CloudServer

    from agent.sim.orders_config import orders_toml
    from agent.sources.gnss.replay import NmeaPty
    from tests.test_app import Receiver
    from tests.uplink.backbone_factory import CLIENT_ID, CLIENT_SECRET, cloud_config

    pty = NmeaPty(link=work / "gnss")
    receiver = Receiver(pty)
    sock = Path("/tmp") / f"ea-bench-orders-{os.getpid()}.sock"
    with CloudServer(cloud_config(work / "cloud")) as http, receiver:
        config = work / "agent.toml"
        config.write_text(f"""
[cloud]
url = "{http.url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
[storage]
data_dir = "{work / 'data'}"
[vehicle.gnss]
backend = "serial"
port = "{pty.path}"
[runtime]
control_socket = "{sock}"
{orders_toml(work, broker.url)}""")
        log = work / "agent.log"
        proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)],
                                stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=REPO)
        ps = psutil.Process(proc.pid)
        samples: list[tuple[float, float]] = []

        async def drive() -> int:
            sent = 0
            async with CloudSide(broker.port) as cloud:
                t0 = time.monotonic()
                next_order = t0 + 2.0
                while (now := time.monotonic()) - t0 < seconds:
                    if proc.poll() is not None:
                        raise RuntimeError(f"agent exited: see {log}")
                    samples.append((now - t0, ps.memory_info().rss / 1e6))
                    if now >= next_order:
                        for _ in range(int(min(10, (now - next_order) * 10 + 1))):
                            _, payload = config_order(sent)
                            await cloud.publish(payload)
                            sent += 1
                        next_order = now + 0.1
                    await asyncio.sleep(0.25)
                await asyncio.sleep(1.0)
                return len(cloud.succeeded) if sent else 0

        try:
            succeeded = asyncio.run(drive())
        finally:
            proc.terminate()
            proc.wait(20)
    rss = [r for _, r in samples]
    steady = [r for t, r in samples if t >= 5] or rss
    return {"seconds": seconds, "samples": len(samples), "orders_succeeded": succeeded,
            "rss_peak_mb": round(max(rss), 1), "rss_median_mb": round(statistics.median(rss), 1),
            "rss_after_5s_median_mb": round(statistics.median(steady), 1), "target_mb": 250}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", choices=("mosquitto", "nats"), default="mosquitto")
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--broker-nodelay", action="store_true",
                    help="mosquitto with set_tcp_nodelay true (its default is false)")
    ap.add_argument("--only", default="latency,backlog,rss")
    ap.add_argument("--rss-seconds", type=float, default=20.0)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-orders-"))
    result: dict[str, Any] = {
        "broker": args.broker, "broker_nodelay": args.broker_nodelay,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU",
        "load_avg": [round(x, 2) for x in os.getloadavg()], "work_dir": str(base),
    }
    for part in ("latency", "backlog", "rss"):
        if part not in parts:
            continue
        broker = make_broker(args.broker, base / f"broker-{part}",
                             nodelay=args.broker_nodelay)
        broker.start()
        try:
            if part == "latency":
                result["latency"] = asyncio.run(bench_latency(broker, base, args.orders))
            elif part == "backlog":
                result["backlog"] = asyncio.run(bench_backlog(broker, base, args.orders))
            else:
                (base / "rss").mkdir(parents=True, exist_ok=True)
                result["rss"] = bench_rss(broker, base / "rss", args.rss_seconds)
        finally:
            broker.stop()
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
