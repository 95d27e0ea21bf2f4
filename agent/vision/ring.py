"""A per-camera ring buffer of recent frames, JPEG-encoded in memory.

Fed from the camera's capture thread (:meth:`FrameRing.push` is a camera listener): frames are
decimated to ``fps``, encoded once, and kept for ``seconds``. Memory is bounded by
``max_bytes`` per camera whatever the scene: the JPEG quality adapts (down to
``MIN_QUALITY``) so that ``seconds`` of frames fit in ``max_bytes``; a scene that still does
not fit loses its oldest frames first (counted in ``evicted_for_bytes``). Readers (evidence
clips, ``demand.image`` / ``demand.video``) take consistent snapshots under a lock.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass

import cv2

from agent.vision.camera import Frame


@dataclass(frozen=True, slots=True)
class RingFrame:
    t: float  # capture time, epoch seconds
    jpeg: bytes
    width: int
    height: int


# Put in an evicted frame's slot so its JPEG is freed at once; compaction of the list itself
# stays lazy (amortised), but memory is bounded by the live frames, not twice that.
_EVICTED = RingFrame(0.0, b"", 0, 0)


@dataclass(frozen=True, slots=True)
class RingStats:
    frames: int
    bytes: int
    oldest_t: float | None
    newest_t: float | None
    pushed: int  # frames offered by the camera
    kept: int  # frames encoded and stored (after decimation)
    evicted_for_bytes: int  # dropped early because of max_bytes
    encode_ms_avg: float
    quality: int  # the JPEG quality in use now


class FrameRing:
    MIN_QUALITY = 40  # below this, faces in evidence become hard to recognise
    ADAPT_EVERY = 20  # kept frames between quality adjustments

    def __init__(self, camera: str, *, seconds: float = 190.0, fps: float = 10.0,
                 max_bytes: int = 64 * 1024 * 1024, jpeg_quality: int = 80) -> None:
        if seconds <= 0 or fps <= 0 or max_bytes <= 0:
            raise ValueError("seconds, fps and max_bytes must be positive")
        self.camera = camera
        self.seconds = seconds
        self.fps = fps
        self.max_bytes = max_bytes
        self.jpeg_quality = jpeg_quality
        self._lock = threading.Lock()
        self._frames: list[RingFrame] = []
        self._times: list[float] = []  # parallel to _frames, for bisect
        self._start = 0  # index of the oldest live frame (lazy compaction)
        self._bytes = 0
        self._pushed = self._kept = self._evicted_bytes = 0
        self._encode_s = 0.0
        self._last_kept_t = -float("inf")
        self._quality = jpeg_quality
        self._recent_bytes = 0
        self._recent_n = 0

    # --- writer (capture thread) ------------------------------------------------------------
    def push(self, frame: Frame) -> None:
        """Camera listener: keep ``frame`` if it is due at the ring's rate."""
        self._pushed += 1
        # Keep a frame once a period has passed (with 10 % slack so 30 -> 10 fps keeps every
        # third frame despite timestamp jitter).
        if frame.t - self._last_kept_t < 0.9 / self.fps:
            return
        t0 = time.perf_counter()
        ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        self._encode_s += time.perf_counter() - t0
        if not ok:
            return
        h, w = frame.image.shape[:2]
        self.add(RingFrame(frame.t, buf.tobytes(), w, h))
        self._adapt(len(buf))

    def _adapt(self, size: int) -> None:
        """Steer the quality so ``seconds`` x ``fps`` frames fit in ``max_bytes``."""
        self._recent_bytes += size
        self._recent_n += 1
        if self._recent_n < self.ADAPT_EVERY:
            return
        avg = self._recent_bytes / self._recent_n
        self._recent_bytes = self._recent_n = 0
        budget = self.max_bytes / (self.seconds * self.fps)
        if avg > 0.95 * budget and self._quality > self.MIN_QUALITY:
            self._quality = max(self.MIN_QUALITY, self._quality - 5)
        elif avg < 0.75 * budget and self._quality < self.jpeg_quality:
            self._quality = min(self.jpeg_quality, self._quality + 5)

    def add(self, item: RingFrame) -> None:
        """Store an already encoded frame (in time order) and evict what is too old/too big."""
        with self._lock:
            if self._times and item.t < self._times[-1]:
                return  # out of order (clock stepped back): keep the ring sorted
            self._last_kept_t = item.t
            self._kept += 1
            self._frames.append(item)
            self._times.append(item.t)
            self._bytes += len(item.jpeg)
            horizon = item.t - self.seconds
            while self._start < len(self._frames) - 1 and (
                    self._times[self._start] < horizon or self._bytes > self.max_bytes):
                if self._times[self._start] >= horizon:
                    self._evicted_bytes += 1
                self._bytes -= len(self._frames[self._start].jpeg)
                self._frames[self._start] = _EVICTED
                self._start += 1
            if self._start > 256 and self._start * 2 > len(self._frames):
                del self._frames[:self._start]
                del self._times[:self._start]
                self._start = 0

    # --- readers ------------------------------------------------------------------------------
    def between(self, t0: float, t1: float) -> list[RingFrame]:
        """Frames with ``t0 <= t <= t1``, oldest first."""
        with self._lock:
            lo = bisect.bisect_left(self._times, t0, self._start)
            hi = bisect.bisect_right(self._times, t1, self._start)
            return self._frames[lo:hi]

    def nearest(self, t: float, max_distance_s: float) -> RingFrame | None:
        with self._lock:
            i = bisect.bisect_left(self._times, t, self._start)
            best: RingFrame | None = None
            for j in (i - 1, i):
                if self._start <= j < len(self._frames):
                    f = self._frames[j]
                    if abs(f.t - t) <= max_distance_s and (
                            best is None or abs(f.t - t) < abs(best.t - t)):
                        best = f
            return best

    @property
    def newest_t(self) -> float | None:
        with self._lock:
            return self._times[-1] if len(self._times) > self._start else None

    @property
    def oldest_t(self) -> float | None:
        with self._lock:
            return self._times[self._start] if len(self._times) > self._start else None

    def stats(self) -> RingStats:
        with self._lock:
            n = len(self._frames) - self._start
            return RingStats(
                frames=n, bytes=self._bytes,
                oldest_t=self._times[self._start] if n else None,
                newest_t=self._times[-1] if n else None,
                pushed=self._pushed, kept=self._kept, evicted_for_bytes=self._evicted_bytes,
                encode_ms_avg=self._encode_s * 1e3 / self._kept if self._kept else 0.0,
                quality=self._quality,
            )
