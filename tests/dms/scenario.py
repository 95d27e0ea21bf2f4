"""Synthetic driver sequences for the DMS policy tests (openpilot test_monitoring style).

A scenario is a function of time giving what the camera would see; :func:`drive` feeds it to a
state machine at a fixed frame rate and records every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from agent.dms.observation import FaceObservation
from agent.dms.policy import DmsEvent, DmsStateMachine, DmsStep
from agent.events import VisionEventType

T0 = 1_700_000_000.0  # scenario start, epoch seconds
OPEN = 0.30  # this synthetic driver's raw open-eye openness
SHUT = 0.12  # raw openness of a shut eye as the iris contour reads it (0.4 of open)

# An attentive driver, as the pipeline reports them: pitch biased like a generic 3-D face.
ATTENTIVE = FaceObservation(
    t=0.0, face_found=True, face_score=0.95, box=(0.4, 0.3, 0.2, 0.3),
    pitch=-20.0, yaw=4.0, roll=1.0, eye_openness=(OPEN, OPEN), gaze_confidence=0.0,
    mouth_openness=0.05, frame_brightness=110.0, frame_contrast=45.0,
)
NO_FACE = FaceObservation(t=0.0, face_found=False, frame_brightness=110.0, frame_contrast=45.0)
BLOCKED = FaceObservation(t=0.0, face_found=False, frame_brightness=6.0, frame_contrast=2.0)


def closed(obs: FaceObservation) -> FaceObservation:
    return replace(obs, eye_openness=(SHUT, SHUT))


def look(obs: FaceObservation, dyaw: float = 0.0, dpitch: float = 0.0) -> FaceObservation:
    return replace(obs, yaw=obs.yaw + dyaw, pitch=obs.pitch + dpitch)


Scene = Callable[[float], FaceObservation]  # seconds since T0 -> observation (t ignored)


@dataclass
class Run:
    steps: list[DmsStep]

    @property
    def events(self) -> list[DmsEvent]:
        return [e for s in self.steps for e in s.events]

    def of(self, event_type: VisionEventType) -> list[DmsEvent]:
        return [e for e in self.events if e.event_type == event_type]

    def at(self, seconds: float) -> DmsStep:
        """The last step at or before ``T0 + seconds``."""
        target = T0 + seconds + 1e-9
        best = self.steps[0]
        for s in self.steps:
            if s.metrics.t <= target:
                best = s
            else:
                break
        return best


def drive(sm: DmsStateMachine, scene: Scene, start: float, end: float, *, fps: float = 30.0,
          speed: float | Callable[[float], float] = 60.0) -> Run:
    """Feeds frames at ``fps`` for ``start <= s < end`` seconds after T0."""
    steps: list[DmsStep] = []
    n0 = round(start * fps)
    n1 = round(end * fps)
    for i in range(n0, n1):
        s = i / fps
        obs = replace(scene(s), t=T0 + s)
        v = speed(s) if callable(speed) else speed
        steps.append(sm.step(obs, v))
    return Run(steps)


def secs(e: DmsEvent) -> float:
    """Event time as seconds after T0."""
    return e.t - T0
