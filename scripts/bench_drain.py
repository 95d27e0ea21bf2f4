#!/usr/bin/env python3
"""Drain benchmark: a 100,000-event outbox backlog through the Uplink into the stand-in cloud.

    .venv/bin/python scripts/bench_drain.py [--events 100000] [--batch-size 500] [--no-gzip]

Fills a fresh SQLite outbox (real ``Outbox``), starts ``scripts/cloud`` as a child process on
loopback, drains with the real ``Uplink`` and reports events/s (target >= 5,000), the agent
process RSS idle and while draining (psutil), and CPU seconds of the agent and of the cloud, so
the limiting side is visible. The cloud's count is checked against the backlog at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.config import CloudSettings  # noqa: E402
from agent.events import (  # noqa: E402
    CellLink,
    ConnectionType,
    DeviceIdentity,
    Event,
    TelemetryDetail,
    TelemetryEventType,
    VehicleContext,
)
from agent.sources.readings import FixMode, GnssFix  # noqa: E402
from agent.store.outbox import Outbox  # noqa: E402
from agent.uplink import Uplink  # noqa: E402

IDENTITY = DeviceIdentity(
    device_source="862798050833538", account_ulid="01GXRRKM43W02X5JZDSMZHAJJY"
)
CLIENT_ID, CLIENT_SECRET = "bench-device", "bench-secret-not-logged"
T0_MS = 1_767_225_600_000


def make_events(n: int, start: int) -> list[Event]:
    out = []
    for i in range(start, start + n):
        fix_ms = T0_MS + i * 1000
        fix = GnssFix(fix_ms / 1000, fix_ms, FixMode.FIX_3D,
                      lat=-23.329572 + (i % 1000) * 1e-5, lon=-51.178328 - (i % 777) * 1e-5,
                      alt=639.18, hdop=0.66, vdop=0.34, satellites_used=12)
        ctx = VehicleContext(
            fix=fix,
            heading=i % 360,
            speed_kmh=30 + i % 60,
            fixed=True,
            ignition_on=True,
            odometer_m=272_347 + i * 8,
            vehicle_battery_v=13.9,
            backup_battery_v=4.1,
            cell=CellLink(ConnectionType.G4, signal_pct=70),
        )
        kind = TelemetryEventType.PERIODIC_POSITION if i % 10 else TelemetryEventType.HARSH_BRAKING
        out.append(Event(timestamp_ms=T0_MS + i * 1000, context=ctx, detail=TelemetryDetail(kind)))
    return out


ADMIN_TOKEN = secrets.token_urlsafe(32)  # the cloud's /admin/* credential for this run


def start_cloud(data: Path, creds: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            str(REPO / "scripts" / "cloud"),
            "--port",
            "0",
            "--data",
            str(data),
            "--credentials",
            str(creds),
            "--admin-token",
            ADMIN_TOKEN,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("cloud: "):
        proc.kill()
        raise SystemExit(f"cloud did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


class RssSampler:
    def __init__(self, proc: psutil.Process, period_s: float = 0.05) -> None:
        self.proc, self.period_s, self.peak = proc, period_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.period_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


async def drain(settings: CloudSettings, outbox: Outbox) -> tuple[float, dict[str, Any]]:
    async with Uplink(settings, outbox) as uplink:
        start = time.perf_counter()
        result = await uplink.drain()
        elapsed = time.perf_counter() - start
        diag = uplink.diagnostics()
    diag["result"] = result
    return elapsed, diag


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--no-gzip", action="store_true")
    p.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    args = p.parse_args()

    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-drain-"))
    work.mkdir(parents=True, exist_ok=True)
    creds = work / "clients.toml"
    creds.write_text(f'[[clients]]\nclientId = "{CLIENT_ID}"\nclientSecret = "{CLIENT_SECRET}"\n')
    creds.chmod(0o600)
    me = psutil.Process()

    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
        f"{platform.python_implementation()} {platform.python_version()}, {platform.platform()}"
    )
    outbox = Outbox(work / "outbox", IDENTITY, max_bytes=4 * 1024**3)
    t = time.perf_counter()
    for start in range(0, args.events, 5000):
        outbox.append_many(make_events(min(5000, args.events - start), start))
    fill_s = time.perf_counter() - t
    st = outbox.stats()
    print(
        f"fill: {args.events} events in {fill_s:.1f} s ({args.events / fill_s:,.0f}/s), "
        f"outbox {mib(st.bytes_on_disk)} on disk"
    )

    cloud, url = start_cloud(work / "cloud", creds)
    cloud_ps = psutil.Process(cloud.pid)
    try:
        settings = CloudSettings(
            url=url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            batch_size=args.batch_size,
            gzip=not args.no_gzip,
        )
        time.sleep(0.5)
        rss_idle = me.memory_info().rss
        cpu0, cloud_cpu0 = me.cpu_times(), cloud_ps.cpu_times()
        with RssSampler(me) as sampler:
            elapsed, diag = asyncio.run(drain(settings, outbox))
        cpu1, cloud_cpu1 = me.cpu_times(), cloud_ps.cpu_times()
        agent_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        cloud_cpu = (cloud_cpu1.user + cloud_cpu1.system) - (cloud_cpu0.user + cloud_cpu0.system)
        import httpx

        admin = {"X-Admin-Token": ADMIN_TOKEN}
        cloud_events = httpx.get(f"{url}/admin/stats", headers=admin, timeout=30).json()["events"]
    finally:
        cloud.terminate()
        cloud.wait(timeout=10)
        outbox.close()

    rate = args.events / elapsed
    with Outbox(work / "outbox", IDENTITY) as reopened:
        after = reopened.stats()
    left = sum(after.pending.values()) + after.in_flight
    print(
        f"drain: {args.events} events in {elapsed:.2f} s = {rate:,.0f} events/s "
        f"(target >= 5,000: {'met' if rate >= 5000 else 'NOT met'})"
    )
    print(
        f"  batches {diag['sent_batches']} x {args.batch_size}, gzip {not args.no_gzip}, "
        f"wire {mib(float(diag['sent_bytes']))}, retries {diag['retries']}"
    )
    print(f"  cloud stored {cloud_events} events; outbox left {left}")
    print(f"  agent RSS idle {mib(rss_idle)}, peak while draining {mib(sampler.peak)}")
    print(
        f"  CPU during drain: agent {agent_cpu:.1f} s ({agent_cpu / elapsed:.0%} of one core), "
        f"cloud {cloud_cpu:.1f} s ({cloud_cpu / elapsed:.0%})"
    )
    ok = cloud_events == args.events and left == 0
    if not ok:
        print("ERROR: not every event arrived")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
