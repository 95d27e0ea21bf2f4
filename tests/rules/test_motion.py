"""Ignition on/off (ACC line, engine speed, bus activity), idling and towing at exact seconds."""

from __future__ import annotations

from agent.events import TelemetryEventType as T
from agent.rules import TelemetryEngine
from agent.sources.readings import Signal
from agent.vehicle.inputs import StateInput
from tests.rules.helpers import T0, engine, extra, fix, kinds, only, replay, route, sig

ON, OFF, IDLE, TOW = T.IGNITION_ON, T.IGNITION_OFF, T.IDLING, T.MOVING_IGNITION_OFF


def quiet(**changes: object) -> TelemetryEngine:
    return engine(drivercoach_tracking=False, **changes)


def test_acc_line_edges_give_ignition_events_but_the_first_reading_does_not() -> None:
    acc = [sig(0, Signal.IGNITION, 1, "gpio"), sig(100, Signal.IGNITION, 0, "gpio"),
           sig(160, Signal.IGNITION, 1, "gpio")]  # fmt: skip
    seen = replay(quiet(), acc, until=200)
    assert kinds(seen) == [(100, OFF), (160, ON)]
    assert extra(seen[0]) == {"durationS": 100.0}
    assert seen[0].event.context.ignition_on is False
    assert seen[1].event.context.ignition_on is True


def test_engine_speed_drives_ignition_when_there_is_no_acc_line() -> None:
    rpm = [sig(t, Signal.ENGINE_RPM, 800 if 10 <= t < 50 else 0) for t in range(0, 60)]
    assert only(replay(quiet(), rpm, until=60), ON, OFF) == [(10, ON), (50, OFF)]


def test_bus_silence_turns_the_ignition_off_after_10_s() -> None:
    bus = [sig(t, Signal.FUEL_LEVEL_PCT, 50.0) for t in range(0, 30)]
    assert only(replay(quiet(), bus, until=60), ON, OFF) == [(40, OFF)]


def test_idling_after_300_s_stopped_with_the_ignition_on_once_per_stop() -> None:
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 1, "gpio")]
    inputs += [sig(t, Signal.WHEEL_SPEED_KMH, 30.0 if 400 <= t < 420 else 0.0)
               for t in range(0, 800)]  # fmt: skip
    seen = replay(quiet(drivercoach_inertial=False), inputs, until=800)
    assert only(seen, IDLE) == [(300, IDLE), (720, IDLE)]
    assert extra(seen[0]) == {"durationS": 300.0}


def test_idle_timeout_change_at_run_time_applies_to_the_running_stop() -> None:
    e = quiet(drivercoach_inertial=False)
    stopped = [sig(t, Signal.WHEEL_SPEED_KMH, 0.0) for t in range(0, 201)]  # a known speed of 0
    inputs = [sig(0, Signal.IGNITION, 1, "gpio"), *stopped[:101]]
    assert replay(e, inputs, until=100) == []
    e.update_thresholds(e.thresholds.with_changes(idle_timeout_s=120))
    assert kinds(replay(e, stopped[101:], until=200, tick_from=101)) == [(120, IDLE)]


def test_towing_needs_ignition_off_and_10_s_at_towing_speed() -> None:
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 0, "gpio")]
    inputs += route(0, 200, lambda t: 15.0 if 100 <= t < 150 else 0.0)
    seen = replay(quiet(drivercoach_inertial=False), inputs, until=200)
    assert kinds(seen) == [(110, TOW)]
    assert extra(seen[0]) == {"speedKmh": 15, "durationS": 10.0}
    assert seen[0].event.detail.alarm_type == 8  # type: ignore[union-attr]


def test_towing_episode_ends_after_60_s_stopped_and_can_fire_again() -> None:
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 0, "gpio")]
    moving = lambda t: 15.0 if 10 <= t < 40 or 60 <= t < 80 or 150 <= t < 170 else 0.0  # noqa: E731
    inputs += route(0, 200, moving)
    seen = replay(quiet(drivercoach_inertial=False), inputs, until=200)
    assert kinds(seen) == [(20, TOW), (160, TOW)]


def test_no_towing_while_the_ignition_is_on() -> None:
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 1, "gpio"), *route(0, 100, 40.0)]
    assert only(replay(quiet(), inputs, until=100), TOW) == []


def test_a_gnss_outage_with_the_ignition_on_is_not_idling() -> None:
    # GNSS is the only speed source; a 400 s tunnel at 60 km/h: the speed is unknown there,
    # not 0, so the idle timer does not run (it used to raise idling at 404 s).
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 1, "gpio")]
    inputs += [f for f in route(0, 800, 60.0) if not 100 < f.t - T0 < 500]
    assert only(replay(quiet(), inputs, until=800), IDLE) == []


def test_unknown_speed_is_not_idle_time_before_the_idle_event() -> None:
    # Stopped 200 s, a 100 s outage, stopped again: the outage does not count as idle time and
    # the timer starts again at the first known stop after it (fixes are fresh for 3 s).
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 1, "gpio")]
    inputs += [fix(t) for t in range(0, 800) if not 200 <= t < 300]
    seen = replay(quiet(drivercoach_inertial=False), inputs, until=800)
    assert only(seen, IDLE) == [(600, IDLE)]
    assert [extra(x) for x in seen if x.kind == IDLE] == [{"durationS": 300.0}]


def test_an_outage_after_the_idle_event_does_not_raise_it_again_for_the_same_stop() -> None:
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 1, "gpio")]
    inputs += [fix(t) for t in range(0, 1000) if not 400 <= t < 420]
    assert only(replay(quiet(drivercoach_inertial=False), inputs, until=1000), IDLE) == [
        (300, IDLE)
    ]
