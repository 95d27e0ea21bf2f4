#!/usr/bin/env python3
"""NMEA parser throughput and CPU cost per fix.

1. throughput: every capture in ../shared/testdata/gpsd concatenated (comment lines removed),
   repeated ``--repeat`` times, fed through NmeaParser in 4 KiB reads (as the serial source
   reads): accepted sentences per second of CPU time.
2. 10 Hz cost: ``--epochs`` epochs of a synthetic 10 Hz receiver (RMC+GGA+GSA+3 GSV per
   epoch, 27 km/h drive), same 4 KiB reads: CPU time per epoch, and the share of one core
   that parsing a 10 Hz receiver takes.
3. ``--pty SECONDS`` (optional): the real GnssSerialSource reading a pty fed at 10 Hz by the
   replay helper, whole-process CPU (reader thread + replay thread + event loop) per epoch.

Each measurement runs ``--runs`` times; the median and the spread are printed.

    .venv/bin/python scripts/bench_nmea.py [--repeat 20] [--epochs 20000] [--pty 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.sources.gnss import NmeaParser, read_capture  # noqa: E402
from agent.sources.gnss.synth import drive  # noqa: E402

CAPTURES = REPO.parent / "shared" / "testdata" / "gpsd"
CHUNK = 4096


def chunks(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_parser(pieces: list[bytes]) -> tuple[float, float, int, int]:
    """(cpu s, wall s, sentences, fixes) for one pass through a fresh parser."""
    parser = NmeaParser()
    fixes = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for piece in pieces:
        fixes += len(parser.feed(piece, 0.0))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu, wall, parser.framer.counters.sentences, fixes


def median_spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} (min {min(values):,.1f}, max {max(values):,.1f})"


def bench_throughput(repeat: int, runs: int) -> None:
    body = b"".join(read_capture(p).body + b"\r\n" for p in sorted(CAPTURES.glob("*.log")))
    pieces = chunks(body * repeat)
    rates, cpu_rates = [], []
    sentences = fixes = 0
    for _ in range(runs):
        cpu, wall, sentences, fixes = run_parser(pieces)
        rates.append(sentences / wall)
        cpu_rates.append(sentences / cpu)
    print(f"throughput: {len(body) * repeat / 1e6:.1f} MB, {sentences:,} sentences, "
          f"{fixes:,} fix updates per pass")
    print(f"  sentences/s (CPU time):  {median_spread(cpu_rates)}")
    print(f"  sentences/s (wall time): {median_spread(rates)}")


def bench_10hz(epochs: int, runs: int) -> None:
    start = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    bursts = drive(start, 48.1, 11.5, epochs=epochs, rate_hz=10, speed_mps=7.5)
    pieces = chunks(b"".join(bursts))
    per_epoch_us, per_fix_us = [], []
    sentences = fixes = 0
    for _ in range(runs):
        cpu, _, sentences, fixes = run_parser(pieces)
        per_epoch_us.append(cpu / epochs * 1e6)
        per_fix_us.append(cpu / fixes * 1e6)
    med = statistics.median(per_epoch_us)
    print(f"10 Hz receiver: {epochs:,} epochs, {sentences / epochs:.0f} sentences/epoch, "
          f"{fixes:,} fix updates (gpsd-style, before the source drops unchanged ones)")
    print(f"  CPU per epoch (us):      {median_spread(per_epoch_us)}")
    print(f"  CPU per fix update (us): {median_spread(per_fix_us)}")
    print(f"  share of one core at 10 Hz: {med * 10 / 1e6 * 100:.3f} %")


def bench_pty(seconds: float) -> None:
    from agent.sources.gnss.replay import CaptureReplay, NmeaPty
    from agent.sources.gnss.source import GnssSerialSource
    from agent.sources.readings import GnssFix, Reading

    start = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    bursts = drive(start, 48.1, 11.5, epochs=int(seconds * 10) + 20, rate_hz=10)
    received: list[GnssFix] = []

    def emit(reading: Reading) -> None:
        if isinstance(reading, GnssFix):
            received.append(reading)

    async def main() -> tuple[float, float]:
        with NmeaPty() as pty:
            source = GnssSerialSource(str(pty.path), 9600)
            task = asyncio.create_task(source.run(emit))
            await asyncio.sleep(0.5)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            replay = CaptureReplay(pty, bursts[: int(seconds * 10)], epochs_per_s=10).start()
            await asyncio.get_running_loop().run_in_executor(None, replay.wait, seconds + 10)
            await asyncio.sleep(0.3)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return cpu, wall

    cpu, wall = asyncio.run(main())
    epochs = len({f.time_ms for f in received})
    print(f"pty end to end: {wall:.1f} s at 10 Hz, {epochs} epochs, {len(received)} fixes emitted")
    print(f"  process CPU per epoch (us): {cpu / max(epochs, 1) * 1e6:,.1f}  "
          f"(= {cpu / wall * 100:.2f} % of one core, replay thread included)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20, help="copies of all captures per pass")
    ap.add_argument("--epochs", type=int, default=20_000, help="10 Hz epochs per pass")
    ap.add_argument("--runs", type=int, default=5, help="passes per measurement")
    ap.add_argument("--pty", type=float, default=0.0, help="seconds of end-to-end pty run")
    args = ap.parse_args(argv)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {_cpu_model()}, "
          f"Python {platform.python_version()}")
    steps: list[Callable[[], None]] = [lambda: bench_throughput(args.repeat, args.runs),
                                       lambda: bench_10hz(args.epochs, args.runs)]
    if args.pty > 0:
        steps.append(lambda: bench_pty(args.pty))
    for step in steps:
        step()
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    raise SystemExit(main())
