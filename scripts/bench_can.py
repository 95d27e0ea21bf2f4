#!/usr/bin/env python3
"""CAN hot-path benchmark: SLCAN line parse + DBC decode + reading hand-over, through a real pty.

A writer *process* plays the SLCAN adapter on the master side of a pseudo-terminal (so its CPU is
not counted); this process runs the agent's real path: ``CanSource`` (python-can ``slcan`` bus
with the agent's bulk reader, ``J1939Decoder`` with the shipped DBC, batches handed to the event
loop) and an ``emit`` callback that updates a vehicle-state dict. Measured here:

* ``max``: frames/s decoded with the writer unpaced (the pty applies back-pressure), and the CPU
  (this process, all threads) per frame;
* ``paced``: frames fed at ``--rate`` frames/s (in 1 ms bursts, as a USB full-speed adapter
  delivers them) for ``--seconds``; CPU % of one core = process CPU time / wall time.

Frames cycle through the DBC's eight parameter groups (every frame decodes: the worst case), or
with ``--unknown-share`` a part of them carry PGNs the DBC does not know (a real truck bus).

    .venv/bin/python scripts/bench_can.py                 # both runs, 8000 frames/s, 10 s
    .venv/bin/python scripts/bench_can.py --profile       # cProfile of the reader, unpaced
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import multiprocessing as mp
import os
import platform
import pstats
import select
import sys
import threading
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import can

from agent.sources.can.decoder import J1939Decoder
from agent.sources.can.source import CanSource
from agent.sources.readings import Reading, SignalReading
from agent.sources.settings import CanSettings

# One frame per DBC parameter group, SA varied, all values valid.
FRAMES = [
    (0x18FEF100, "FF003200FFFFFFFF"),  # CCVS1 50 km/h
    (0x0CF00400, "FFFFFF401FFFFFFF"),  # EEC1 1000 rpm
    (0x18FEFC17, "FFC8FFFFFFFFFFFF"),  # DD1 80 %
    (0x18FEE000, "FFFFFFFF40420F00"),  # VD 125000 km
    (0x18FEC1EE, "40420F00FFFFFFFF"),  # VDHR 5000 km
    (0x18FEE500, "10270000FFFFFFFF"),  # HOURS 500 h
    (0x18FEF700, "FFFFFFFF1801FFFF"),  # VEP1 14.0 V
    (0x18FEEE00, "78FFFFFFFFFFFFFF"),  # ET1 80 degC
]
UNKNOWN = (0x18FECA00, "00FF00000000FFFF")  # DM1, not in the DBC


def lines(unknown_share: float) -> list[bytes]:
    out = [b"T%08X8%s\r" % (i, d.encode()) for i, d in FRAMES]
    n_unknown = round(len(out) * unknown_share / max(1e-9, 1 - unknown_share))
    out += [b"T%08X8%s\r" % (UNKNOWN[0], UNKNOWN[1].encode())] * n_unknown
    return out


def writer(master: int, rate: float, seconds: float, total: int, share: float) -> None:
    """Adapter side: answer set-up until opened, then stream frames; runs in its own process."""
    pending = b""
    while True:  # wait for "O"/"L" (open) answering every command with OK
        select.select([master], [], [])
        pending += os.read(master, 1024)
        while b"\r" in pending:
            cmd, pending = pending.split(b"\r", 1)
            os.write(master, b"\r")
            if cmd in (b"O", b"L"):
                break
        else:
            continue
        break
    time.sleep(0.2)  # let python-can's second "L" arrive and be answered
    while select.select([master], [], [], 0)[0]:
        os.read(master, 1024)
        os.write(master, b"\r")
    frames = lines(share)
    burst_block = b"".join(frames) * 64
    if rate <= 0:  # unpaced: as fast as the reader drains the pty
        per_block = len(frames) * 64
        sent = 0
        while sent < total:
            os.write(master, burst_block)
            sent += per_block
        return
    per_ms = rate / 1000.0
    start = time.monotonic()
    sent = 0
    i = 0
    n = len(frames)
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(elapsed * 1000 * per_ms) + 1
        if due > sent:
            chunk = b"".join(frames[(i + k) % n] for k in range(due - sent))
            i = (i + due - sent) % n
            os.write(master, chunk)
            sent = due
        time.sleep(0.001)


def stock_bus(settings: CanSettings) -> can.BusABC:
    """python-can's own slcanBus (one read call per byte), for comparison."""
    from can.interfaces.slcan import slcanBus

    return slcanBus(settings.channel, bitrate=settings.bitrate, listen_only=True,
                    sleep_after_open=0.0, timeout=0.1)


