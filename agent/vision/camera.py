"""Cameras: OpenCV capture from a V4L2 device, an RTSP/HTTP stream or a video file.

``cam0`` is the road camera and ``cam1`` the driver camera (CONTRACT §2). Capture runs in its
own thread (never on the event loop). Each frame is stamped with the host clock when it was
read and is handed to

* listeners, called in the capture thread (the evidence ring buffer encodes there), and
* one async consumer (:meth:`Camera.frames`), which always gets the newest frame; frames it
  had no time to take are counted as consumer drops, never queued.

A device that cannot be opened, stops delivering (read error, end of a live stream) or
stalls (no frame for ``stall_timeout_s``) is reported as ``SourceHealth(source=<camera id>,
ok=False)`` once, then reopened with capped exponential backoff; ``ok=True`` follows when
frames flow again. Video files are paced at their own frame rate and can loop (the demo's
simulated driver camera); a file that ends without ``loop`` finishes the camera cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import cv2

from agent.health import BeatingEvent
from agent.sources.readings import Emit, Reading, Source, SourceHealth
from agent.vision.arrays import Image

log = logging.getLogger(__name__)

Listener = Callable[["Frame"], None]

ROAD = "cam0"
DRIVER = "cam1"


@dataclass(frozen=True, slots=True)
class Frame:
    camera: str  # "cam0" road, "cam1" driver
    index: int  # per-camera sequence number, from 0, across reconnects
    t: float  # host wall clock when the frame was read, epoch seconds
    image: Image  # BGR, height x width x 3


class SourceKind(StrEnum):
    DEVICE = "device"  # V4L2 index or /dev/video*
    STREAM = "stream"  # rtsp://, http(s)://
    FILE = "file"  # a video file, paced at its own fps


def source_kind(source: str) -> SourceKind:
    if source.isdigit() or source.startswith("/dev/"):
        return SourceKind.DEVICE
    if source.split("://", 1)[0].lower() in {"rtsp", "rtsps", "http", "https", "udp", "tcp"}:
        return SourceKind.STREAM
    return SourceKind.FILE


@dataclass(frozen=True, slots=True)
class CameraOptions:
    loop: bool = False  # files: start again at the end (demo driver camera)
    width: int = 0  # devices: requested size, 0 = driver default
    height: int = 0
    fps: float = 0.0  # devices: requested rate; files: override the file's own fps
    stall_timeout_s: float = 3.0  # no frame for this long = stalled
    open_timeout_s: float = 5.0  # streams: connect timeout
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0


@dataclass(frozen=True, slots=True)
class CameraStats:
    connected: bool
    frames: int
    fps: float  # measured over the last ~2 s
    dropped_capture: int  # gaps in the camera's frame timing (frames it never delivered)
    dropped_consumer: int  # frames overwritten before the async consumer took them
    stalls: int
    reconnects: int  # successful reopen after a fault
    open_failures: int
    last_frame_t: float | None
    finished: bool  # a non-looping file reached its end


class Camera(Source):
    """One camera; ``await run(emit)`` captures until cancelled (or a file ends)."""

    name = "camera"  # replaced by the camera id (cam0, cam1) per instance

    def __init__(self, camera: str, source: str, options: CameraOptions | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.camera = camera
        self.name = camera
        self.source = source
        self.kind = source_kind(source)
        self.options = options or CameraOptions()
        self._clock = clock
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stop = BeatingEvent(self.heartbeat)  # the capture loop's liveness
        self._reopen = threading.Event()
        self._latest: Frame | None = None
        self._taken = -1
        self._consumers = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()  # binds to the running loop on first use (3.10+)
        self._emit: Emit | None = None
        self._healthy: bool | None = None
        self._health_lock = threading.Lock()
        self._index = 0
        self._stall_flag = False
        self._rate: list[float] = []
        self._frames = self._dropped_capture = self._dropped_consumer = 0
        self._stalls = self._reconnects = self._open_failures = 0
        self._last_frame_t: float | None = None
        self._last_frame_mono = time.monotonic()
        self._connected = False
        self._finished = threading.Event()

    # --- public surface ------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """``listener(frame)`` runs in the capture thread for every frame: keep it short."""
        self._listeners.append(listener)

    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest

    def stats(self) -> CameraStats:
        with self._lock:
            rate = self._rate
            fps = (len(rate) - 1) / (rate[-1] - rate[0]) if len(rate) > 1 and \
                rate[-1] > rate[0] else 0.0
            return CameraStats(
                connected=self._connected, frames=self._frames, fps=fps,
                dropped_capture=self._dropped_capture, dropped_consumer=self._dropped_consumer,
                stalls=self._stalls, reconnects=self._reconnects,
                open_failures=self._open_failures, last_frame_t=self._last_frame_t,
                finished=self._finished.is_set(),
            )

    def last_activity(self) -> float | None:
        return self._last_frame_t

    def diagnostics(self) -> dict[str, object]:
        st = self.stats()
        return {"camera": self.camera, "source": self._safe_source(), "kind": str(self.kind),
                **{k: getattr(st, k) for k in CameraStats.__slots__}}

    async def run(self, emit: Emit | None = None) -> None:
        """Capture in a thread until cancelled; health changes go to ``emit`` on this loop."""
        self._loop = asyncio.get_running_loop()
        self._emit = emit
        self._stop.clear()
        thread = threading.Thread(target=self._capture_thread, name=f"camera-{self.camera}",
                                  daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                await asyncio.sleep(min(0.25, self.options.stall_timeout_s / 4))
                self._watchdog()
        finally:
            self._stop.set()
            await asyncio.to_thread(thread.join)

    async def frames(self) -> AsyncIterator[Frame]:
        """The newest frame each time one arrives; ends when a non-looping file ends."""
        wake = self._wake
        self._consumers += 1
        try:
            while True:
                with self._lock:
                    frame = self._latest
                    fresh = frame is not None and frame.index > self._taken
                    if fresh:
                        assert frame is not None
                        self._taken = frame.index
                if fresh:
                    assert frame is not None
                    yield frame
                    continue
                if self._finished.is_set():
                    return
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=0.5)
        finally:
            self._consumers -= 1

    # --- capture thread --------------------------------------------------------------------
    def _capture_thread(self) -> None:
        backoff = self.options.backoff_initial_s
        ever_opened = False
        while not self._stop.is_set():
            cap = self._open()
            if cap is None:
                self._open_failures += 1
                self._set_health(False, f"{self.camera}: cannot open {self._safe_source()}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.options.backoff_max_s)
                continue
            if ever_opened:
                self._reconnects += 1
            ever_opened = True
            backoff = self.options.backoff_initial_s
            try:
                reason = self._read_frames(cap)
            finally:
                cap.release()
                with self._lock:
                    self._connected = False
            if reason == "eof":
                self._finished.set()
                self._wake_consumer()
                return
            if reason == "stop":
                return
            self._set_health(False, f"{self.camera}: {reason}")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.options.backoff_max_s)

    def _open(self) -> Any:
        opts = self.options
        if self.kind == SourceKind.FILE and not os.path.isfile(self.source):
            return None
        if self.kind == SourceKind.DEVICE:
            dev: int | str = int(self.source) if self.source.isdigit() else self.source
            cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
            if cap.isOpened():
                if opts.width and opts.height:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, opts.width)
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, opts.height)
                if opts.fps:
                    cap.set(cv2.CAP_PROP_FPS, opts.fps)
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a stale queue
        elif self.kind == SourceKind.STREAM:
            ms = int(opts.open_timeout_s * 1000)
            # Twice the stall time: the watchdog names a stall before the read gives up.
            read_ms = int(2 * opts.stall_timeout_s * 1000)
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_ms])
        else:
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _read_frames(self, cap: Any) -> str:
        """Reads until stop / failure; returns why it stopped: stop, eof or a fault text."""
        fps = self.options.fps if self.options.fps > 0 else float(cap.get(cv2.CAP_PROP_FPS))
        if not (math.isfinite(fps) and 0 < fps <= 240):
            fps = 30.0
        period = 1.0 / fps
        paced = self.kind == SourceKind.FILE
        start = time.monotonic()
        n = 0
        prev_t: float | None = None
        first = True
        while not self._stop.is_set():
            if self._reopen.is_set():
                self._reopen.clear()
                return f"stalled: no frame for {self.options.stall_timeout_s:g} s"
            ok, image = cap.read()
            if not ok or image is None:
                if paced and self.options.loop and n > 0:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, image = cap.read()
                if not ok or image is None:
                    if paced:
                        return "eof"
                    return "read failed (device lost or stream ended)"
            if paced:  # deliver at the file's own rate
                delay = start + n * period - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return "stop"
            n += 1
            t = self._clock()
            if first:
                first = False
                with self._lock:
                    self._connected = True
                self._set_health(True, f"{self.camera}: capturing {self._safe_source()}")
            if prev_t is not None and t - prev_t > 1.8 * period:
                with self._lock:
                    self._dropped_capture += round((t - prev_t) / period) - 1
            prev_t = t
            self._deliver(Frame(self.camera, self._index, t, image))
            self._index += 1
        return "stop"

    def _deliver(self, frame: Frame) -> None:
        with self._lock:
            if self._consumers and self._latest is not None and \
                    self._latest.index > self._taken:
                self._dropped_consumer += 1
            self._latest = frame
            self._frames += 1
            self._last_frame_t = frame.t
            self._last_frame_mono = time.monotonic()
            self._rate.append(self._last_frame_mono)
            if len(self._rate) > 2 and self._rate[-1] - self._rate[0] > 2.0:
                del self._rate[0]
        for listener in self._listeners:
            try:
                listener(frame)
            except Exception:
                log.exception("%s: frame listener failed", self.camera)
        self._wake_consumer()

    def _wake_consumer(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(self._wake.set)

    # --- health ----------------------------------------------------------------------------
    def _watchdog(self) -> None:
        """On the loop: a connected camera with no frame for stall_timeout_s is stalled."""
        with self._lock:
            connected = self._connected
            quiet = time.monotonic() - self._last_frame_mono
        if connected and quiet > self.options.stall_timeout_s and not self._stall_flag:
            self._stall_flag = True
            with self._lock:
                self._stalls += 1
            self._set_health(False, f"{self.camera}: stalled, no frame for {quiet:.1f} s")
            self._reopen.set()  # the capture thread reopens once its read returns
        elif quiet <= self.options.stall_timeout_s:
            self._stall_flag = False

    def _set_health(self, ok: bool, detail: str) -> None:
        with self._health_lock:
            if self._healthy is ok:
                return
            self._healthy = ok
        (log.info if ok else log.warning)("%s", detail)
        reading = SourceHealth(t=self._clock(), source=self.camera, ok=ok, detail=detail)
        loop, emit = self._loop, self._emit
        if loop is None or emit is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._emit_reading, emit, reading)

    @staticmethod
    def _emit_reading(emit: Emit, reading: Reading) -> None:
        emit(reading)

    def _safe_source(self) -> str:
        """The source without credentials (rtsp://user:pass@host -> rtsp://***@host)."""
        scheme, sep, rest = self.source.partition("://")
        if sep and "@" in rest.split("/", 1)[0]:
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return self.source
