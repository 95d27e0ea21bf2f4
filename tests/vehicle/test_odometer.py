"""Odometer: CAN total distance is authoritative, GNSS integration filters jitter and glitches,
the JSON store survives restarts and never leaves a torn file."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from agent.errors import StorageError
from agent.sources.readings import Signal
from agent.vehicle import FusionSettings, GnssOdometer, JsonOdometerStore, VehicleState
from agent.vehicle.geo import destination
from tests.rules.helpers import LAT0, LON0, fix, route, sig


def test_gnss_distance_of_a_1_km_drive_is_within_1_percent() -> None:
    s = VehicleState()
    for f in route(0, 100, 36.0):  # 10 m/s for 100 s
        s.apply(f)
    assert s.odometer_m == pytest.approx(1000.0, rel=0.01)


def test_a_parked_receiver_wandering_10_m_adds_nothing() -> None:
    rnd = random.Random(3)
    s = VehicleState(odometer_m=500.0)
    for t in range(3600):
        lat, lon = destination(LAT0, LON0, rnd.uniform(0, 360), rnd.uniform(0, 10))
        s.apply(fix(t, lat, lon, speed_kmh=rnd.uniform(0, 1.5), track=rnd.uniform(0, 360)))
    assert s.odometer_m == 500.0


def test_a_position_glitch_is_not_distance() -> None:
    odo = GnssOdometer(FusionSettings())
    assert odo.add(fix(0, speed_kmh=36)) == 0.0
    far = destination(LAT0, LON0, 90, 5000)
    assert odo.add(fix(1, *far, speed_kmh=36)) == 0.0  # 5 km in 1 s
    nxt = destination(*far, 0, 10)
    assert odo.add(fix(2, *nxt, speed_kmh=36)) == pytest.approx(10.0, abs=0.01)


def test_high_hdop_fixes_are_skipped() -> None:
    odo = GnssOdometer(FusionSettings())
    odo.add(fix(0, speed_kmh=36))
    assert odo.add(fix(1, *destination(LAT0, LON0, 0, 10), speed_kmh=36, hdop=9.9)) == 0.0


def test_can_total_distance_wins_and_gnss_resumes_from_it_when_can_goes_quiet() -> None:
    s = VehicleState(odometer_m=100.0)
    fixes = list(route(0, 60, 36.0))
    for f in fixes[:30]:
        s.apply(f)
        s.apply(sig(f.t - fixes[0].t, Signal.TOTAL_DISTANCE_M, 250_000.0 + 10 * (f.t - fixes[0].t)))
    assert s.odometer_m == 250_290.0  # CAN value, no GNSS added on top
    for f in fixes[30:]:
        s.apply(f)
    # CAN stale after 10 s; then GNSS integrates from the CAN value (about 200 m more).
    assert s.odometer_m == pytest.approx(250_290.0 + 200.0, abs=15.0)


def test_json_store_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    store = JsonOdometerStore(tmp_path / "state" / "odometer.json")
    assert store.load() is None
    store.save(272_347.4)
    assert JsonOdometerStore(store.path).load() == 272_347.4
    store.save(272_400.0)
    assert store.load() == 272_400.0
    assert sorted(os.listdir(store.path.parent)) == ["odometer.json"]  # no temp files left
    s = VehicleState(odometer_m=store.load() or 0.0)
    assert s.context().odometer_m == 272_400


def test_json_store_refuses_garbage(tmp_path: Path) -> None:
    p = tmp_path / "odometer.json"
    p.write_text("{not json")
    with pytest.raises(StorageError):
        JsonOdometerStore(p).load()
    p.write_text(json.dumps({"odometer_m": -5}))
    with pytest.raises(StorageError):
        JsonOdometerStore(p).load()
    with pytest.raises(ValueError, match="non-negative"):
        JsonOdometerStore(p).save(float("nan"))
