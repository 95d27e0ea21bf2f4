#!/usr/bin/env python3
"""Throughput of VehicleState + TelemetryEngine on a scenario's readings (pure path).

    .venv/bin/python scripts/bench_rules.py [SCENARIO] [--repeat 3]

Renders the scenario once (NMEA parsed by the agent's parser, J1939 frames decoded by its
decoder, power inputs), then times only ``engine.step``/``engine.tick`` over those readings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from agent.rules import RuleThresholds, TelemetryEngine
from agent.sim import load_scenario, scenario_readings
from agent.vehicle import VehicleState

DEFAULT = Path(__file__).resolve().parent.parent / "tests/scenarios/data/city_drive.toml"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("scenario", nargs="?", type=Path, default=DEFAULT)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    sc = load_scenario(args.scenario)
    readings = list(scenario_readings(sc))
    for _ in range(args.repeat):
        th = RuleThresholds()
        engine = TelemetryEngine(th, state=VehicleState(th))
        events = 0
        next_tick = sc.start_epoch + 1
        t0 = time.perf_counter()
        for r in readings:
            while next_tick <= r.t:
                events += len(engine.tick(next_tick))
                next_tick += 1
            events += len(engine.step(r))
        dt = time.perf_counter() - t0
        n = len(readings)
        print(
            f"{n} readings, {events} events in {dt * 1000:.0f} ms: {n / dt:,.0f} readings/s, "
            f"{dt / n * 1e6:.1f} us/reading ({sc.duration_s:g} s of driving = "
            f"x{sc.duration_s / dt:,.0f} real time)"
        )


if __name__ == "__main__":
    main()
