"""Scenario tests of the DMS policy at exact timestamps (openpilot test_monitoring style).

Every scenario starts with 70 s of an attentive driver at 60 km/h (calibration needs 60 s of
samples above 13 m/s), then plays the behaviour under test.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from agent.dms.observation import FaceObservation
from agent.dms.policy import DmsStateMachine, to_vision_detail
from agent.dms.settings import DmsSettings
from agent.dms.trackers import EyeState
from agent.events import VisionEventType as V

from .scenario import (
    ATTENTIVE,
    BLOCKED,
    NO_FACE,
    OPEN,
    SHUT,
    T0,
    closed,
    drive,
    look,
    secs,
)

FRAME = 1 / 30


def attentive(s: float) -> FaceObservation:
    """Looks at the road and blinks for 0.2 s every 4 s."""
    return closed(ATTENTIVE) if s % 4.0 < 0.2 else ATTENTIVE


def warmed(settings: DmsSettings | None = None) -> DmsStateMachine:
    sm = DmsStateMachine(settings or DmsSettings())
    run = drive(sm, attentive, 0, 70)
    assert run.events == []
    assert sm.neutral.calibrated
    return sm


def test_fully_distracted_driver_alerts_after_three_seconds_once() -> None:
    sm = warmed()
    run = drive(sm, lambda s: look(attentive(s), dyaw=40), 70, 90)
    distraction = run.of(V.DISTRACTION)
    assert len(distraction) == 1  # 20 s of distraction, one alert (repeat suppression)
    e = distraction[0]
    # The filter (tau 0.25 s) crosses 0.63 on the 8th off-road frame (70 + 7/30 s, with
    # k = dt/(tau+dt): 1 - (1-k)^8 = 0.63); then 3 s must elapse.
    assert e.since - T0 == pytest.approx(70 + 7 * FRAME, abs=1e-6)
    assert secs(e) == pytest.approx(70 + 7 * FRAME + 3.0, abs=FRAME + 1e-6)
    assert not run.at(73.2).events and run.at(73.0).metrics.distracted
    assert run.of(V.REPEATED_GLANCES) == []  # one long look is not "short glances"
    assert [x.event_type for x in run.events] == [V.DISTRACTION]


def test_mirror_check_of_two_seconds_raises_nothing() -> None:
    sm = warmed()
    run = drive(sm, lambda s: look(attentive(s), dyaw=-40) if 70 <= s < 72 else attentive(s),
                70, 100)
    assert run.at(71.0).metrics.distracted  # the look was seen ...
    assert run.at(71.0).metrics.distracted_s < 3.0
    assert not run.at(73.0).metrics.distracted  # ... and left
    assert run.events == []  # ... but is no distraction


def test_slow_drowsy_perclos_rise_alerts_once_perclos_held_above_threshold() -> None:
    sm = warmed()

    def drowsy(s: float) -> FaceObservation:
        # One closure per 4 s growing from 0.2 s to 1.2 s over 4 minutes (never microsleep).
        d = 0.2 + 1.0 * min(1.0, (s - 70) / 240)
        return closed(ATTENTIVE) if s % 4.0 < d else ATTENTIVE

    run = drive(sm, drowsy, 70, 330)
    assert run.of(V.MICROSLEEP) == [] and run.of(V.SLEEP) == []
    drowsiness = run.of(V.DROWSINESS)
    assert len(drowsiness) == 2  # still drowsy 2 minutes later: alerted again, not before
    first = drowsiness[0]
    assert secs(drowsiness[1]) - secs(first) >= 120.0
    crossed = next(s.metrics.t for s in run.steps
                   if s.metrics.perclos is not None and s.metrics.perclos > 0.15)
    assert first.t - crossed == pytest.approx(3.0, abs=FRAME + 1e-6)  # held 3 s, then alert
    assert first.metrics.perclos is not None and first.metrics.perclos > 0.15
    assert run.at(secs(first) - 3.1).metrics.perclos <= 0.15  # type: ignore[operator]
    # PERCLOS tracks the closure duty cycle (d/4 averaged over the last 60 s).
    m = run.at(250).metrics
    window_duty = sum(0.2 + 1.0 * (s - 70) / 240 for s in range(192, 252, 4)) / 15 / 4
    assert m.perclos == pytest.approx(window_duty, abs=0.01)
    assert m.blinks_per_min == pytest.approx(15.0, abs=0.6)


def test_perclos_excludes_no_face_time_and_needs_80_percent_coverage() -> None:
    sm = DmsStateMachine()

    def duty_25(s: float) -> FaceObservation:
        return closed(ATTENTIVE) if s % 2.0 < 0.5 else ATTENTIVE

    drive(sm, duty_25, 0, 70)
    m = sm.step(replace(duty_25(70), t=T0 + 70), 60).metrics
    assert m.perclos == pytest.approx(0.25, abs=0.005)
    assert m.blinks_per_min == pytest.approx(30.0, abs=0.6)  # 0.5 s closures: long blinks
    assert m.long_blinks_total == 0  # 0.5 s is not > 0.5 s
    # 10 s without a face: excluded, PERCLOS unchanged and still reported (50/60 covered).
    run = drive(sm, lambda s: NO_FACE if s < 80 else duty_25(s), 70.0 + FRAME, 82)
    assert run.at(79.9).metrics.perclos == pytest.approx(0.25, abs=0.01)
    assert run.at(79.9).metrics.eye_state == EyeState.UNKNOWN
    # Back for a full window, then 20 s without a face: only 40 s of the window valid.
    drive(sm, duty_25, 82, 150)
    run = drive(sm, lambda s: NO_FACE, 150, 170)
    assert run.at(169.9).metrics.perclos_coverage == pytest.approx(40 / 60, abs=0.01)
    assert run.at(169.9).metrics.perclos is None
    assert run.at(159.9).metrics.perclos == pytest.approx(0.25, abs=0.01)  # 50 s valid
    assert [(e.event_type, e.since - T0) for e in run.events] == [(V.NO_DRIVER, 150.0)]


def test_microsleep_of_two_seconds_alerts_at_one_and_a_half() -> None:
    sm = warmed()
    run = drive(sm, lambda s: closed(ATTENTIVE) if 70 <= s < 72 else ATTENTIVE, 70, 80)
    assert [e.event_type for e in run.events] == [V.MICROSLEEP]
    e = run.events[0]
    assert e.since == pytest.approx(T0 + 70)
    assert secs(e) == pytest.approx(71.5, abs=FRAME + 1e-6)
    assert e.metrics.left_closure_s >= 1.5 and e.metrics.right_closure_s >= 1.5
    detail = to_vision_detail(e, fps=29.7)
    assert detail.event_type == V.MICROSLEEP and detail.fps == 30
    assert detail.left_eye_closure_s >= 1.5 and detail.vision_timestamp_s == int(T0 + 71)
    after = run.at(73).metrics
    assert after.closure_s == 0.0 and after.left_closure_s == 0.0
    assert after.blinks_total == sm.step(replace(ATTENTIVE, t=T0 + 80), 60).metrics.blinks_total


def test_sleep_of_four_seconds_climbs_the_ladder() -> None:
    sm = warmed()
    run = drive(sm, lambda s: closed(ATTENTIVE) if 70 <= s < 74 else ATTENTIVE, 70, 80)
    assert [(e.event_type, round(secs(e), 1)) for e in run.events] == [
        (V.MICROSLEEP, 71.5), (V.SLEEP, 73.0)]
    assert run.events[1].duration_s == pytest.approx(3.0, abs=FRAME + 1e-6)


def test_driver_lost_from_view_while_moving_is_reported_after_ten_seconds() -> None:
    sm = warmed()
    run = drive(sm, lambda s: NO_FACE, 70, 90)
    assert [e.event_type for e in run.events] == [V.NO_DRIVER]
    assert 80.0 < secs(run.events[0]) <= 80.0 + FRAME + 1e-6
    m = run.at(85).metrics
    # "not measured" is never "closed": no closure, no PERCLOS, no drowsiness.
    assert m.eye_state == EyeState.UNKNOWN and m.closure_s == 0.0
    assert m.left_closure_s == 0.0 and m.right_closure_s == 0.0


def test_eyes_not_measured_with_a_face_never_count_as_closed() -> None:
    sm = warmed()
    sunglasses = replace(ATTENTIVE, eye_openness=(None, None))
    run = drive(sm, lambda s: sunglasses, 70, 140)
    assert run.events == []
    assert run.at(139).metrics.perclos is None  # no valid eye time left in the window
    assert max(s.metrics.closure_s for s in run.steps) == 0.0


def test_parked_car_without_driver_raises_nothing() -> None:
    sm = warmed()
    run = drive(sm, lambda s: NO_FACE, 70, 100, speed=0.0)
    assert run.events == []


def test_blocked_camera_is_reported_even_parked_and_not_as_no_driver() -> None:
    sm = warmed()
    run = drive(sm, lambda s: BLOCKED, 70, 90, speed=0.0)
    assert [e.event_type for e in run.events] == [V.CAMERA_BLOCKED]
    assert secs(run.events[0]) == pytest.approx(80.0, abs=FRAME + 1e-6)
    run = drive(sm, lambda s: BLOCKED, 90, 110, speed=60.0)
    assert run.events == []  # still blocked: suppressed for 2 minutes, and never "no driver"


def test_same_event_is_not_repeated_within_two_minutes() -> None:
    sm = warmed()

    def three_looks(s: float) -> FaceObservation:
        away = 70 <= s < 75 or 130 <= s < 135 or 200 <= s < 205
        return look(attentive(s), dyaw=40) if away else attentive(s)

    run = drive(sm, three_looks, 70, 210)
    assert [round(secs(e)) for e in run.of(V.DISTRACTION)] == [73, 203]


def test_speed_gate_holds_alerts_until_the_vehicle_moves() -> None:
    sm = warmed()
    run = drive(sm, lambda s: look(attentive(s), dyaw=40), 70, 90,
                speed=lambda s: 10.0 if s < 80 else 50.0)
    e = run.of(V.DISTRACTION)
    assert len(e) == 1
    assert secs(e[0]) == pytest.approx(80.0, abs=1e-6)  # the first frame above 20 km/h
    assert e[0].duration_s > 9.0  # it began at 70.27
    slow = warmed()
    run = drive(slow, lambda s: closed(ATTENTIVE) if 70 <= s < 74 else ATTENTIVE, 70, 80,
                speed=15.0)
    assert run.events == []


def test_repeated_short_glances_add_up_to_ten_seconds_in_thirty() -> None:
    sm = warmed()

    def glances(s: float) -> FaceObservation:  # 2 s at the phone every 5 s
        return look(attentive(s), dpitch=-30) if s >= 70 and (s - 70) % 5 < 2 else attentive(s)

    run = drive(sm, glances, 70, 100)
    assert run.of(V.DISTRACTION) == []
    g = run.of(V.REPEATED_GLANCES)
    assert len(g) == 1
    # Five 2-s glances (as the hysteresis sees them: shifted, same length) make 10 s.
    assert 91.9 < secs(g[0]) < 92.4
    assert g[0].metrics.glance_s >= 10.0


def test_flickering_pose_never_enters_distraction() -> None:
    sm = warmed()
    run = drive(sm, lambda s: look(attentive(s), dyaw=40) if round(s * 30) % 2 else attentive(s),
                70, 90)
    assert not any(s.metrics.distracted for s in run.steps)
    assert max(s.metrics.distraction_level for s in run.steps) < 0.63
    run = drive(sm, lambda s: look(attentive(s), dyaw=40) if 92 <= s < 92.2 else attentive(s),
                90, 95)
    assert not any(s.metrics.distracted for s in run.steps)  # a 0.2 s flick
    assert max(s.metrics.distraction_level for s in run.steps) > 0.4  # it was seen


def test_yawning_alerts_after_two_seconds_open_mouth() -> None:
    sm = warmed()
    run = drive(sm, lambda s: replace(attentive(s), mouth_openness=0.7) if 70 <= s < 75
                else attentive(s), 70, 80)
    assert [(e.event_type, round(secs(e), 2)) for e in run.events] == [(V.YAWNING, 72.0)]
    assert run.events[0].since == pytest.approx(T0 + 70)


def test_wink_closes_one_eye_only() -> None:
    sm = warmed()
    wink = replace(ATTENTIVE, eye_openness=(SHUT, OPEN))
    run = drive(sm, lambda s: wink if 70 <= s < 73 else ATTENTIVE, 70, 75)
    m = run.at(72.9).metrics
    assert m.left_closure_s == pytest.approx(2.9, abs=FRAME + 1e-6)
    assert m.right_closure_s == 0.0
    assert m.eye_state == EyeState.OPEN and m.closure_s == 0.0
    assert run.events == []


def test_open_eye_baseline_normalises_each_driver() -> None:
    for open_raw in (0.18, 0.42):
        sm = DmsStateMachine()
        driver = replace(ATTENTIVE, eye_openness=(open_raw, open_raw))
        shut = replace(ATTENTIVE, eye_openness=(0.4 * open_raw, 0.4 * open_raw))
        drive(sm, lambda s, d=driver, sh=shut: sh if s % 4 < 0.2 else d, 0, 70)
        run = drive(sm, lambda s, d=driver, sh=shut: sh if 70 <= s < 72 else d, 70, 75)
        assert run.at(69.5 + 1).metrics.eye_openness == (pytest.approx(0.4), pytest.approx(0.4))
        assert run.at(73).metrics.eye_openness == (pytest.approx(1.0), pytest.approx(1.0))
        assert [e.event_type for e in run.events] == [V.MICROSLEEP]


def test_neutral_pose_calibrates_after_sixty_seconds_at_speed_and_fades() -> None:
    sm = DmsStateMachine()
    run = drive(sm, attentive, 0, 70)
    assert not run.at(59.9).metrics.neutral.calibrated
    assert run.at(60.1).metrics.neutral.calibrated
    n = sm.neutral
    assert n.pitch == pytest.approx(-20.0) and n.yaw == pytest.approx(4.0)
    # The driver changes the seat: pitch -10 from now on. Up to 360 s of samples the neutral
    # is their plain mean; after that the weight is capped and old samples fade (tau 360 s).
    seat = lambda s: look(attentive(s), dpitch=10)  # noqa: E731
    drive(sm, seat, 70, 360, fps=10)  # the cap is in seconds: the frame rate does not matter
    mean = (70 * -20 + 290 * -10) / 360
    assert sm.neutral.pitch == pytest.approx(mean, abs=0.02)
    drive(sm, seat, 360, 720, fps=10)
    assert sm.neutral.pitch == pytest.approx(-10 + (mean + 10) * math.exp(-1), abs=0.02)
    drive(sm, seat, 720, 1800, fps=10)
    assert sm.neutral.pitch == pytest.approx(-10.0, abs=0.1)


def test_no_calibration_when_parked_unless_enabled() -> None:
    sm = DmsStateMachine()
    drive(sm, attentive, 0, 70, speed=0.0)
    assert sm.neutral.sampled_s == 0.0 and not sm.neutral.calibrated
    sm = DmsStateMachine(DmsSettings(calib_when_parked=True))
    drive(sm, attentive, 0, 70, speed=0.0)
    assert sm.neutral.calibrated and sm.neutral.pitch == pytest.approx(-20.0)


def test_moving_head_is_not_sampled_for_calibration() -> None:
    sm = DmsStateMachine()
    drive(sm, lambda s: look(attentive(s), dyaw=15 * math.sin(2 * math.pi * s)), 0, 30)
    assert sm.neutral.sampled_s < 1.0


def test_uncalibrated_thresholds_are_widened() -> None:
    sm = DmsStateMachine()
    drive(sm, attentive, 0, 20)  # 20 s of samples: provisional neutral, not calibrated
    assert not sm.neutral.calibrated
    run = drive(sm, lambda s: look(attentive(s), dyaw=26), 20, 30)  # 26 < 23 + 6 slack
    assert not any(s.metrics.distracted for s in run.steps)
    sm = warmed()
    run = drive(sm, lambda s: look(attentive(s), dyaw=26), 70, 80)
    assert run.of(V.DISTRACTION)


def test_settings_changed_at_run_time_apply_from_the_next_frame() -> None:
    settings = DmsSettings()
    sm = warmed(settings)
    sm.settings = DmsSettings(microsleep_s=1.0)  # a new snapshot, as a config order gives
    run = drive(sm, lambda s: closed(ATTENTIVE) if 70 <= s < 72 else ATTENTIVE, 70, 75)
    assert secs(run.of(V.MICROSLEEP)[0]) == pytest.approx(71.0, abs=FRAME + 1e-6)
    with pytest.raises(ValueError, match="sleep_s"):
        DmsSettings(microsleep_s=5.0)  # would put microsleep above sleep
    with pytest.raises(ValueError, match="frozen"):
        settings.microsleep_s = 1.0  # snapshots are never changed in place


@pytest.mark.parametrize("fps", [10.0, 15.0, 30.0])
def test_timing_depends_on_elapsed_time_not_frame_count(fps: float) -> None:
    sm = DmsStateMachine()
    drive(sm, attentive, 0, 70, fps=fps)
    run = drive(sm, lambda s: closed(ATTENTIVE) if 70 <= s < 74 else look(ATTENTIVE, dyaw=40)
                if 80 <= s < 90 else ATTENTIVE, 70, 90, fps=fps)
    times = {e.event_type: secs(e) for e in run.events}
    assert times[V.MICROSLEEP] == pytest.approx(71.5, abs=1 / fps + 1e-6)
    assert times[V.SLEEP] == pytest.approx(73.0, abs=1 / fps + 1e-6)
    assert times[V.DISTRACTION] == pytest.approx(83.27, abs=0.2)


def test_replay_is_deterministic() -> None:
    def scene(s: float) -> FaceObservation:
        if 70 <= s < 73:
            return closed(ATTENTIVE)
        return look(attentive(s), dyaw=40) if 80 <= s < 90 else attentive(s)

    a = drive(DmsStateMachine(), scene, 0, 100)
    b = drive(DmsStateMachine(), scene, 0, 100)
    assert a.steps == b.steps
    assert [e.event_type for e in a.events] == [V.MICROSLEEP, V.DISTRACTION]


def test_closed_frames_either_side_of_a_camera_stall_are_not_one_microsleep() -> None:
    # Two blinks seen on the last frame before and the first frame after a 2 s stall: the
    # time between is unmeasured (max_frame_gap_s), not 2 s of closed eyes.
    sm = warmed()
    steps = [sm.step(replace(obs, t=T0 + s), 60.0) for s, obs in (
        (70.0, closed(ATTENTIVE)), (72.0, closed(ATTENTIVE)), (72.1, ATTENTIVE))]
    assert [e.event_type for st in steps for e in st.events] == []
    assert steps[1].metrics.closure_s == 0.0
    assert steps[1].metrics.left_closure_s == 0.0 and steps[1].metrics.right_closure_s == 0.0
