"""Speeding episodes against MAX_SPEED_KMH: duration, tolerance, hysteresis, run-time change."""

from __future__ import annotations

from collections.abc import Callable

from agent.events import TelemetryDetail
from agent.events import TelemetryEventType as T
from agent.rules import TelemetryEngine
from agent.sources.readings import Signal, SignalReading
from tests.rules.helpers import T0, engine, extra, kinds, only, replay, route, sig

STARTED, ENDED = T.SPEEDING_STARTED, T.SPEEDING_ENDED


def can_speed(t0: int, t1: int, speed: Callable[[float], float]) -> list[SignalReading]:
    out = []
    for t in range(t0, t1 + 1):
        out.append(sig(t, Signal.ENGINE_RPM, 1800))
        out.append(sig(t, Signal.WHEEL_SPEED_KMH, speed(t)))
    return out


def quiet(e: TelemetryEngine) -> TelemetryEngine:
    e.update_thresholds(
        e.thresholds.with_changes(drivercoach_tracking=False, drivercoach_inertial=False)
    )
    return e


def test_episode_starts_5_s_after_going_over_and_ends_3_s_after_back_under() -> None:
    speed = lambda t: 95.0 if 10 <= t < 30 else 80.0  # noqa: E731
    seen = replay(quiet(engine()), can_speed(0, 40, speed), until=40)
    assert kinds(seen) == [(15, STARTED), (33, ENDED)]
    assert extra(seen[0]) == {"speedKmh": 95, "speedLimitKmh": 90}
    assert extra(seen[1]) == {"durationS": 20.0, "maxSpeedKmh": 95, "speedLimitKmh": 90}
    d0, d1 = seen[0].event.detail, seen[1].event.detail
    assert isinstance(d0, TelemetryDetail)
    assert isinstance(d1, TelemetryDetail)
    assert d0.max_speed_exceeded is True
    assert d1.max_speed_exceeded is False
    assert d0.alarm_type == 7


def test_four_seconds_over_is_not_an_episode() -> None:
    speed = lambda t: 120.0 if 10 <= t < 14 else 60.0  # noqa: E731
    assert replay(quiet(engine()), can_speed(0, 30, speed), until=30) == []


def test_tolerance_band_is_the_hysteresis() -> None:
    e = quiet(engine(speeding_tolerance_kmh=5))
    # 94 never starts (<= 95); 97 starts; 92 (over the limit, under limit+tolerance) keeps it.
    speed = lambda t: 94.0 if t < 10 else 97.0 if t < 20 else 92.0 if t < 40 else 85.0  # noqa: E731
    seen = replay(e, can_speed(0, 50, speed), until=50)
    assert kinds(seen) == [(15, STARTED), (43, ENDED)]


def test_zero_max_speed_disables_speeding() -> None:
    seen = replay(quiet(engine(max_speed_kmh=0)), can_speed(0, 30, lambda t: 250.0), until=30)
    assert seen == []


def test_raising_the_limit_at_run_time_ends_the_episode() -> None:
    e = quiet(engine())
    seen = replay(e, can_speed(0, 20, lambda t: 100.0), until=20)
    assert kinds(seen) == [(5, STARTED)]
    e.update_thresholds(e.thresholds.with_changes(max_speed_kmh=110))
    seen = replay(e, can_speed(21, 30, lambda t: 100.0), until=30, tick_from=21)
    assert kinds(seen) == [(24, ENDED)]


def test_telemetry_group_off_silences_speeding() -> None:
    e = quiet(engine(drivercoach_telemetry=False))
    assert replay(e, can_speed(0, 40, lambda t: 130.0), until=40) == []


def test_a_gnss_outage_does_not_split_an_episode() -> None:
    # GNSS is the only speed source; a 40 s tunnel at 120 km/h: the speed is unknown there,
    # not 0, so the episode neither ends in the tunnel nor starts again after it.
    fixes = [f for f in route(0, 100, 120.0) if not 30 < f.t - T0 < 70]
    seen = replay(quiet(engine()), fixes, until=100)
    assert only(seen, STARTED, ENDED) == [(5, STARTED)]
