#!/usr/bin/env python3
"""Motion sensor full-path benchmark: IIO buffered records → MotionSource → rules engine.

A writer *process* plays the IIO device (``agent.sim.motion.IioDevice``: scan elements and a
FIFO for ``/dev/iio:deviceN``, LIS3DH-like records with a gyroscope and timestamps) at the
sensor rate, in the 10 ms bursts a driver's watermark gives; its CPU is not counted. This
process runs the agent's real path: ``MotionSource`` (``iio_buffer`` backend: read, decode with
the scan-element layout, axis map, plausibility, hand-over to the event loop every 50 ms) and
the ``TelemetryEngine`` stepped with every sample (vehicle state, mounting calibration, all
rules, the security ones armed), with a 1 s tick as the app does. CPU % of one core = this
process's CPU time (all threads) / wall time, over ``--seconds`` after a 1 s warm-up.

    .venv/bin/python scripts/bench_motion.py                 # 100 Hz and 400 Hz, 20 s each
    .venv/bin/python scripts/bench_motion.py --rates 100 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.rules import RuleThresholds, TelemetryEngine
from agent.sim.motion import IioDevice
from agent.sources.motion.source import MotionSource
from agent.sources.readings import MotionSample, Reading, Signal, SignalReading
from agent.sources.settings import MotionSettings

G = 9.80665


def writer(directory: str, rate: float, seconds: float, ready: mp.synchronize.Event) -> None:
    dev = IioDevice(Path(directory), rate_hz=rate)
    ready.set()
    burst = max(1, round(rate * 0.01))  # 10 ms of samples per write
    t0 = time.time()
    n = 0
    end = t0 + seconds
    while time.time() < end:
        block = []
        for _ in range(burst):
            t = t0 + n / rate
            # a parked car with a little noise and a knock every 10 s
            knock = 3.0 if (n % round(10 * rate)) < 3 else 0.0
            a = (0.02 * math.sin(n) + knock, 0.02 * math.cos(n), G)
            block.append((t, a, (0.0, 0.0, 0.001)))
            n += 1
        dev.write_records(block)
        wait = t0 + n / rate - time.time()
        if wait > 0:
            time.sleep(wait)
    dev.close()


async def measure(rate: float, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "iio"
        ready = mp.Event()
        proc = mp.Process(target=writer, args=(str(directory), rate, seconds + 2.0, ready))
        proc.start()
        ready.wait(10)
        src = MotionSource(MotionSettings(backend="iio_buffer", device=directory,
                                          chardev=directory / "chardev", rate_hz=rate))  # fmt: skip
        # armed at once, so every parked-security rule runs on every sample
        engine = TelemetryEngine(RuleThresholds(arm_delay_s=0))
        engine.boot(time.time())
        engine.step(SignalReading(time.time(), Signal.IGNITION, 0.0, "gpio"))
        count = [0]

        def emit(r: Reading) -> None:
            if isinstance(r, MotionSample):
                count[0] += 1
            engine.step(r)

        async def ticks() -> None:
            while True:
                await asyncio.sleep(1.0)
                engine.tick(time.time())

        tasks = [asyncio.create_task(src.run(emit)), asyncio.create_task(ticks())]
        await asyncio.sleep(1.0)  # warm-up
        c0, w0, n0 = time.process_time(), time.perf_counter(), count[0]
        await asyncio.sleep(seconds)
        c1, w1, n1 = time.process_time(), time.perf_counter(), count[0]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        proc.join(5)
        samples = n1 - n0
        cpu = c1 - c0
        return {
            "rate_hz": rate,
            "samples_per_s": samples / (w1 - w0),
            "cpu_pct": 100.0 * cpu / (w1 - w0),
            "us_per_sample": 1e6 * cpu / samples if samples else float("nan"),
            "calibrated": float(engine.state.motion.calibration.calibrated),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[100.0, 400.0])
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    print(f"# {platform.node()} {platform.processor() or platform.machine()} "
          f"python {platform.python_version()}")  # fmt: skip
    for rate in args.rates:
        r = asyncio.run(measure(rate, args.seconds))
        print(f"{r['rate_hz']:6.0f} Hz: {r['samples_per_s']:7.1f} samples/s through the engine, "
              f"CPU {r['cpu_pct']:5.2f} % of one core, {r['us_per_sample']:6.1f} µs per sample"
              f"{'' if r['calibrated'] else ' (not calibrated)'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
