"""Evidence: PNGs, thumbnails, face crops and mp4 clips cut from real cameras' rings."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.events import (
    Bucket,
    CameraId,
    DeviceIdentity,
    FileFeature,
    FileKind,
    FileRef,
    derived_key,
    file_key,
)
from agent.ulid import new_ulid
from agent.vision.camera import Camera as Cam
from agent.vision.camera import CameraOptions
from agent.vision.evidence import EvidenceError, EvidenceRecorder, EvidenceSettings
from agent.vision.pipeline import FacePipeline
from agent.vision.ring import FrameRing, RingFrame
from agent.vision.settings import VisionSettings

from .video_files import counting_frame, frame_number, write_counting_video, write_face_video

REPO = Path(__file__).resolve().parents[2]
IDENTITY = DeviceIdentity(device_source="862798050833538",
                          account_ulid="01GXRRKM43W02X5JZDSMZHAJJY")
# The astronaut's face in a 640x480 frame built like the bench video (scale 1.5).
FACE_BOX = (0.37, 0.28, 0.30, 0.40)


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


def png(data: bytes | Path) -> np.ndarray:
    assert isinstance(data, bytes)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def settings(**kw: float) -> EvidenceSettings:
    return EvidenceSettings(**{"clip_before_s": 1.0, "clip_after_s": 1.0, "wait_grace_s": 1.0,
                               **kw})


async def test_vision_event_evidence_from_two_live_cameras(tmp_path: Path) -> None:
    road = write_counting_video(tmp_path / "road.avi", 40, fps=20.0, size=(320, 240))
    face = write_face_video(tmp_path / "driver.avi")
    s = settings()
    rings = {CameraId.ROAD: EvidenceRecorder.make_ring("cam0", s),
             CameraId.DRIVER: EvidenceRecorder.make_ring("cam1", s)}
    cams = [Cam("cam0", str(road), CameraOptions(loop=True)),
            Cam("cam1", str(face), CameraOptions(loop=True))]
    for cam, ring in zip(cams, rings.values(), strict=True):
        cam.add_listener(ring.push)
    tasks = [asyncio.create_task(c.run()) for c in cams]
    recorder = EvidenceRecorder(IDENTITY, rings, s, spool_dir=tmp_path / "spool")
    try:
        await asyncio.sleep(1.6)
        t_event = time.time() - 0.3
        ulid = new_ulid(int(t_event * 1000))
        started = time.monotonic()
        ev = await recorder.event_evidence(ulid, t_event, FACE_BOX)
        waited = time.monotonic() - started
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        recorder.close()
    assert 0.5 < waited < 4.0  # it waited for the second after the event (+ rendering)
    assert ev.notes == ()
    k0, k1 = (file_key(IDENTITY, ulid, c, "png") for c in (CameraId.ROAD, CameraId.DRIVER))
    v0, v1 = (file_key(IDENTITY, ulid, c, "mp4") for c in (CameraId.ROAD, CameraId.DRIVER))
    assert k1 == f"01GXRRKM43W02X5JZDSMZHAJJY/862798050833538/{ulid}_cam1.png"
    assert ev.files == (
        FileRef(k0, Bucket.IMAGES, FileKind.IMAGE, FileFeature.EVENT),
        FileRef(k1, Bucket.FACES, FileKind.IMAGE, FileFeature.FACE),
        FileRef(v0, Bucket.VIDEOS, FileKind.VIDEO, FileFeature.EVENT),
        FileRef(v1, Bucket.VIDEOS, FileKind.VIDEO, FileFeature.FACE),
    )
    by_key = {a.ref.filename: a for a in ev.attachments}
    assert set(by_key) == {k0, k1, v0, v1, derived_key(k0, "thumbnail"),
                           derived_key(k1, "thumbnail"), derived_key(k1, "filecrop")}
    assert by_key[derived_key(k1, "filecrop")].ref.bucket == Bucket.FACES
    assert by_key[derived_key(k1, "thumbnail")].ref.bucket == Bucket.FACES
    assert by_key[derived_key(k0, "thumbnail")].ref.bucket == Bucket.IMAGES
    assert {a.content_type for a in ev.attachments} == {"image/png", "video/mp4"}

    driver = png(by_key[k1].data)
    assert driver.shape == (480, 640, 3)
    assert png(by_key[derived_key(k1, "thumbnail")].data).shape == (240, 320, 3)
    assert png(by_key[k0].data).shape == (240, 320, 3)
    assert png(by_key[derived_key(k0, "thumbnail")].data).shape == (240, 320, 3)  # not enlarged
    crop = png(by_key[derived_key(k1, "filecrop")].data)
    assert crop.shape[:2] == (round(480 * 0.40 * 1.5), round(640 * 0.30 * 1.5))
    # The crop really holds the driver's face: the ONNX detector finds exactly one in it.
    pipeline = FacePipeline.from_settings(VisionSettings(), models_dir=REPO / "models")
    faces = pipeline.analyse_image(crop)
    assert len(faces) == 1 and faces[0].observation.face_score > 0.9

    for key, size in ((v0, (240, 320)), (v1, (480, 640))):
        clip = by_key[key].data
        assert isinstance(clip, Path) and clip.parent == tmp_path / "spool"
        frames = read_video(clip)
        assert len(frames) == pytest.approx(21, abs=2)  # 2 s at the ring's 10 fps
        assert frames[0].shape[:2] == size
    # Road clip in time order: the 20 fps file, kept at 10 fps, advances 2 frames per slot.
    road_clip = by_key[v0].data
    assert isinstance(road_clip, Path)
    numbers = [frame_number(f, 40) for f in read_video(road_clip)]
    steps = [(b - a) % 40 for a, b in itertools.pairwise(numbers)]
    assert all(st in (1, 2, 3) for st in steps), steps  # forward, never back or stuck
    assert steps.count(2) >= 0.7 * len(steps), steps  # mostly every other source frame


def filled_ring(seconds: float = 20.0, gap: tuple[float, float] | None = None) -> FrameRing:
    """10 fps, 160x120, frame i shows i % 48; no frames inside ``gap``."""
    ring = FrameRing("cam1", fps=10.0)
    jpegs = [cv2.imencode(".jpg", counting_frame(i))[1].tobytes() for i in range(48)]
    for i in range(round(seconds * 10)):
        if gap and gap[0] <= i / 10 < gap[1]:
            continue
        ring.add(RingFrame(1000.0 + i / 10, jpegs[i % 48], 160, 120))
    return ring


async def test_demand_image_at_a_past_timestamp(tmp_path: Path) -> None:
    ring = filled_ring()
    rec = EvidenceRecorder(IDENTITY, {CameraId.DRIVER: ring}, spool_dir=tmp_path,
                           clock=lambda: 1030.0)
    ev = await rec.demand_image("01HQ0000000000000000000000", CameraId.DRIVER, 1000.0 + 1.52)
    assert [f.filename.rsplit("/", 1)[1] for f in ev.files] == ["01HQ0000000000000000000000_cam1.png"]
    assert len(ev.attachments) == 2  # image + thumbnail (no face box given: no crop)
    assert frame_number(png(ev.attachments[0].data), 48) == 15  # the frame at +1.5 s
    with pytest.raises(EvidenceError, match="no frame near"):
        await rec.demand_image("01HQ0000000000000000000000", CameraId.DRIVER, 900.0)
    with pytest.raises(EvidenceError, match="not configured"):
        await rec.demand_image("01HQ0000000000000000000000", CameraId.ROAD, 1001.0)
    rec.close()


async def test_demand_video_keeps_real_time_across_a_gap_and_the_loop_stays_free(
        tmp_path: Path) -> None:
    ring = filled_ring(seconds=20.0, gap=(3.0, 5.0))
    rec = EvidenceRecorder(IDENTITY, {CameraId.DRIVER: ring}, spool_dir=tmp_path,
                           clock=lambda: 1030.0)
    with pytest.raises(EvidenceError, match="at most 180 s"):
        await rec.demand_video("01HQ0000000000000000000001", CameraId.DRIVER, 1000.0, 1181.0)
    with pytest.raises(EvidenceError, match="end after"):
        await rec.demand_video("01HQ0000000000000000000001", CameraId.DRIVER, 1005.0, 1005.0)

    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    ev = await rec.demand_video("01HQ0000000000000000000001", CameraId.DRIVER, 1000.0, 1010.0)
    tick.cancel()
    rec.close()
    assert max(gaps) < 0.1  # encoding ran on the recorder's thread, not on the loop
    (ref,) = ev.files
    assert ref == FileRef(file_key(IDENTITY, "01HQ0000000000000000000001", CameraId.DRIVER, "mp4"),
                          Bucket.VIDEOS, FileKind.VIDEO, FileFeature.FACE)
    (att,) = ev.attachments
    assert isinstance(att.data, Path)
    numbers = [frame_number(f, 48) for f in read_video(att.data)]
    assert len(numbers) == 101  # 10 s at 10 fps, both ends included
    assert numbers[:30] == list(range(30))
    assert numbers[30:50] == [29] * 20  # the 2 s gap holds the last frame: real time kept
    assert numbers[50:] == [i % 48 for i in range(50, 101)]


async def test_event_evidence_without_frames_says_why(tmp_path: Path) -> None:
    clock = [2000.0]
    rec = EvidenceRecorder(IDENTITY, {CameraId.ROAD: FrameRing("cam0")},
                           settings(wait_grace_s=0.0), spool_dir=tmp_path, clock=lambda: clock[0])
    clock[0] = 2010.0  # long past the event: nothing to wait for
    ev = await rec.event_evidence("01HQ0000000000000000000002", 2001.0)
    rec.close()
    assert ev.files == () and ev.attachments == ()
    assert ev.notes and "cam0: no frame" in ev.notes[0]
