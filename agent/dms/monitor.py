"""The driver-monitoring service: camera frames -> face pipeline -> policy -> events -> outbox.

The I/O shell around the pure :class:`DmsStateMachine` (openpilot's dmonitoringd: receive,
run a step, publish). Per driver-camera frame:

1. the newest frame from :meth:`Camera.frames` (older ones are dropped, never queued);
2. the face pipeline on the monitor's own worker thread (``run_in_executor``), never on the
   loop;
3. ``DmsStateMachine.step(observation, speed)`` with the speed of the current vehicle context;
4. for each event, a task: evidence from the :class:`EvidenceRecorder` (waits for the 5 s after
   the event), then ``Event(VisionDetail, files)`` and ``await sink.put(event, attachments)``.
   The frame loop never waits for evidence or storage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import numpy.typing as npt

from agent.dms.capture import FaceCapture
from agent.dms.observation import FaceObservation
from agent.dms.policy import DmsEvent, DmsMetrics, DmsStateMachine, to_vision_detail
from agent.dms.settings import DmsSettings
from agent.events import Event, VehicleContext
from agent.store.api import EventSink
from agent.ulid import new_ulid
from agent.vision.camera import Camera
from agent.vision.evidence import Evidence, EvidenceRecorder

log = logging.getLogger(__name__)


class FrameProcessor(Protocol):
    """What the monitor needs from the face pipeline (``FacePipeline`` implements it)."""

    def process(self, frame_bgr: npt.NDArray[np.uint8], t: float) -> FaceObservation: ...


class DriverMonitor:
    """Run with ``await monitor.run()`` (cancellable) next to ``camera.run(emit)``."""

    def __init__(self, camera: Camera, processor: FrameProcessor, settings: DmsSettings,
                 sink: EventSink, context: Callable[[], VehicleContext], *,
                 recorder: EvidenceRecorder | None = None, max_fps: float = 0.0,
                 recognition: Callable[[], bool] = lambda: False) -> None:
        self.camera = camera
        self.processor = processor
        self.machine = DmsStateMachine(settings)
        self.capture = FaceCapture()
        self.recognition = recognition  # automaticrecognition on? (read per frame: live)
        self.sink = sink
        self.context = context
        self.recorder = recorder
        self.max_fps = max_fps
        self.latest: DmsMetrics | None = None
        self.events_published = 0
        self.events_failed = 0
        self.processing_errors = 0
        self._times: deque[float] = deque(maxlen=60)
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> DmsSettings:
        return self.machine.settings

    def update_settings(self, settings: DmsSettings) -> None:
        """Swap in a new settings snapshot (a config order); applies from the next frame."""
        self.machine.settings = settings

    @property
    def last_processed(self) -> float | None:
        """Monotonic time the last frame came back from the face pipeline."""
        return self._times[-1] if self._times else None

    @property
    def fps(self) -> float:
        """Frames processed per second over the last (up to) 60 frames."""
        t = self._times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dms")
        min_gap = 1.0 / self.max_fps if self.max_fps > 0 else 0.0
        last_t = -float("inf")
        try:
            async for frame in self.camera.frames():
                if frame.t - last_t < min_gap:
                    continue
                last_t = frame.t
                try:
                    obs = await loop.run_in_executor(pool, self.processor.process, frame.image,
                                                     frame.t)
                except Exception:  # one bad frame must not stop monitoring
                    self.processing_errors += 1
                    if self.processing_errors in (1, 10, 100) or \
                            self.processing_errors % 1000 == 0:
                        log.exception("face pipeline failed (%d so far)",
                                      self.processing_errors)
                    continue
                self._times.append(time.monotonic())
                ctx = self.context()
                step = self.machine.step(obs, float(ctx.speed_kmh))
                self.latest = step.metrics
                captured = self.capture.step(step.metrics, self.recognition())
                for event in (*step.events, *((captured,) if captured else ())):
                    task = asyncio.create_task(self._publish(event, ctx, self.fps))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)
        finally:
            if self._pending:  # let events already decided reach the outbox
                await asyncio.gather(*self._pending, return_exceptions=True)
            await asyncio.to_thread(pool.shutdown, wait=True)

    async def _publish(self, e: DmsEvent, ctx: VehicleContext, fps: float) -> None:
        ulid = new_ulid(int(e.t * 1000))
        try:
            evidence = Evidence((), ())
            if self.recorder is not None:
                box = e.metrics.box if e.metrics.face_found else None
                evidence = await self.recorder.event_evidence(ulid, e.t, box)
                for note in evidence.notes:
                    log.warning("%s evidence: %s", e.event_type.name, note)
            event = Event(timestamp_ms=int(e.t * 1000), context=ctx,
                          detail=to_vision_detail(e, fps), files=evidence.files, ulid=ulid)
            await self.sink.put(event, evidence.attachments)
            self.events_published += 1
            log.info("vision event %s (%d) at %.3f", e.event_type.name, e.event_type, e.t)
        except Exception:
            self.events_failed += 1
            log.exception("vision event %s at %.3f could not be stored", e.event_type.name, e.t)

    def diagnostics(self) -> dict[str, object]:
        m = self.latest
        return {
            "fps": round(self.fps, 1), "eventsPublished": self.events_published,
            "eventsFailed": self.events_failed, "pendingEvidence": len(self._pending),
            "processingErrors": self.processing_errors,
            "faceFound": m.face_found if m else None,
            "perclos": m.perclos if m else None,
            "calibrated": m.neutral.calibrated if m else None,
            "camera": self.camera.diagnostics(),
        }
