"""Doors, SOS, OBD trouble codes, over-revving and sudden fuel drop at exact seconds."""

from __future__ import annotations

from agent.events import TelemetryEventType as T
from agent.rules import TelemetryEngine
from agent.sources.readings import Signal, TroubleCodes
from tests.rules.helpers import T0, engine, extra, kinds, replay, sig


def quiet(**changes: object) -> TelemetryEngine:
    return engine(drivercoach_tracking=False, **changes)


def test_door_changes_after_the_first_reading() -> None:
    doors = [sig(t, Signal.DOOR_OPEN, v, "gpio") for t, v in [(0, 1), (5, 1), (8, 0), (20, 1)]]
    seen = replay(quiet(), doors, until=30)
    assert kinds(seen) == [(8, T.DOOR_CLOSED), (20, T.DOOR_OPENED)]
    assert [s.event.detail.alarm_type for s in seen] == [27, 26]  # type: ignore[union-attr]


def test_sos_fires_on_each_press() -> None:
    presses = [sig(t, Signal.SOS, v, "gpio") for t, v in [(0, 0), (3, 1), (4, 1), (6, 0), (9, 1)]]
    seen = replay(quiet(), presses, until=10)
    assert kinds(seen) == [(3, T.SOS), (9, T.SOS)]
    assert seen[0].event.detail.alarm_type == 1  # type: ignore[union-attr]


def test_each_new_trouble_code_is_one_event_and_a_cleared_code_can_return() -> None:
    reads = [
        TroubleCodes(T0 + 0, ()),
        TroubleCodes(T0 + 10, ("P0301",)),
        TroubleCodes(T0 + 20, ("P0301", "P0420")),
        TroubleCodes(T0 + 30, ()),
        TroubleCodes(T0 + 40, ("P0301",)),
    ]
    seen = replay(quiet(), reads, until=50)
    assert [(s.t, s.kind, extra(s)["dtc"]) for s in seen] == [
        (10, T.OBD_TROUBLE_CODE, "P0301"), (20, T.OBD_TROUBLE_CODE, "P0420"),
        (40, T.OBD_TROUBLE_CODE, "P0301"),
    ]  # fmt: skip
    assert seen[0].event.detail.alarm_type == 17  # type: ignore[union-attr]


def test_over_revving_after_3_s_above_4000_rpm_rearmed_below_3800() -> None:
    rpm = dict.fromkeys(range(60), 2500.0)
    rpm.update(dict.fromkeys(range(10, 20), 4500.0))  # one episode
    rpm.update({20: 3900.0, 21: 4600.0, 22: 4700.0, 23: 4600.0, 24: 4600.0})  # not re-armed
    rpm.update(dict.fromkeys(range(40, 43), 5200.0))  # above for 2 s only (40..42)
    rpm[43] = 3000.0
    seen = replay(quiet(), [sig(t, Signal.ENGINE_RPM, v) for t, v in rpm.items()], until=60)
    assert kinds(seen) == [(13, T.OVER_REVVING)]
    assert extra(seen[0]) == {"engineRpm": 4500}


def test_sudden_fuel_drop_is_reported_once() -> None:
    level = dict.fromkeys(range(0, 400, 5), 60.0)
    for t in range(100, 400, 5):
        level[t] = 45.0  # siphoned 15 %
    level[50] = 90.0  # one spike: the median ignores it
    seen = replay(
        quiet(), [sig(t, Signal.FUEL_LEVEL_PCT, v, "sim") for t, v in level.items()], until=400
    )
    assert kinds(seen) == [(115, T.FUEL_DROP)]
    assert extra(seen[0]) == {"fuelDropPct": 15.0, "fuelLevelBeforePct": 60.0, "fuelLevelPct": 45.0}


def test_slow_consumption_is_not_a_fuel_drop() -> None:
    level = [
        sig(t, Signal.FUEL_LEVEL_PCT, 60.0 - t * 0.005, "sim") for t in range(0, 3600, 10)
    ]  # 18 %/h
    assert replay(quiet(), level, until=3600) == []
