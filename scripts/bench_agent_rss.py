"""Whole-agent memory: RSS of ``edge-agent run`` inside the demo (all sources, DMS, uplink).

Starts ``scripts/demo --duration D`` (stand-in cloud, simulator on ptys, the driver video
through the full face pipeline, evidence ring buffer, uplink), finds the agent process and
samples its RSS (psutil) every 0.5 s. Prints JSON: peak and median RSS, and after the first
10 s (steady state). Target for the whole agent: ≤ 250 MB (issue: driver monitoring).

    .venv/bin/python scripts/bench_agent_rss.py --duration 90
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def find_agent(parent: psutil.Process) -> psutil.Process | None:
    for child in parent.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "bin/edge-agent run" in cmd:
            return child
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=90.0)
    args = ap.parse_args()
    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--duration", str(args.duration)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    parent = psutil.Process(demo.pid)
    agent: psutil.Process | None = None
    samples: list[tuple[float, float]] = []
    started = None
    while demo.poll() is None:
        if agent is None:
            agent = find_agent(parent)
            started = time.monotonic()
        else:
            try:
                rss = agent.memory_info().rss / 1e6
            except psutil.Error:
                break
            samples.append((time.monotonic() - (started or 0.0), rss))
        time.sleep(0.5)
    demo.wait()
    if not samples:
        print(json.dumps({"error": "agent process not seen"}))
        return 1
    steady = [r for t, r in samples if t >= 10] or [r for _, r in samples]
    print(json.dumps({
        "samples": len(samples),
        "rss_peak_mb": round(max(r for _, r in samples), 1),
        "rss_median_mb": round(statistics.median(r for _, r in samples), 1),
        "rss_steady_median_mb": round(statistics.median(steady), 1),
        "rss_steady_peak_mb": round(max(steady), 1),
        "target_mb": 250,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
