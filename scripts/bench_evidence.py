#!/usr/bin/env python3
"""Benchmark of the DMS policy, the evidence ring and ``diag video`` on the bench face video.

Prints one JSON object:

* ``policy_us_per_step``: DmsStateMachine.step on a synthetic 30 fps drive (median of runs);
* ``ring``: JPEG encode ms per kept frame, bytes per frame and the projected memory of a
  190 s ring at 10 fps, from the bench's real-face 640x480 video;
* ``evidence_ms``: rendering one event's evidence (PNG, thumbnail, crop, 10 s mp4 clip);
* ``diag_video_fps``: ``edge-agent diag video`` frames per wall second, decode included, one
  thread (median of ``--repeat`` runs; each run is a separate process).

Usage: .venv/bin/python scripts/bench_evidence.py [--repeat 3]   (taskset -c 0 for one core)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.dms.observation import FaceObservation  # noqa: E402
from agent.dms.policy import DmsStateMachine  # noqa: E402
from agent.events import CameraId, DeviceIdentity  # noqa: E402
from agent.vision.camera import Frame  # noqa: E402
from agent.vision.evidence import EvidenceRecorder, EvidenceSettings  # noqa: E402

BENCH = REPO.parent / "shared" / "bench" / "make_face_video.py"


def bench_policy(frames: int = 30 * 120) -> float:
    base = FaceObservation(t=0.0, face_found=True, face_score=0.95, box=(0.4, 0.3, 0.2, 0.3),
                           pitch=-18.0, yaw=2.0, eye_openness=(0.37, 0.37),
                           frame_brightness=110.0, frame_contrast=40.0)
    shut = replace(base, eye_openness=(0.12, 0.12))
    sm = DmsStateMachine()
    obs = [replace(shut if (i % 120) < 6 else base, t=1e9 + i / 30) for i in range(frames)]
    t0 = time.perf_counter()
    for o in obs:
        sm.step(o, 60.0)
    return (time.perf_counter() - t0) / frames * 1e6


def bench_ring(video: Path) -> dict[str, float]:
    s = EvidenceSettings()
    ring = EvidenceRecorder.make_ring("cam1", s)
    cap = cv2.VideoCapture(str(video))
    i = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        ring.push(Frame("cam1", i, 1e9 + i / 30, image))
        i += 1
    st = ring.stats()
    per_frame = st.bytes / st.frames
    return {"frames_kept": st.frames, "encode_ms": round(st.encode_ms_avg, 2),
            "bytes_per_frame": round(per_frame),
            "projected_190s_mib": round(per_frame * s.ring_fps * s.ring_seconds / 2**20, 1),
            "cap_mib": s.ring_max_bytes / 2**20}


async def bench_evidence(video: Path, spool: Path) -> float:
    s = EvidenceSettings(wait_grace_s=0.0)
    ring = EvidenceRecorder.make_ring("cam1", s)
    cap = cv2.VideoCapture(str(video))
    i = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        ring.push(Frame("cam1", i, 1e9 + i / 30, image))
        i += 1
    ident = DeviceIdentity("862798050833538", "01GXRRKM43W02X5JZDSMZHAJJY")
    rec = EvidenceRecorder(ident, {CameraId.DRIVER: ring}, s, spool_dir=spool,
                           clock=lambda: 2e9)
    t0 = time.perf_counter()
    await rec.event_evidence("01HQ0000000000000000000000", 1e9 + 10.0, (0.37, 0.28, 0.3, 0.4))
    ms = (time.perf_counter() - t0) * 1e3
    rec.close()
    return ms


def bench_diag(video: Path) -> float:
    out = subprocess.run([sys.executable, "-m", "agent", "diag", "video", str(video), "--json",
                          "--every", "1000"], cwd=REPO, capture_output=True, text=True,
                         check=True)
    return float(json.loads(out.stdout.splitlines()[-1])["summary"]["fps"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        video = Path(d) / "face.mp4"
        subprocess.run([sys.executable, str(BENCH), str(video)], check=True,
                       capture_output=True)
        policy = [bench_policy() for _ in range(args.repeat)]
        evidence = [asyncio.run(bench_evidence(video, Path(d) / "spool"))
                    for _ in range(args.repeat)]
        diag = [bench_diag(video) for _ in range(args.repeat)]
        result = {
            "machine": f"{platform.processor() or platform.machine()}, "
                       f"{__import__('os').cpu_count()} cpu, Python {platform.python_version()}",
            "policy_us_per_step": round(statistics.median(policy), 1),
            "ring": bench_ring(video),
            "evidence_ms": round(statistics.median(evidence)),
            "diag_video_fps": statistics.median(diag),
            "diag_video_fps_runs": diag,
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
