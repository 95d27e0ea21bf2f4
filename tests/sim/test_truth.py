"""The simulated vehicle follows its route and plan with bounded accelerations."""

from __future__ import annotations

import itertools

import pytest

from agent.sim import Scenario, simulate
from agent.vehicle.geo import haversine_m

ROUTE = [(43.2389, 76.8897), (43.2480, 76.8897), (43.2480, 76.9100), (43.2300, 76.9100)]


def drive(**kw: object) -> Scenario:
    base: dict[str, object] = {
        "duration_s": 400, "route": ROUTE,
        "plan": [{"t": 0, "ignition": True}, {"t": 5, "speed_kmh": 60}],
    }  # fmt: skip
    return Scenario.model_validate({**base, **kw})


def test_the_route_is_followed_through_every_waypoint() -> None:
    samples = list(simulate(drive(), dt=0.1))
    for wp in ROUTE[1:3]:
        closest = min(haversine_m(s.lat, s.lon, *wp) for s in samples)
        assert closest < 80, (wp, closest)  # corners are cut by the turning radius, no more


def test_turns_and_speed_changes_stay_within_the_drivers_limits() -> None:
    sc = drive()
    samples = list(simulate(sc, dt=0.1))
    assert max(abs(s.accel_lat) for s in samples) <= sc.lateral_ms2 + 1e-6
    assert max(abs(s.accel_long) for s in samples) <= 1.5 + 1e-6
    assert samples[-1].speed_kmh == pytest.approx(60.0)


def test_odometer_is_the_distance_travelled() -> None:
    samples = list(simulate(drive(vehicle={"odometer_km": 1000.0}), dt=0.1))
    path = sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(samples))
    assert samples[-1].odometer_m - 1_000_000 == pytest.approx(path, rel=1e-3)


def test_harsh_manoeuvres_and_windows() -> None:
    sc = drive(
        harsh=[{"t": 100, "kind": "brake", "ms2": 5.0, "duration_s": 2},
               {"t": 200, "kind": "corner", "ms2": 4.0, "duration_s": 3, "direction": "left"}],
        gnss_outage=[{"start": 50, "end": 60, "mode": "jammed"}],
        power_cut=[{"start": 70, "end": 80}],
        unplug=[{"source": "can", "start": 90, "end": 95}],
        dtc=[{"t": 120, "codes": ["P0420"]}, {"t": 30, "codes": ["P0301"]}],
    )  # fmt: skip
    at = {round(s.t, 1): s for s in simulate(sc, dt=0.1)}
    assert at[101.0].accel_long == -5.0
    assert at[201.0].accel_lat == pytest.approx(4.0)  # left = positive
    assert (at[49.9].gnss, at[50.0].gnss, at[60.0].gnss) == ("ok", "jammed", "ok")
    assert (at[69.9].supply_v, at[70.0].supply_v) == (14.1, 0.0)
    assert at[92.0].unplugged == frozenset({"can"})
    assert (at[29.9].dtcs, at[30.0].dtcs, at[150.0].dtcs) == ((), ("P0301",), ("P0420",))
