"""Face capture for automatic recognition (vision event 9), at exact seconds."""

from __future__ import annotations

import pytest

from agent.dms.capture import FaceCapture
from agent.dms.policy import DmsStateMachine
from agent.events import VisionEventType
from tests.dms.scenario import ATTENTIVE, NO_FACE, T0, drive, look, secs

FRAME = 1 / 30


def captures(scene, end: float, enabled=lambda s: True) -> list[float]:  # type: ignore[no-untyped-def]
    sm, cap = DmsStateMachine(), FaceCapture()
    out = []
    for step in drive(sm, scene, 0, end).steps:
        event = cap.step(step.metrics, enabled(step.metrics.t - T0))
        if event is not None:
            assert event.event_type == VisionEventType.FACE_CAPTURE
            out.append(secs(event))
    return out


def test_one_capture_once_the_driver_has_been_seen_for_two_seconds() -> None:
    got = captures(lambda s: NO_FACE if s < 5 else ATTENTIVE, 60)
    assert got == [pytest.approx(7.0, abs=FRAME + 1e-6)]


def test_looking_away_or_a_short_absence_is_not_a_new_driver() -> None:
    def scene(s: float):  # type: ignore[no-untyped-def]
        if 20 <= s < 30:
            return NO_FACE  # 10 s out of view (leaning over)
        return look(ATTENTIVE, dyaw=40) if 40 <= s < 45 else ATTENTIVE
    assert captures(scene, 60) == [pytest.approx(2.0, abs=FRAME + 1e-6)]


def test_a_seat_empty_for_30_seconds_then_a_face_is_a_new_capture() -> None:
    got = captures(lambda s: NO_FACE if 10 <= s < 45 else ATTENTIVE, 60)
    assert got == [pytest.approx(2.0, abs=FRAME + 1e-6), pytest.approx(47.0, abs=FRAME + 1e-6)]


def test_nothing_while_recognition_is_off_and_a_capture_when_switched_on() -> None:
    assert captures(lambda s: ATTENTIVE, 30, enabled=lambda s: False) == []
    got = captures(lambda s: ATTENTIVE, 30, enabled=lambda s: s >= 12)
    assert got == [pytest.approx(12.0, abs=FRAME + 1e-6)]
