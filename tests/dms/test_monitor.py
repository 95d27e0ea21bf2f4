"""DriverMonitor end to end: a real camera (video file), the ONNX face pipeline, the policy,
evidence from the frame ring and the real SQLite outbox."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import cv2
import numpy as np

from agent.dms.monitor import DriverMonitor
from agent.dms.observation import FaceObservation
from agent.dms.settings import DmsSettings
from agent.events import CameraId, DeviceIdentity, VehicleContext, file_key
from agent.store.outbox import Outbox
from agent.store.writer import OutboxWriter
from agent.vision.camera import Camera as Cam
from agent.vision.evidence import EvidenceRecorder, EvidenceSettings
from agent.vision.pipeline import FacePipeline
from agent.vision.settings import VisionSettings

from ..vision.video_files import write_face_video

REPO = Path(__file__).resolve().parents[2]
IDENTITY = DeviceIdentity(device_source="862798050833538",
                          account_ulid="01GXRRKM43W02X5JZDSMZHAJJY")


class CountingPipeline:
    """The real pipeline, recording which thread ran it."""

    def __init__(self) -> None:
        self.inner = FacePipeline.from_settings(VisionSettings(), models_dir=REPO / "models")
        self.threads: set[int] = set()
        self.faces = 0

    def process(self, frame_bgr: np.ndarray, t: float) -> FaceObservation:
        self.threads.add(threading.get_ident())
        obs = self.inner.process(frame_bgr, t)
        self.faces += obs.face_found
        return obs


async def test_driver_leaving_the_seat_ends_up_in_the_outbox_with_evidence(
        tmp_path: Path) -> None:
    # 1.5 s of a driver, then 2.5 s of an empty seat, at 20 fps, paced like a camera.
    video = write_face_video(tmp_path / "cabin.avi", n=80, fps=20.0, no_face=50)
    camera = Cam("cam1", str(video))
    ev_settings = EvidenceSettings(clip_before_s=1.0, clip_after_s=1.0, wait_grace_s=1.0)
    ring = EvidenceRecorder.make_ring("cam1", ev_settings)
    camera.add_listener(ring.push)
    recorder = EvidenceRecorder(IDENTITY, {CameraId.DRIVER: ring}, ev_settings,
                                spool_dir=tmp_path / "spool")
    pipeline = CountingPipeline()
    outbox = Outbox(tmp_path / "data", IDENTITY)
    writer = OutboxWriter(outbox)
    monitor = DriverMonitor(camera, pipeline, DmsSettings(no_driver_s=0.5), writer,
                            lambda: VehicleContext(speed_kmh=50, ignition_on=True),
                            recorder=recorder)
    cam_task = asyncio.create_task(camera.run())
    await asyncio.wait_for(monitor.run(), 15.0)  # ends when the file ends
    await cam_task
    await writer.close()
    recorder.close()

    assert threading.get_ident() not in pipeline.threads and len(pipeline.threads) == 1
    assert 10 <= pipeline.faces <= 32  # the driver was seen (newest frames only), then not
    assert monitor.events_published == 1 and monitor.events_failed == 0
    (stored,) = outbox.claim(10)
    env = json.loads(stored.envelope)
    assert env["eventType"] == 2 and env["speed"] == 50
    vision = env["visionEvent"]
    assert vision["VisionEventType"] == 7  # no driver while moving
    assert vision["Fps"] > 0
    assert vision["BoundingBox"]["IsDriver"] is False
    keys = [f["filename"] for f in env["files"]]
    ulid = env["ulid"]
    assert keys == [file_key(IDENTITY, ulid, CameraId.DRIVER, "png"),
                    file_key(IDENTITY, ulid, CameraId.DRIVER, "mp4")]
    assert [f["bucket"] for f in env["files"]] == ["v3-device-faces", "v3-device-videos"]
    # Stored beside the event: image, its thumbnail (no face: no crop) and the clip.
    by_key = {f.key: f for f in stored.files}
    assert set(by_key) == {keys[0], keys[0].replace(".png", "_thumbnail.png"), keys[1]}
    clip = cv2.VideoCapture(str(by_key[keys[1]].path))
    assert clip.isOpened() and int(clip.get(cv2.CAP_PROP_FRAME_COUNT)) >= 15
    clip.release()
    image = cv2.imread(str(by_key[keys[0]].path))
    assert image is not None and image.shape == (480, 640, 3)
    outbox.close()


class FlakyPipeline(CountingPipeline):
    """The real pipeline, failing on every third frame (as a corrupt frame might)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def process(self, frame_bgr: np.ndarray, t: float) -> FaceObservation:
        self.calls += 1
        if self.calls % 3 == 0:
            raise ValueError("bad frame")
        return super().process(frame_bgr, t)


async def test_a_failing_frame_does_not_stop_monitoring(tmp_path: Path) -> None:
    video = write_face_video(tmp_path / "cabin.avi", n=30, fps=30.0)
    camera = Cam("cam1", str(video))
    outbox = Outbox(tmp_path / "data", IDENTITY)
    writer = OutboxWriter(outbox)
    pipeline = FlakyPipeline()
    monitor = DriverMonitor(camera, pipeline, DmsSettings(), writer,
                            lambda: VehicleContext(speed_kmh=50))
    cam_task = asyncio.create_task(camera.run())
    await asyncio.wait_for(monitor.run(), 10.0)
    await cam_task
    await writer.close()
    outbox.close()
    assert monitor.processing_errors == pipeline.calls // 3 >= 3
    assert pipeline.faces == pipeline.calls - monitor.processing_errors  # the rest went on
    assert monitor.latest is not None and monitor.latest.face_found
    assert monitor.diagnostics()["processingErrors"] == monitor.processing_errors
