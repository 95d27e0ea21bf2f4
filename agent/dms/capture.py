"""Automatic driver recognition's face capture (vision event 9): pure, fed with timestamps.

When ``automaticrecognition`` is on (the Management API's ``"S"``, order
``automaticrecognition``), the device sends the cloud one capture of each driver who sits down:
the driver image and the face crop (CONTRACT §2), from which the cloud recognises the driver.
A capture is taken once a face has been seen steadily for ``steady_s`` (not a glimpse of a
passer-by); the next one only after no face was seen for ``absent_s`` (a driver change needs
the seat to be empty for a while), so a driver looking away does not trigger a new capture.
Switching recognition on arms a capture of whoever is in the seat.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.dms.policy import DmsEvent, DmsMetrics
from agent.events import VisionEventType

STEADY_S = 2.0
ABSENT_S = 30.0


@dataclass(slots=True)
class FaceCapture:
    steady_s: float = STEADY_S
    absent_s: float = ABSENT_S
    _face_since: float | None = None
    _last_face: float | None = None
    _captured: bool = False
    _enabled: bool = False

    def step(self, metrics: DmsMetrics, enabled: bool) -> DmsEvent | None:
        t = metrics.t
        if enabled and not self._enabled:
            self._captured = False  # switched on: capture whoever is there
        self._enabled = enabled
        if not metrics.face_found:
            if self._last_face is not None and t - self._last_face >= self.absent_s:
                self._captured = False  # the seat was empty long enough: a new driver may come
            self._face_since = None
            return None
        self._last_face = t
        if self._face_since is None:
            self._face_since = t
        if not enabled or self._captured or t - self._face_since < self.steady_s:
            return None
        self._captured = True
        return DmsEvent(VisionEventType.FACE_CAPTURE, t, self._face_since, metrics)
