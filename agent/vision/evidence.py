"""Evidence for vision events and on-demand orders, cut from the cameras' frame rings.

For each DMS event (:meth:`EvidenceRecorder.event_evidence`), after waiting until
``clip_after_s`` of footage exists:

* ``{ulid}_cam0.png`` (road, feature ``event``) and ``{ulid}_cam1.png`` (driver, feature
  ``face``): the frame nearest the event, in bucket ``v3-device-images``, each with a
  ``_thumbnail.png`` (longest side <= 320 px) beside it in the same bucket;
* ``{ulid}_cam1_filecrop.png``: the driver's face cropped from the cam1 image, in bucket
  ``v3-device-faces`` (CONTRACT §2: face images and crops);
* ``{ulid}_cam{N}.mp4``: ``clip_before_s`` + ``clip_after_s`` of each camera, bucket
  ``v3-device-videos``, type ``video``.

``demand_image`` (order ``demand.image``) and ``demand_video`` (``demand.video``, <= 180 s)
serve one camera at a given time / range. Keys come from :func:`agent.events.file_key` and
:func:`agent.events.derived_key`. The main files are returned as ``FileRef``s for
``Event.files``; every file (main and derived) as an ``Attachment`` for ``EventSink.put``.
PNG/MP4 encoding runs on the recorder's own worker thread, never on the event loop. Clips are
written as MPEG-4 Part 2 (``mp4v``): the H.264 (``avc1``) encoder is not available in
opencv-python-headless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.errors import AgentError
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
from agent.store.api import Attachment
from agent.vision.arrays import Image
from agent.vision.ring import FrameRing, RingFrame
from agent.vision.settings import EvidenceSettings

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x, y, w, h normalised 0..1

FEATURE = {CameraId.ROAD: FileFeature.EVENT, CameraId.DRIVER: FileFeature.FACE}
# CONTRACT.md §2: event images (road, feature "event") and their thumbnails in
# v3-device-images; face images (driver, feature "face"), their thumbnails and the face crops
# in v3-device-faces. (The seed's VisionEvent example shows both in v3-device-images, its Files
# API example the other way round; the contract decides.)
IMAGE_BUCKET = {CameraId.ROAD: Bucket.IMAGES, CameraId.DRIVER: Bucket.FACES}


class EvidenceError(AgentError):
    """The footage asked for is not (or no longer) in the ring buffer, or the ask is invalid."""


@dataclass(frozen=True, slots=True)
class Evidence:
    files: tuple[FileRef, ...]  # for Event.files (main images and clips)
    attachments: tuple[Attachment, ...]  # every file to upload before the event
    notes: tuple[str, ...] = ()  # what could not be produced (camera without frames, ...)


@dataclass(frozen=True, slots=True)
class _ImageJob:
    camera: CameraId
    frame: RingFrame
    face_box: Box | None


@dataclass(frozen=True, slots=True)
class _ClipJob:
    camera: CameraId
    frames: tuple[RingFrame, ...]
    t0: float
    t1: float


class EvidenceRecorder:
    """Cuts evidence out of the rings. Build once; ``close()`` (or ``async with``) at the end."""

    def __init__(self, identity: DeviceIdentity, rings: Mapping[CameraId, FrameRing],
                 settings: EvidenceSettings | None = None, *, spool_dir: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.identity = identity
        self.rings = dict(rings)
        self.settings = settings or EvidenceSettings()
        self.spool_dir = spool_dir or Path(tempfile.gettempdir()) / "edge-agent-evidence"
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")

    @staticmethod
    def make_ring(camera: str, settings: EvidenceSettings) -> FrameRing:
        return FrameRing(camera, seconds=settings.ring_seconds, fps=settings.ring_fps,
                         max_bytes=settings.ring_max_bytes, jpeg_quality=settings.jpeg_quality)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    async def __aenter__(self) -> EvidenceRecorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    # --- public ---------------------------------------------------------------------------------
    async def event_evidence(self, event_ulid: str, t: float, face_box: Box | None = None,
                             *, clip: bool = True) -> Evidence:
        """Images of both cameras at ``t`` and (``clip``) a clip around it, once available."""
        s = self.settings
        t1 = t + (s.clip_after_s if clip else 0.0)
        await self._wait_for(t1, list(self.rings))
        images: list[_ImageJob] = []
        clips: list[_ClipJob] = []
        notes: list[str] = []
        for camera in sorted(self.rings):
            ring = self.rings[camera]
            frame = ring.nearest(t, s.snapshot_max_distance_s)
            if frame is None:
                notes.append(f"cam{int(camera)}: no frame within "
                             f"{s.snapshot_max_distance_s:g} s of the event")
                continue
            images.append(_ImageJob(camera, frame,
                                    face_box if camera == CameraId.DRIVER else None))
            if clip:
                frames = tuple(ring.between(t - s.clip_before_s, t1))
                if len(frames) >= 2:
                    clips.append(_ClipJob(camera, frames, t - s.clip_before_s, t1))
                else:
                    notes.append(f"cam{int(camera)}: no footage for a clip")
        return await self._render(event_ulid, images, clips, notes)

    async def demand_image(self, event_ulid: str, camera: CameraId, t: float,
                           face_box: Box | None = None) -> Evidence:
        """The frame of ``camera`` nearest ``t`` (order ``demand.image``)."""
        ring = self._ring(camera)
        await self._wait_for(t, [camera])
        frame = ring.nearest(t, self.settings.snapshot_max_distance_s)
        if frame is None:
            raise EvidenceError(f"cam{int(camera)}: no frame near {t:.3f} "
                                f"(buffer holds {_span(ring)})")
        return await self._render(event_ulid, [_ImageJob(camera, frame, face_box)], [], [])

    async def demand_video(self, event_ulid: str, camera: CameraId, t0: float,
                           t1: float) -> Evidence:
        """``camera`` from ``t0`` to ``t1`` as one mp4 (order ``demand.video``, <= 180 s)."""
        if t1 <= t0:
            raise EvidenceError("the video must end after it starts")
        if t1 - t0 > self.settings.max_video_s:
            raise EvidenceError(f"{t1 - t0:.0f} s asked, at most "
                                f"{self.settings.max_video_s:.0f} s per video")
        ring = self._ring(camera)
        await self._wait_for(t1, [camera])
        frames = tuple(ring.between(t0, t1))
        if len(frames) < 2:
            raise EvidenceError(f"cam{int(camera)}: no footage between {t0:.3f} and {t1:.3f} "
                                f"(buffer holds {_span(ring)})")
        notes = []
        if frames[0].t - t0 > 1.0:
            notes.append(f"footage starts {frames[0].t - t0:.1f} s late (buffer limit)")
        return await self._render(event_ulid, [], [_ClipJob(camera, frames, t0, t1)], notes)

    # --- internals ------------------------------------------------------------------------------
    def _ring(self, camera: CameraId) -> FrameRing:
        ring = self.rings.get(camera)
        if ring is None:
            raise EvidenceError(f"cam{int(camera)} is not configured")
        return ring

    async def _wait_for(self, t: float, cameras: Sequence[CameraId]) -> None:
        """Until every ring holds a frame at/after ``t``, or the clock is past it + grace."""
        ahead = t - self._clock()
        if ahead > self.settings.max_video_s + self.settings.wait_grace_s:
            raise EvidenceError(f"{ahead:.0f} s in the future: too far ahead to wait for")
        deadline = t + self.settings.wait_grace_s
        while True:
            newest = [self.rings[c].newest_t for c in cameras]
            if all(n is not None and n >= t for n in newest):
                return
            now = self._clock()
            if now >= deadline:
                return
            await asyncio.sleep(min(0.1, max(0.01, deadline - now)))

    async def _render(self, ulid: str, images: Sequence[_ImageJob], clips: Sequence[_ClipJob],
                      notes: Sequence[str]) -> Evidence:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._render_sync, ulid, images, clips,
                                          notes)

    def _render_sync(self, ulid: str, images: Sequence[_ImageJob], clips: Sequence[_ClipJob],
                     notes: Sequence[str]) -> Evidence:
        s = self.settings
        files: list[FileRef] = []
        attachments: list[Attachment] = []
        out_notes = list(notes)
        for job in images:
            image = _decode(job.frame)
            key = file_key(self.identity, ulid, job.camera, "png")
            bucket = IMAGE_BUCKET[job.camera]
            ref = FileRef(key, bucket, FileKind.IMAGE, FEATURE[job.camera])
            files.append(ref)
            attachments.append(Attachment(ref, _png(image)))
            thumb = FileRef(derived_key(key, "thumbnail"), bucket, FileKind.IMAGE,
                            FEATURE[job.camera])
            attachments.append(Attachment(thumb, _png(thumbnail(image, s.thumbnail_max_px))))
            if job.face_box is not None:
                crop = face_crop(image, job.face_box, s.face_crop_margin)
                if crop is None:
                    out_notes.append(f"cam{int(job.camera)}: face box outside the image")
                else:
                    ref_crop = FileRef(derived_key(key, "filecrop"), Bucket.FACES,
                                       FileKind.IMAGE, FileFeature.FACE)
                    attachments.append(Attachment(ref_crop, _png(crop)))
        for clip in clips:
            key = file_key(self.identity, ulid, clip.camera, "mp4")
            path = self._write_clip(key, clip)
            ref = FileRef(key, Bucket.VIDEOS, FileKind.VIDEO, FEATURE[clip.camera])
            files.append(ref)
            attachments.append(Attachment(ref, path, content_type="video/mp4"))
        return Evidence(tuple(files), tuple(attachments), tuple(out_notes))

    def _write_clip(self, key: str, clip: _ClipJob) -> Path:
        """Frames resampled on a regular grid at the ring's rate (gaps repeat the last frame,
        so the clip lasts as long as the time it covers)."""
        fps = self.settings.ring_fps
        self.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix=key.rsplit("/", 1)[-1] + ".", suffix=".mp4",
                                    dir=self.spool_dir)
        os.close(fd)
        path = Path(name)
        first = clip.frames[0]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps,
                                 (first.width, first.height))
        if not writer.isOpened():
            path.unlink(missing_ok=True)
            raise EvidenceError(f"cannot open an mp4v writer in {self.spool_dir}")
        try:
            start = max(clip.t0, first.t)
            end = min(clip.t1, clip.frames[-1].t)
            slots = max(1, round((end - start) * fps) + 1)
            i = 0
            cached: tuple[int, Image] | None = None
            for k in range(slots):
                slot_t = start + k / fps
                while i + 1 < len(clip.frames) and clip.frames[i + 1].t <= slot_t + 0.5 / fps:
                    i += 1
                if cached is None or cached[0] != i:
                    cached = (i, _decode(clip.frames[i], (first.width, first.height)))
                writer.write(cached[1])
        except BaseException:
            writer.release()
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        writer.release()
        return path


def _span(ring: FrameRing) -> str:
    lo, hi = ring.oldest_t, ring.newest_t
    return "nothing" if lo is None or hi is None else f"{lo:.3f}..{hi:.3f}"


def _decode(frame: RingFrame, size: tuple[int, int] | None = None) -> Image:
    image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise EvidenceError("a ring frame could not be decoded")
    if size is not None and (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # camera changed mode
    return np.asarray(image, np.uint8)


def _png(image: Image) -> bytes:
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise EvidenceError("PNG encoding failed")
    return bytes(buf.tobytes())


def thumbnail(image: Image, max_px: int) -> Image:
    """Scaled so the longest side is at most ``max_px`` (never enlarged)."""
    h, w = image.shape[:2]
    scale = max_px / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def face_crop(image: Image, box: Box, margin: float) -> Image | None:
    """The normalised ``box`` grown by ``margin`` per side, clipped to the image."""
    h, w = image.shape[:2]
    x, y, bw, bh = box
    if bw <= 0 or bh <= 0:
        return None
    x0 = int(max(0.0, (x - margin * bw) * w))
    y0 = int(max(0.0, (y - margin * bh) * h))
    x1 = int(min(float(w), (x + bw + margin * bw) * w))
    y1 = int(min(float(h), (y + bh + margin * bh) * h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return np.ascontiguousarray(image[y0:y1, x0:x1])
