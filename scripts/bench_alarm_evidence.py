#!/usr/bin/env python3
"""Benchmark: evidence on telemetry alarms — time from the alarm to the event being stored.

Two live cameras (the bench's real-face 640x480 video as the driver, a counting 320x240 video
as the road, both looped at their own frame rate) feed their evidence rings; every
``--every`` seconds a harsh-braking alarm is handed to the real ``AlarmEvidence`` component,
which waits for the clip's end (``clip_after_s``, 5 s by default), renders both cameras' images,
thumbnails, crop and clips, and stores the event through the real publisher and outbox. Printed
(JSON): per alarm, seconds from the alarm's timestamp to its commit, and what is inherent (the
clip's 5 s after the alarm) vs the rendering on top; the same path without cameras for
comparison (the event is stored at once).

Usage: .venv/bin/python scripts/bench_alarm_evidence.py [--alarms 6] [--every 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.events import (  # noqa: E402
    CameraId,
    Event,
    TelemetryDetail,
    TelemetryEventType,
    VehicleContext,
)
from agent.runtime.publisher import Publisher  # noqa: E402
from agent.store.outbox import Outbox  # noqa: E402
from agent.store.writer import OutboxWriter  # noqa: E402
from agent.ulid import new_ulid  # noqa: E402
from agent.vision.alarm_evidence import AlarmEvidence  # noqa: E402
from agent.vision.camera import Camera, CameraOptions  # noqa: E402
from agent.vision.evidence import EvidenceRecorder, EvidenceSettings  # noqa: E402
from tests.vision.test_evidence import IDENTITY  # noqa: E402
from tests.vision.video_files import write_counting_video, write_face_video  # noqa: E402


def alarm(t: float) -> Event:
    ms = int(t * 1000)
    return Event(ms, VehicleContext(speed_kmh=60),
                 TelemetryDetail(TelemetryEventType.HARSH_BRAKING), ulid=new_ulid(ms))


async def run(work: Path, alarms: int, every: float, cameras: bool) -> list[float]:
    settings = EvidenceSettings()
    rings = {}
    cams: list[Camera] = []
    if cameras:
        road = write_counting_video(work / "road.avi", 200, fps=20.0, size=(320, 240))
        face = write_face_video(work / "driver.avi", n=200)
        for which, path in ((CameraId.ROAD, road), (CameraId.DRIVER, face)):
            rings[which] = EvidenceRecorder.make_ring(which.label, settings)
            cam = Camera(which.label, str(path), CameraOptions(loop=True))
            cam.add_listener(rings[which].push)
            cams.append(cam)
    recorder = EvidenceRecorder(IDENTITY, rings, settings, spool_dir=work / "spool")
    stored_at: dict[str, float] = {}
    with Outbox(work / f"outbox-{cameras}", IDENTITY) as outbox:
        async with OutboxWriter(outbox) as writer:
            publisher = Publisher(writer, lambda: None)
            original_put = publisher.put

            async def timed_put(event: Event, attachments: tuple[()] | object = ()) -> int:
                seq = await original_put(event, attachments)  # type: ignore[arg-type]
                stored_at[event.ulid] = time.time()
                return seq

            publisher.put = timed_put  # type: ignore[method-assign]
            evidence = AlarmEvidence(recorder, publisher, [TelemetryEventType.HARSH_BRAKING])
            tasks = [asyncio.create_task(c.run()) for c in cams]
            tasks += [asyncio.create_task(publisher.run()), asyncio.create_task(evidence.run())]
            try:
                await asyncio.sleep(settings.clip_before_s + 1.0 if cameras else 0.1)
                sent = []
                for _ in range(alarms):
                    event = alarm(time.time())
                    sent.append(event)
                    if cameras:
                        evidence.submit(event)
                    else:
                        await publisher.put(event)
                    await asyncio.sleep(every)
                for _ in range(1200):  # up to 60 s
                    if len(stored_at) >= alarms:
                        break
                    await asyncio.sleep(0.05)
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                recorder.close()
    return [stored_at[e.ulid] - e.timestamp_ms / 1000 for e in sent if e.ulid in stored_at]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alarms", type=int, default=6)
    parser.add_argument("--every", type=float, default=1.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with_cams = asyncio.run(run(Path(tmp), args.alarms, args.every, cameras=True))
        without = asyncio.run(run(Path(tmp), args.alarms, args.every, cameras=False))
    clip_after = EvidenceSettings().clip_after_s
    print(json.dumps({
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "alarms": args.alarms,
        "with_cameras_s": {"median": round(statistics.median(with_cams), 3),
                           "max": round(max(with_cams), 3),
                           "clip_after_s": clip_after,
                           "render_and_store_median_s": round(statistics.median(with_cams)
                                                               - clip_after, 3)},
        "without_cameras_ms": {"median": round(statistics.median(without) * 1000, 2),
                               "max": round(max(without) * 1000, 2)},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
