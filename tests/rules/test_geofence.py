"""Circle and polygon geofences, the network border and speed zones, driven through at exact seconds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.events import TelemetryEventType as T
from agent.rules import (
    BorderActions,
    CircleGeofence,
    GeofenceSet,
    NetworkBorder,
    PolygonGeofence,
    SpeedZone,
    TelemetryEngine,
)
from agent.vehicle.geo import destination
from tests.rules.helpers import LAT0, LON0, engine, extra, fix, kinds, replay, route

ENTER, EXIT = T.GEOFENCE_ENTER, T.GEOFENCE_EXIT
V = 36.5  # km/h = 10.139 m/s due north from (LAT0, LON0)


def north(m: float, east: float = 0.0) -> tuple[float, float]:
    lat, lon = destination(LAT0, LON0, 0.0, m)
    return destination(lat, lon, 90.0, east) if east else (lat, lon)


def rect(south_m: float, north_m: float, half_width_m: float) -> list[tuple[float, float]]:
    return [north(south_m, -half_width_m), north(north_m, -half_width_m),
            north(north_m, half_width_m), north(south_m, half_width_m)]  # fmt: skip


def quiet(fences: GeofenceSet, **changes: object) -> TelemetryEngine:
    e = engine(drivercoach_tracking=False, drivercoach_inertial=False, **changes)
    e.update_geofences(fences)
    return e


def circle(alarmtype: int = 2, radius: int = 200) -> CircleGeofence:
    lat, lon = north(1000)
    return CircleGeofence(id="depot", name="Depot", latitude=lat, longitude=lon,
                          radius=radius, alarmtype=alarmtype)  # type: ignore[arg-type]  # fmt: skip


def test_driving_through_a_circle_enters_inside_and_exits_20_m_outside() -> None:
    seen = replay(quiet(GeofenceSet(circles=[circle()])), route(0, 150, V), until=150)
    assert kinds(seen) == [(79, ENTER), (121, EXIT)]
    assert extra(seen[0]) == {"geofenceId": "depot", "geofenceName": "Depot"}
    assert seen[0].event.detail.alarm_type == 5  # type: ignore[union-attr]
    assert seen[1].event.detail.alarm_type == 6  # type: ignore[union-attr]


@pytest.mark.parametrize(("alarmtype", "expected"), [(0, [(121, EXIT)]), (1, [(79, ENTER)])])
def test_alarmtype_0_reports_exit_only_and_1_entry_only(alarmtype: int, expected: object) -> None:
    fences = GeofenceSet(circles=[circle(alarmtype)])
    assert kinds(replay(quiet(fences), route(0, 150, V), until=150)) == expected


def test_starting_inside_is_learnt_silently() -> None:
    fences = GeofenceSet(circles=[circle()])
    start = north(1000)
    assert kinds(replay(quiet(fences), route(0, 30, V, start=start), until=30)) == [(22, EXIT)]


def test_a_fix_wandering_on_the_boundary_does_not_chatter() -> None:
    c = circle()
    jitter = [5.0, -8.0, 12.0, -3.0, 15.0, -10.0, 8.0, -1.0] * 8  # metres outside r (< 0 in)
    fixes = [fix(t, *north(1000 - c.radius - j)) for t, j in enumerate(jitter)]
    seen = replay(quiet(GeofenceSet(circles=[c])), fixes, until=len(jitter))
    assert kinds(seen) == [(1, ENTER)]


def test_leaving_the_network_border_polygon_is_event_22_with_the_border_actions() -> None:
    actions = BorderActions(reduce_vehicle_speed=True, lock_vehicle=True)
    fences = GeofenceSet(border=NetworkBorder(shape=rect(-500, 500, 500), actions=actions))
    seen = replay(quiet(fences), route(0, 80, V), until=80)
    assert kinds(seen) == [(52, T.LEFT_NETWORK_BORDER)]
    assert extra(seen[0])["borderActions"] == {
        "trigger_alert": True, "notify_user": False, "reduce_vehicle_speed": True,
        "play_vehicle_sound": False, "lock_vehicle": True,
    }  # fmt: skip
    assert seen[0].event.detail.alarm_type == 6  # type: ignore[union-attr]


def test_polygon_geofence_enter_and_exit() -> None:
    fences = GeofenceSet(polygons=[PolygonGeofence(id="yard", shape=rect(200, 400, 300))])
    seen = replay(quiet(fences), route(0, 60, V), until=60)
    assert kinds(seen) == [(20, ENTER), (42, EXIT)]


def test_speed_zone_enter_exit_and_speeding_against_the_zone_limit() -> None:
    zone = SpeedZone(id="school", shape=rect(200, 400, 300), max_speed=20)
    seen = replay(quiet(GeofenceSet(zones=[zone])), route(0, 60, V), until=60)
    assert kinds(seen) == [
        (20, T.SPEED_ZONE_ENTER), (25, T.SPEEDING_STARTED), (42, T.SPEED_ZONE_EXIT),
        (45, T.SPEEDING_ENDED),
    ]  # fmt: skip
    assert extra(seen[0]) == {"speedZoneId": "school", "maxSpeedKmh": 20}
    assert extra(seen[1]) == {"speedKmh": 36, "speedLimitKmh": 20, "speedZoneId": "school"}
    # Below MAX_SPEED_KMH, so the envelope flag stays false even while speeding in the zone.
    assert seen[1].event.detail.max_speed_exceeded is False  # type: ignore[union-attr]


def test_replacing_the_fences_keeps_the_side_of_unchanged_ones() -> None:
    e = quiet(GeofenceSet(circles=[circle()]))
    assert kinds(replay(e, route(0, 100, V), until=100)) == [(79, ENTER)]
    yard = PolygonGeofence(id="yard", shape=rect(900, 1100, 300))  # vehicle is inside it
    e.update_geofences(GeofenceSet(circles=[circle()], polygons=[yard]))
    seen = replay(e, route(101, 150, V, start=north(V / 3.6 * 101)), until=150, tick_from=101)
    assert [(k, extra(s)["geofenceId"]) for s, (_, k) in zip(seen, kinds(seen), strict=True)] == [
        (EXIT, "yard"), (EXIT, "depot"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        lambda: CircleGeofence(id="c", latitude=0, longitude=0, radius=99),
        lambda: CircleGeofence(id="c", latitude=0, longitude=0, radius=5001),
        lambda: CircleGeofence(id="c", latitude=0, longitude=0, radius=500, alarmtype=3),
        lambda: CircleGeofence(id="c", latitude=95, longitude=0, radius=500),
        lambda: PolygonGeofence(id="p", shape=[(0, 0), (0, 1), (0, 0)]),
        lambda: SpeedZone(id="z", shape=[(0, 0), (0, 1), (1, 1)], max_speed=30),
        lambda: SpeedZone(id="z", shape=[(0, 0), (0, 1), (1, 1)], max_speed=5),
    ],
)
def test_out_of_range_fences_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        bad()  # type: ignore[operator]
