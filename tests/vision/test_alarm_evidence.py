"""Telemetry alarms with camera evidence: a harsh braking waits for its clip and reaches the
outbox with both cameras' files; an alarm whose evidence cannot be made, or that is still
waiting when the agent stops, is stored without files: never lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

from agent.events import CameraId, Event, TelemetryDetail, TelemetryEventType, VehicleContext
from agent.runtime.publisher import Publisher
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from agent.ulid import new_ulid
from agent.vision.alarm_evidence import AlarmEvidence
from agent.vision.camera import Camera as Cam
from agent.vision.camera import CameraOptions
from agent.vision.evidence import EvidenceRecorder, EvidenceSettings

from .test_evidence import IDENTITY
from .video_files import write_counting_video, write_face_video

S = EvidenceSettings(clip_before_s=1.0, clip_after_s=1.0, wait_grace_s=1.0)


def alarm(kind: TelemetryEventType, t: float) -> Event:
    ms = int(t * 1000)
    return Event(ms, VehicleContext(speed_kmh=50), TelemetryDetail(kind), ulid=new_ulid(ms))


async def test_alarm_waits_for_its_clip_and_goes_out_with_both_cameras_files(
    tmp_path: Path,
) -> None:
    road = write_counting_video(tmp_path / "road.avi", 40, fps=20.0, size=(320, 240))
    face = write_face_video(tmp_path / "driver.avi")
    rings = {CameraId.ROAD: EvidenceRecorder.make_ring("cam0", S),
             CameraId.DRIVER: EvidenceRecorder.make_ring("cam1", S)}
    cams = [Cam("cam0", str(road), CameraOptions(loop=True)),
            Cam("cam1", str(face), CameraOptions(loop=True))]
    for cam, ring in zip(cams, rings.values(), strict=True):
        cam.add_listener(ring.push)
    tasks = [asyncio.create_task(c.run()) for c in cams]
    recorder = EvidenceRecorder(IDENTITY, rings, S, spool_dir=tmp_path / "spool")
    with Outbox(tmp_path / "outbox", IDENTITY) as outbox:
        async with OutboxWriter(outbox) as writer:
            publisher = Publisher(writer, lambda: None)
            pub_task = asyncio.create_task(publisher.run())
            evidence = AlarmEvidence(recorder, publisher, [TelemetryEventType.HARSH_BRAKING])
            ev_task = asyncio.create_task(evidence.run())
            try:
                await asyncio.sleep(1.6)
                braking = alarm(TelemetryEventType.HARSH_BRAKING, time.time() - 0.3)
                idle = alarm(TelemetryEventType.IDLING, time.time())
                assert evidence.wants(braking) and not evidence.wants(idle)
                evidence.submit(braking)
                for _ in range(100):
                    if evidence.with_files:
                        break
                    await asyncio.sleep(0.1)
                await publisher.flush()
            finally:
                for task in (*tasks, ev_task, pub_task):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                recorder.close()
        rows = {r.ulid: r for r in outbox.claim(100)}
    assert list(rows) == [braking.ulid]
    envelope = json.loads(rows[braking.ulid].envelope)
    assert envelope["telemetryEvent"]["telemetryEventType"] == TelemetryEventType.HARSH_BRAKING
    refs = {f["filename"].rsplit("_", 1)[-1] for f in envelope["files"]}
    assert refs == {"cam0.png", "cam1.png", "cam0.mp4", "cam1.mp4"}
    uploads = {f.key.split(braking.ulid + "_")[-1] for f in rows[braking.ulid].files}
    assert {"cam0.png", "cam0_thumbnail.png", "cam1_thumbnail.png", "cam0.mp4"} <= uploads


async def test_an_alarm_still_waiting_when_the_agent_stops_is_stored_without_files(
    tmp_path: Path,
) -> None:
    rings = {CameraId.DRIVER: EvidenceRecorder.make_ring("cam1", S)}  # a camera with no frames
    recorder = EvidenceRecorder(IDENTITY, rings, S, spool_dir=tmp_path / "spool")
    with Outbox(tmp_path / "outbox", IDENTITY) as outbox:
        async with OutboxWriter(outbox) as writer:
            publisher = Publisher(writer, lambda: None)
            pub_task = asyncio.create_task(publisher.run())
            evidence = AlarmEvidence(recorder, publisher, [TelemetryEventType.SOS])
            ev_task = asyncio.create_task(evidence.run())
            await asyncio.sleep(0.05)
            sos = alarm(TelemetryEventType.SOS, time.time())
            evidence.submit(sos)
            await asyncio.sleep(0.2)
            ev_task.cancel()  # the agent stops while the evidence waits for frames
            with contextlib.suppress(asyncio.CancelledError):
                await ev_task
            late = alarm(TelemetryEventType.SOS, time.time())
            evidence.submit(late)  # after the stop: straight out
            await publisher.flush()
            pub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pub_task
            recorder.close()
        rows = {r.ulid: r for r in outbox.claim(100)}
    assert set(rows) == {sos.ulid, late.ulid}
    assert all(not r.files and not json.loads(r.envelope)["files"] for r in rows.values())
    assert evidence.without_files == 2