async def measure(
    port: str, expect: int, limit_s: float, stock: bool,
) -> tuple[float, float, int, dict[str, object]]:
    settings = CanSettings(backend="slcan", channel=port, open_delay_s=0.0, flush_interval_s=0.05)
    src = CanSource(settings, bus_factory=(lambda: stock_bus(settings)) if stock else None)
    state: dict[str, float] = {}
    count = 0

    def emit(r: Reading) -> None:  # the vehicle-state update the agent does per reading
        nonlocal count
        if isinstance(r, SignalReading):
            state[r.signal] = r.value
            count += 1

    task = asyncio.create_task(src.run(emit))
    dec = src.decoder
    while dec.counters()["frames"] == 0:  # noqa: ASYNC110  (polls a counter of another thread)
        await asyncio.sleep(0.005)
    w0, c0 = time.monotonic(), time.process_time()
    f0 = dec.counters()["frames"]
    deadline = w0 + limit_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if int(dec.counters()["frames"]) - int(f0) >= expect:  # type: ignore[call-overload]
            break
    w1, c1 = time.monotonic(), time.process_time()
    frames = int(dec.counters()["frames"]) - int(f0)  # type: ignore[call-overload]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    diag = src.diagnostics()
    diag["emitted"] = count
    return w1 - w0, c1 - c0, frames, diag


def run_case(
    rate: float, seconds: float, total: int, share: float, stock: bool = False,
) -> dict[str, float]:
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=writer, args=(master, rate, seconds, total, share), daemon=True)
    proc.start()
    expect = total - 2048 if rate <= 0 else int(rate * seconds * 0.98)
    wall, cpu, frames, diag = asyncio.run(
        measure(port, expect, limit_s=seconds + 30, stock=stock))
    proc.terminate()
    proc.join()
    os.close(master)
    os.close(slave)
    return {"wall_s": wall, "cpu_s": cpu, "frames": frames, "fps": frames / wall,
            "cpu_pct": 100.0 * cpu / wall, "us_cpu_per_frame": 1e6 * cpu / max(1, frames),
            "readings": float(diag["readings"]), "malformed": float(diag["malformed_lines"])}  # type: ignore[arg-type]


def profile(total: int, share: float) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    proc = mp.get_context("fork").Process(target=writer, args=(master, 0, 0, total, share))
    proc.start()
    src = CanSource(CanSettings(backend="slcan", channel=port, open_delay_s=0.0))
    stop = threading.Event()
    got = 0

    def hand_over(batch: list[Reading]) -> None:
        nonlocal got
        got += len(batch)
        if int(src.decoder.counters()["frames"]) >= total:  # type: ignore[call-overload]
            stop.set()

    prof = cProfile.Profile()
    prof.enable()
    src.read_loop(stop, hand_over)
    prof.disable()
    proc.terminate()
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=8000.0, help="paced frames/s")
    ap.add_argument("--seconds", type=float, default=10.0, help="paced run length")
    ap.add_argument("--frames", type=int, default=200_000, help="unpaced run length (frames)")
    ap.add_argument("--unknown-share", type=float, default=0.0,
                    help="share of frames with a PGN the DBC does not know (0..0.9)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--stock", action="store_true",
                    help="also run python-can's unmodified slcanBus (byte-per-read) for comparison")
    args = ap.parse_args()
    J1939Decoder.from_dbc()  # fail fast on a broken DBC
    if args.profile:
        profile(args.frames, args.unknown_share)
        return 0
    print(f"machine: {cpu_model()}, {os.cpu_count()} cpus, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"unknown-PGN share: {args.unknown_share:.2f}")
    m = run_case(0, 0, args.frames, args.unknown_share)
    print(f"max:   {m['frames']:.0f} frames in {m['wall_s']:.2f} s = {m['fps']:.0f} frames/s, "
          f"CPU {m['cpu_pct']:.0f} % of one core, {m['us_cpu_per_frame']:.1f} us CPU/frame, "
          f"{m['readings']:.0f} readings")
    p = run_case(args.rate, args.seconds, 0, args.unknown_share)
    print(f"paced: {args.rate:.0f} frames/s for {p['wall_s']:.1f} s: {p['frames']:.0f} frames "
          f"({p['fps']:.0f}/s), CPU {p['cpu_pct']:.1f} % of one core, "
          f"{p['us_cpu_per_frame']:.1f} us CPU/frame")
    if args.stock:
        m = run_case(0, 0, min(args.frames, 50_000), args.unknown_share, stock=True)
        print(f"stock python-can slcanBus max: {m['fps']:.0f} frames/s, "
              f"{m['us_cpu_per_frame']:.1f} us CPU/frame")
        p = run_case(args.rate, args.seconds, 0, args.unknown_share, stock=True)
        print(f"stock python-can slcanBus paced {args.rate:.0f}/s: {p['fps']:.0f} frames/s, "
              f"CPU {p['cpu_pct']:.1f} % of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
