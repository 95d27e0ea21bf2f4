"""Tyre alarms (etrack 11-14) from TIRE readings, at exact seconds."""

from __future__ import annotations

from agent.events import TelemetryEventType as T
from agent.rules import TelemetryEngine
from agent.sources.readings import TyreReading
from tests.rules.helpers import T0, engine, extra, kinds, replay

TEMP, LEAK, LOW, HIGH = T.TYRE_TEMPERATURE, T.TYRE_LEAK, T.TYRE_LOW_PRESSURE, T.TYRE_HIGH_PRESSURE


def quiet(**changes: object) -> TelemetryEngine:
    return engine(drivercoach_tracking=False, drivercoach_inertial=False, **changes)


def tyre(t: float, loc: int = 0x01, kpa: float | None = 820.0, temp: float | None = 40.0,
         leak: float | None = 0.0, status: int | None = 0, threshold: int | None = 2,
         ) -> TyreReading:
    return TyreReading(T0 + t, loc, kpa, temp, leak, status, threshold)


def test_low_pressure_after_the_debounce_once_per_episode_and_rearmed() -> None:
    # below 650 kPa from 20 s to 60 s, back to 820 at 60 s, low again from 100 s
    def kpa(t: int) -> float:
        return 600.0 if 20 <= t < 60 or t >= 100 else 820.0
    inputs = [tyre(t, kpa=kpa(t)) for t in range(0, 140, 10)]
    seen = [s for s in replay(quiet(), inputs, until=140) if s.kind is LOW]
    assert kinds(seen) == [(35, LOW), (115, LOW)]
    assert extra(seen[0]) == {"tyreLocation": 1, "axle": 0, "tyrePosition": 1,
                              "pressureKpa": 600.0, "temperatureC": 40.0, "leakPaS": 0.0}
    assert seen[0].event.detail.alarm_type == 13  # type: ignore[union-attr]


def test_hysteresis_keeps_a_tyre_hovering_at_the_limit_to_one_alarm() -> None:
    levels = [640, 640, 660, 640, 660, 640, 640, 640]  # never back to 650 + 20
    inputs = [tyre(i * 10, kpa=p) for i, p in enumerate(levels)]
    assert kinds(replay(quiet(tyre_alarm_debounce_s=0), inputs, until=80)) == [(0, LOW)]


def test_high_pressure_and_the_tpms_own_verdicts() -> None:
    inputs = [tyre(t, kpa=960.0) for t in range(0, 40, 10)]
    assert kinds(replay(quiet(), inputs, until=40)) == [(15, HIGH)]
    # the TPMS says "under pressure" (SPN 2587 = 3) although the pressure looks fine to us
    inputs = [tyre(t, kpa=800.0, threshold=3) for t in range(0, 40, 10)]
    assert kinds(replay(quiet(), inputs, until=40)) == [(15, LOW)]
    inputs = [tyre(t, kpa=None, threshold=1) for t in range(0, 40, 10)]
    assert kinds(replay(quiet(), inputs, until=40)) == [(15, HIGH)]


def test_temperature_alarm_and_its_hysteresis() -> None:
    temps = {0: 80, 10: 91, 20: 92, 30: 88, 40: 91, 50: 84, 60: 95, 70: 95, 80: 95}
    inputs = [tyre(t, temp=c) for t, c in temps.items()]
    seen = replay(quiet(), inputs, until=90)
    # 91 at 10 s held to 25 s; 88 does not re-arm (90 - 5 = 85); 84 at 50 s does; 95 from 60 s
    assert kinds(seen) == [(25, TEMP), (75, TEMP)]
    assert seen[0].event.detail.alarm_type == 11  # type: ignore[union-attr]


def test_leak_from_the_leakage_rate_the_status_bit_or_the_pressure_trend() -> None:
    inputs = [tyre(t, leak=25.0 if t >= 30 else 0.0) for t in range(0, 80, 10)]
    seen = replay(quiet(), inputs, until=80)
    assert kinds(seen) == [(45, LEAK)]
    assert seen[0].event.detail.alarm_type == 12  # type: ignore[union-attr]
    inputs = [tyre(t, status=1 if t >= 30 else 0, leak=None) for t in range(0, 80, 10)]
    assert kinds(replay(quiet(), inputs, until=80)) == [(45, LEAK)]
    # no leakage rate from this sensor: 0.5 kPa/s, a 40 kPa drop by 80 s, below 650 at 350 s
    inputs = [tyre(t, kpa=820.0 - t / 2, leak=None) for t in range(0, 400, 10)]
    assert kinds(replay(quiet(), inputs, until=400)) == [(95, LEAK), (365, LOW)]


def test_stale_reports_raise_nothing_and_locations_are_independent() -> None:
    # one report below the limit, then TIRE stops (ignition off): no alarm after 60 s stale
    assert replay(quiet(tyre_alarm_debounce_s=120), [tyre(0, kpa=600.0)], until=300) == []
    inputs = [tyre(t, loc=0x00, kpa=820.0) for t in range(0, 40, 10)]
    inputs += [tyre(t, loc=0x13, kpa=600.0) for t in range(0, 40, 10)]
    seen = replay(quiet(), inputs, until=40)
    assert kinds(seen) == [(15, LOW)]
    assert extra(seen[0])["tyreLocation"] == 0x13 and extra(seen[0])["axle"] == 1


def test_tyre_thresholds_are_validated() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        quiet(tyre_low_pressure_kpa=900, tyre_high_pressure_kpa=800)
    assert quiet(tyre_low_pressure_kpa=180, tyre_high_pressure_kpa=300).thresholds is not None
