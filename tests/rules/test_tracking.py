"""Periodic positions at exact seconds: first fix, Teltonika time/distance/heading/speed triggers."""

from __future__ import annotations

from agent.events import TelemetryEventType as T
from tests.rules.helpers import engine, extra, fix, kinds, only, replay, route


def test_first_fix_is_recorded_then_hourly_while_stopped() -> None:
    e = engine()
    fixes = [fix(t) for t in range(0, 7300, 5)]
    seen = replay(e, fixes, until=7295)
    assert only(seen, T.PERIODIC_POSITION) == [
        (0, T.PERIODIC_POSITION), (3600, T.PERIODIC_POSITION), (7200, T.PERIODIC_POSITION),
    ]  # fmt: skip
    assert [extra(s)["trigger"] for s in seen] == ["first_fix", "time", "time"]


def test_no_fix_at_all_still_reports_hourly() -> None:
    seen = replay(engine(), [], until=3700)
    assert kinds(seen) == [(3600, T.PERIODIC_POSITION)]
    assert seen[0].event.context.fixed is False


def test_moving_records_every_100_m() -> None:
    seen = replay(engine(), route(0, 45, 36.5), until=45)
    assert kinds(seen) == [(t, T.PERIODIC_POSITION) for t in (0, 10, 20, 30, 40)]
    assert [extra(s)["trigger"] for s in seen] == ["first_fix"] + ["distance"] * 4


def test_moving_with_only_the_time_trigger_records_every_300_s() -> None:
    e = engine(tracking_distance_m=0, tracking_heading_deg=0, tracking_speed_change_kmh=0)
    seen = replay(e, route(0, 700, 50.0), until=700)
    assert kinds(seen) == [(t, T.PERIODIC_POSITION) for t in (0, 300, 600)]


def test_heading_change_of_10_degrees_records_at_once() -> None:
    e = engine(tracking_distance_m=0, tracking_speed_change_kmh=0)
    heading = lambda t: 0.0 if t < 20 else 9.0 if t < 40 else 19.5  # noqa: E731
    seen = replay(e, route(0, 60, 50.0, heading=heading), until=60)
    assert kinds(seen) == [(0, T.PERIODIC_POSITION), (40, T.PERIODIC_POSITION)]
    assert extra(seen[1])["trigger"] == "heading"


def test_heading_is_ignored_at_walking_pace() -> None:
    e = engine(tracking_distance_m=0, tracking_speed_change_kmh=0)
    heading = lambda t: (t * 37) % 360  # noqa: E731 - course noise at 5 km/h
    seen = replay(e, route(0, 60, 5.0, heading=heading), until=60)
    assert kinds(seen) == [(0, T.PERIODIC_POSITION)]


def test_speed_change_of_10_kmh_records() -> None:
    e = engine(tracking_distance_m=0, tracking_heading_deg=0, drivercoach_inertial=False)
    speed = lambda t: 30.0 if t < 10 else 39.0 if t < 20 else 41.0  # noqa: E731
    seen = replay(e, route(0, 30, speed), until=30)
    assert kinds(seen) == [(0, T.PERIODIC_POSITION), (20, T.PERIODIC_POSITION)]
    assert extra(seen[1])["trigger"] == "speed"


def test_tracking_group_off_silences_periodic_positions_until_switched_back_on() -> None:
    e = engine(drivercoach_tracking=False)
    seen = replay(e, route(0, 30, 36.5), until=30)
    assert seen == []
    e.update_thresholds(e.thresholds.with_changes(drivercoach_tracking=True))
    seen = replay(e, route(31, 45, 36.5), until=45, tick_from=31)
    assert only(seen, T.PERIODIC_POSITION) != []
