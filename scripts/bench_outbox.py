#!/usr/bin/env python3
"""Durable outbox throughput: group commit vs one transaction per event, in ONE run.

Every figure counts only events that are durable (committed with ``synchronous=FULL`` in WAL,
i.e. fsynced) when counted. Events are realistic telemetry envelopes (full VehicleContext,
~690 bytes of compact JSON each) built before the clock starts: producers build them anyway.

Modes (each on a fresh outbox in the same directory/filesystem):
- ``group``: ``await OutboxWriter.put`` from many concurrent producer tasks (the agent's path);
- ``append_many``: the synchronous batch API, 1000 events per transaction (the upper bound);
- ``single``: ``Outbox.append`` one event per transaction (one fsync per event).

Usage: .venv/bin/python scripts/bench_outbox.py [--events 100000] [--repeat 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agent.events import (
    CellLink,
    ConnectionType,
    DeviceIdentity,
    Event,
    TelemetryDetail,
    TelemetryEventType,
    VehicleContext,
)
from agent.sources.readings import FixMode, GnssFix
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter

IDENTITY = DeviceIdentity(
    device_source="862798050833538",
    account_ulid="01GXRRKM43W02X5JZDSMZHAJJY",
    iccid="8934071100000000001",
)
T0 = 1_700_000_000_000
KINDS = (
    TelemetryEventType.PERIODIC_POSITION,
    TelemetryEventType.PERIODIC_POSITION,
    TelemetryEventType.PERIODIC_POSITION,
    TelemetryEventType.HARSH_BRAKING,
    TelemetryEventType.SPEEDING_STARTED,
)


def make_events(n: int) -> list[Event]:
    out = []
    for i in range(n):
        fix_ms = T0 + i * 1000
        fix = GnssFix(fix_ms / 1000, fix_ms, FixMode.FIX_3D, lat=40.416775 + i * 1e-6,
                      lon=-3.703790 - i * 1e-6, alt=657.3 + (i % 10) / 10, hdop=0.9, vdop=1.3,
                      satellites_used=11)
        ctx = VehicleContext(
            fix=fix, heading=(i * 7) % 360, speed_kmh=40 + i % 60, fixed=True, ignition_on=True,
            odometer_m=123_456_789 + i * 12, vehicle_battery_v=13.82, backup_battery_v=4.1,
            cell=CellLink(ConnectionType.G4, 71, 214, 7, cell_id=123_456, location_area_code=2801,
                          timing_advance=3),
        )  # fmt: skip
        out.append(Event(T0 + i * 1000, ctx, TelemetryDetail(KINDS[i % len(KINDS)])))
    return out


def _fresh(root: Path, name: str) -> Path:
    d = root / name
    shutil.rmtree(d, ignore_errors=True)
    return d


def bench_group(root: Path, events: list[Event], producers: int, max_batch: int,
                wait_ms: float) -> dict[str, float]:
    data_dir = _fresh(root, "group")
    with Outbox(data_dir, IDENTITY, max_bytes=1 << 40) as box:
        writer = OutboxWriter(box, max_batch=max_batch, max_wait_ms=wait_ms)

        async def run() -> float:
            chunks = [events[k::producers] for k in range(producers)]

            async def producer(mine: list[Event]) -> None:
                for e in mine:
                    await writer.put(e)

            writer.start()
            start = time.perf_counter()
            cpu0 = time.process_time()
            await asyncio.gather(*(producer(c) for c in chunks))
            elapsed = time.perf_counter() - start
            cpu.append(time.process_time() - cpu0)
            await writer.close()
            return elapsed

        cpu: list[float] = []
        elapsed = asyncio.run(run())
        assert sum(box.stats().pending.values()) == len(events)
    return {"events": len(events), "seconds": elapsed, "events_per_s": len(events) / elapsed,
            "transactions": writer.batches, "mean_batch": len(events) / max(writer.batches, 1),
            "cpu_us_per_event": cpu[0] / len(events) * 1e6}


def bench_append_many(root: Path, events: list[Event], batch: int) -> dict[str, float]:
    data_dir = _fresh(root, "append_many")
    with Outbox(data_dir, IDENTITY, max_bytes=1 << 40) as box:
        start = time.perf_counter()
        cpu0 = time.process_time()
        for k in range(0, len(events), batch):
            box.append_many(events[k:k + batch])
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    return {"events": len(events), "seconds": elapsed, "events_per_s": len(events) / elapsed,
            "transactions": -(-len(events) // batch), "mean_batch": batch,
            "cpu_us_per_event": cpu / len(events) * 1e6}


def bench_single(root: Path, events: list[Event]) -> dict[str, float]:
    data_dir = _fresh(root, "single")
    with Outbox(data_dir, IDENTITY, max_bytes=1 << 40) as box:
        start = time.perf_counter()
        cpu0 = time.process_time()
        for e in events:
            box.append(e)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    return {"events": len(events), "seconds": elapsed, "events_per_s": len(events) / elapsed,
            "transactions": len(events), "mean_batch": 1,
            "cpu_us_per_event": cpu / len(events) * 1e6}


def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "kernel": platform.release()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000, help="events per group run")
    ap.add_argument("--single-events", type=int, default=3_000,
                    help="events for the one-transaction-per-event run (slow)")
    ap.add_argument("--producers", type=int, default=256, help="concurrent producer tasks")
    ap.add_argument("--max-batch", type=int, default=1000, help="group_commit_max")
    ap.add_argument("--wait-ms", type=float, default=5.0, help="group_commit_wait_ms")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None,
                    help="where to create the outboxes (default: a temp dir under /var/tmp)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    events = make_events(max(args.events, args.single_events))
    root = Path(tempfile.mkdtemp(prefix="bench-outbox-", dir=args.dir or "/var/tmp"))
    runs: dict[str, list[dict[str, float]]] = {"group": [], "append_many": [], "single": []}
    modes: dict[str, Callable[[], dict[str, float]]] = {
        "group": lambda: bench_group(root, events[:args.events], args.producers,
                                     args.max_batch, args.wait_ms),
        "append_many": lambda: bench_append_many(root, events[:args.events], args.max_batch),
        "single": lambda: bench_single(root, events[:args.single_events]),
    }
    try:
        for _ in range(args.repeat):  # interleaved, so noise hits every mode alike
            for name, fn in modes.items():
                runs[name].append(fn())
    finally:
        shutil.rmtree(root, ignore_errors=True)

    summary = {
        name: {
            "median_events_per_s": statistics.median(r["events_per_s"] for r in rs),
            "runs_events_per_s": [round(r["events_per_s"]) for r in rs],
            "mean_batch": statistics.median(r["mean_batch"] for r in rs),
            "median_cpu_us_per_event": statistics.median(r["cpu_us_per_event"] for r in rs),
        }
        for name, rs in runs.items()
    }
    ratio = summary["group"]["median_events_per_s"] / summary["single"]["median_events_per_s"]
    report = {"machine": machine(), "filesystem_dir": str(args.dir or "/var/tmp"),
              "settings": {"producers": args.producers, "max_batch": args.max_batch,
                           "wait_ms": args.wait_ms, "events": args.events,
                           "single_events": args.single_events, "repeat": args.repeat},
              "modes": summary, "group_vs_single_ratio": ratio}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["machine"]
    print(f"machine: {m['nproc']} CPU, {m['cpu']}, Python {m['python']}, SQLite {m['sqlite']}")
    for name, s in summary.items():
        print(f"{name:<12} median {s['median_events_per_s']:>9,.0f} durable events/s  "
              f"(runs {s['runs_events_per_s']}, mean batch {s['mean_batch']:.0f}, "
              f"CPU {s['median_cpu_us_per_event']:.1f} us/event)")
    print(f"group commit / one transaction per event: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
