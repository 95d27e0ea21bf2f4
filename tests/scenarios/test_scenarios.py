"""Scenarios end to end: simulator → real ptys → real GNSS/CAN/power sources → state → rules.

Each test asserts the exact sequence of (non-periodic) events with their key fields, checks
each one happened within 1.5 scenario seconds of where the same scenario puts it without the
ptys (``agent.sim.pure``, the agent's own parser and decoder at ideal timestamps), and that
periodic positions kept flowing. Accelerated 25x: ~10 s of wall time per scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.events import Event
from agent.sim import Scenario, load_scenario, run_scenario
from tests.scenarios.harness import DATA, Row, is_periodic, run_live

pytestmark = pytest.mark.timeout(120)


def rows(events: list[Event], sc: Scenario) -> list[Row]:
    return [Row.of(e, sc) for e in events if not is_periodic(e)]


def check_against_pure(live: list[Event], sc: Scenario) -> list[Row]:
    """Same kinds and key fields in the same order as the pure path, each within 1.5 s."""
    pure = run_scenario(sc)
    got, want = rows(live, sc), rows(pure, sc)
    assert [(r.kind, r.key) for r in got] == [(r.kind, r.key) for r in want]
    for g, w in zip(got, want, strict=True):
        assert abs(g.t - w.t) <= 1.5, (g, w)
    n_live = sum(map(is_periodic, live))
    n_pure = sum(map(is_periodic, pure))
    assert abs(n_live - n_pure) <= max(3, n_pure // 10), (n_live, n_pure)
    return got


async def test_city_drive_over_real_ptys(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "city_drive.toml")
    live, player = await run_live(sc, tmp_path)
    got = check_against_pure(live, sc)
    assert [(r.kind, r.key) for r in got] == [
        ("AGENT_STARTED", "simulated scenario city drive"),
        ("IGNITION_ON", ""),
        ("HARSH_BRAKING", ""),
        ("SPEEDING_STARTED", "{'speedLimitKmh': 90}"),
        ("SPEEDING_ENDED", "{'speedLimitKmh': 90}"),
        ("GNSS_LOST", ""),
        ("GNSS_RESTORED", ""),
        ("DOOR_OPENED", ""),
        ("DOOR_CLOSED", ""),
        ("OVER_REVVING", ""),
        ("IGNITION_OFF", ""),
    ]
    by_kind = {r.kind: r.t for r in got}
    assert 100 <= by_kind["HARSH_BRAKING"] <= 102
    assert 189 <= by_kind["GNSS_LOST"] <= 191  # outage from 180 + 10 s debounce
    # The odometer came from the CAN high-resolution distance, started at the scenario's value.
    last = live[-1].context
    assert 120_345_500 + 2_500 < last.odometer_m < 120_345_500 + 4_000
    assert player.ports.nmea is not None
    assert player.ports.nmea.dropped_bytes == 0


async def test_unplug_replug_and_power_cut_over_real_ptys(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "faults.toml")
    live, _ = await run_live(sc, tmp_path)
    got = check_against_pure(live, sc)
    assert [(r.kind, r.key) for r in got] == [
        ("AGENT_STARTED", "simulated scenario faults"),
        ("GNSS_FAULT", "gnss: fault"),
        ("GNSS_LOST", ""),
        ("GNSS_FAULT", "gnss: restored"),
        ("GNSS_RESTORED", ""),
        ("CAN_FAULT", "can: fault"),
        ("CAN_FAULT", "can: restored"),
        ("POWER_DISCONNECTED", "supply 0.00 V"),
        ("POWER_DISCONNECT_ALARM", ""),
        ("POWER_RESTORED", "supply 14.10 V"),
        ("IGNITION_OFF", ""),
        ("MOVING_IGNITION_OFF", ""),
    ]
    by_kind = {r.kind: r.t for r in reversed(got)}  # first occurrence of each kind
    assert 40 <= by_kind["GNSS_FAULT"] <= 41.5  # unplugged at 40
    assert 116 <= by_kind["POWER_DISCONNECTED"] <= 118.5  # cut at 115 + 2 s debounce
    cut = next(e for e in live if Row.of(e, sc).kind == "POWER_DISCONNECTED")
    assert cut.detail.vehicle_battery_connected is False  # type: ignore[union-attr]


async def test_obd_car_trouble_codes_and_fuel_theft_over_a_real_elm327_pty(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "obd_car.toml")
    live, player = await run_live(sc, tmp_path)
    got = check_against_pure(live, sc)
    assert [(r.kind, r.key) for r in got] == [
        ("AGENT_STARTED", "simulated scenario obd car"),
        ("OBD_TROUBLE_CODE", "{'dtc': 'P0301'}"),
        ("OBD_TROUBLE_CODE", "{'dtc': 'P0420'}"),
        ("IGNITION_OFF", ""),
        ("IGNITION_ON", ""),
        ("FUEL_DROP", ""),
        ("IGNITION_OFF", ""),
    ]
    assert player.ports.obd is not None
    assert b"ATZ" in player.ports.obd.commands
    assert b"03" in player.ports.obd.commands  # the DTCs were read with mode 03
    speeds = [
        e.context.speed_kmh for e in live if 10 <= e.timestamp_ms / 1000 - sc.start_epoch <= 50
    ]
    assert speeds
    assert max(speeds) == 50  # the speed came from OBD PID 0D (no CAN on this car)


# --- the motion sensor (issue 10): simulated IIO device → buffered records → MotionSource ------
# At 10x (not 25x): 100 Hz becomes 1000 records a second of wall time, and the source's stall
# timeout (4 scenario s) 0.4 s of wall time, which a loaded CI box must not hit by accident.
MOTION_SPEEDUP = 10.0


async def test_a_crash_pulse_is_a_collision_through_the_iio_buffer(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "crash.toml")
    live, player = await run_live(sc, tmp_path, speedup=MOTION_SPEEDUP)
    got = check_against_pure(live, sc)
    assert [(r.kind, r.key) for r in got] == [
        ("AGENT_STARTED", "simulated scenario crash"),
        ("IGNITION_ON", ""),
        ("COLLISION", ""),
        ("HARSH_BRAKING", ""),  # the crash pulse is also a (very) harsh deceleration
    ]
    crash = next(e for e in live if Row.of(e, sc).kind == "COLLISION")
    assert abs(crash.timestamp_ms / 1000 - sc.start_epoch - 50.02) < 0.05
    peak = crash.detail.extra["peakAccelerationMs2"]  # type: ignore[union-attr]
    assert 75 < peak < 80  # 8 g through a 12-bit ±16 g converter
    assert crash.detail.alarm_type == 20  # type: ignore[union-attr]
    assert player.ports.motion is not None
    assert player.ports.motion.written_records > 6000  # 70 s at 100 Hz (from the first read)


async def test_a_parked_car_towed_away_is_lifted_then_illegal_moving(tmp_path: Path) -> None:
    sc = load_scenario(DATA / "towed.toml")
    live, _ = await run_live(sc, tmp_path, speedup=MOTION_SPEEDUP)
    got = check_against_pure(live, sc)
    assert [(r.kind, r.key) for r in got] == [
        ("AGENT_STARTED", "simulated scenario towed"),
        ("VIBRATION", ""),
        ("VEHICLE_LIFTED", ""),
        ("MOVING_IGNITION_OFF", "{'detectedBy': 'imu'}"),  # before the GNSS speed says so
    ]
    alerts = [e.detail.extra.get("dashboardAlert") for e in live  # type: ignore[union-attr]
              if Row.of(e, sc).kind == "VEHICLE_LIFTED"]  # fmt: skip
    assert alerts == ["vehicle-lifted"]


async def test_a_dropped_box_is_a_drop_and_its_case_and_sensor_faults_are_seen(
    tmp_path: Path,
) -> None:
    sc = load_scenario(DATA / "box.toml")
    live, _ = await run_live(sc, tmp_path, speedup=MOTION_SPEEDUP)
    got = check_against_pure(live, sc)
    assert [(r.kind, r.key) for r in got] == [
        ("AGENT_STARTED", "simulated scenario box"),
        ("DROP", ""),
        ("TAMPER", "tamper: case opened"),
        ("TAMPER", "{'cause': 'case_open'}"),
        ("CAN_FAULT", "motion: fault"),
        ("CAN_FAULT", "motion: restored"),
    ]
    drop = next(e for e in live if Row.of(e, sc).kind == "DROP")
    assert drop.detail.extra["heightM"] == pytest.approx(0.78, abs=0.05)  # type: ignore[union-attr]
    assert drop.detail.alarm_type == 21  # type: ignore[union-attr]
