"""Harsh acceleration / braking / cornering and collision, from the IMU and from the fallbacks."""

from __future__ import annotations

from agent.events import TelemetryEventType as T
from agent.rules import TelemetryEngine
from agent.sources.readings import Signal, SignalReading
from agent.vehicle.inputs import StateInput
from tests.rules.helpers import engine, extra, kinds, only, replay, route, sig

ACC, BRK, CRN, COL = T.HARSH_ACCELERATION, T.HARSH_BRAKING, T.HARSH_CORNERING, T.COLLISION


def coach_only(**changes: object) -> TelemetryEngine:
    """Inertial events only (tracking and telemetry groups off), IMU filter off unless given."""
    base: dict[str, object] = {
        "drivercoach_tracking": False, "drivercoach_telemetry": False, "imu_filter_tau_s": 0.0,
    }  # fmt: skip
    return engine(**{**base, **changes})


def driving(t0: int, t1: int, speed: float = 50.0, rpm: float = 1800) -> list[SignalReading]:
    return [
        r for t in range(t0, t1 + 1)
        for r in (sig(t, Signal.ENGINE_RPM, rpm), sig(t, Signal.WHEEL_SPEED_KMH, speed))
    ]  # fmt: skip


def imu(t0: float, t1: float, ax: float = 0.0, ay: float = 0.0, hz: int = 50) -> list[StateInput]:
    n = round((t1 - t0) * hz)
    out: list[StateInput] = []
    for i in range(n):
        t = t0 + i / hz
        out += [sig(t, Signal.ACCEL_X_MS2, ax, "imu"), sig(t, Signal.ACCEL_Y_MS2, ay, "imu")]
    return out


def test_imu_acceleration_pulse_is_one_event_stamped_at_the_crossing() -> None:
    inputs = [*driving(0, 10), *imu(0, 3), *imu(3, 3.5, ax=3.0), *imu(3.5, 6)]
    seen = replay(coach_only(), inputs, until=10)
    assert kinds(seen) == [(3.0, ACC)]
    assert extra(seen[0]) == {"peakAccelerationMs2": 3.0, "durationS": 0.5}


def test_imu_braking_and_cornering_both_directions() -> None:
    inputs = [
        *driving(0, 10, speed=60),
        *imu(0, 2), *imu(2, 2.4, ax=-4.0), *imu(2.4, 4),
        *imu(4, 4.6, ay=3.2), *imu(4.6, 6), *imu(6, 6.6, ay=-3.2), *imu(6.6, 8),
    ]  # fmt: skip
    assert kinds(replay(coach_only(), inputs, until=10)) == [(2.0, BRK), (4.0, CRN), (6.0, CRN)]


def test_imu_filter_rejects_a_50_ms_pothole_but_keeps_a_real_manoeuvre() -> None:
    e = coach_only(imu_filter_tau_s=0.2)
    bump = [*driving(0, 10), *imu(0, 2), *imu(2, 2.05, ax=6.0), *imu(2.05, 4)]
    assert replay(e, bump, until=10) == []
    e = coach_only(imu_filter_tau_s=0.2)
    real = [*driving(0, 10), *imu(0, 2), *imu(2, 3, ax=4.0), *imu(3, 5)]
    seen = replay(e, real, until=10)
    assert [k for _, k in kinds(seen)] == [ACC]
    assert 2.0 < seen[0].t < 2.3  # the filtered value crosses 2.45 m/s² after ~0.19 s


def test_no_harsh_events_below_10_kmh_or_with_the_ignition_off() -> None:
    slow = [*driving(0, 10, speed=8), *imu(0, 2), *imu(2, 2.5, ax=-5.0), *imu(2.5, 4)]
    assert replay(coach_only(), slow, until=10) == []
    off = [*driving(0, 10, rpm=0), *imu(0, 2), *imu(2, 2.5, ax=-5.0), *imu(2.5, 4)]
    assert only(replay(coach_only(), off, until=10), ACC, BRK, CRN) == []


def test_cornering_needs_30_kmh() -> None:
    inputs = [*driving(0, 10, speed=25), *imu(0, 2), *imu(2, 2.5, ay=4.0), *imu(2.5, 4)]
    assert replay(coach_only(), inputs, until=10) == []


def test_braking_from_the_can_speed_derivative_without_imu() -> None:
    # 72 km/h, then -4 m/s per second for 3 s (0.41 g), then steady.
    speed = dict.fromkeys(range(0, 20), 72.0)
    for i, t in enumerate(range(11, 14), start=1):
        speed[t] = 72.0 - 14.4 * i
    for t in range(14, 20):
        speed[t] = speed[13]
    inputs = [
        r for t in range(0, 20)
        for r in (sig(t, Signal.ENGINE_RPM, 1500), sig(t, Signal.WHEEL_SPEED_KMH, speed[t]))
    ]  # fmt: skip
    seen = replay(coach_only(), inputs, until=20)
    assert kinds(seen) == [(11, BRK)]
    assert extra(seen[0]) == {"peakAccelerationMs2": 4.0, "durationS": 3.0}


def test_acceleration_from_gnss_speed_when_there_is_no_can() -> None:
    speed = lambda t: 20.0 if t < 10 else 20.0 + 10.0 * min(t - 9, 3)  # noqa: E731 (+2.8 m/s²)
    seen = replay(coach_only(), route(0, 20, speed), until=20)
    assert kinds(seen) == [(10, ACC)]


def test_cornering_from_gnss_course_rate_times_speed() -> None:
    # 50 km/h turning 15 deg/s for 4 s: 13.9 m/s x 0.262 rad/s = 3.6 m/s² (> 0.3 g).
    heading = lambda t: 0.0 if t < 10 else min(t - 10, 4) * 15.0  # noqa: E731
    seen = replay(coach_only(), route(0, 20, 50.0, heading=heading), until=20)
    assert kinds(seen) == [(11, CRN)]
    assert extra(seen[0])["peakAccelerationMs2"] == 3.64
    # The same turn at 20 km/h is below the cornering speed gate.
    assert replay(coach_only(), route(0, 20, 20.0, heading=heading), until=20) == []


def test_collision_fires_at_once_then_is_quiet_for_the_refractory_period() -> None:
    inputs = [*imu(0, 1), *imu(1, 1.02, ax=-45.0), *imu(1.02, 5), *imu(5, 5.02, ay=42.0),
              *imu(5.02, 12), *imu(12, 12.02, ax=50.0)]  # fmt: skip
    seen = replay(coach_only(), inputs, until=13)
    assert kinds(seen) == [(1.0, COL), (12.0, COL)]
    assert extra(seen[0]) == {"peakAccelerationMs2": 45.0}


def test_inertial_group_off_silences_harsh_and_collision() -> None:
    e = coach_only(drivercoach_inertial=False)
    inputs = [*driving(0, 10), *imu(0, 2), *imu(2, 3, ax=5.0), *imu(3, 4, ax=45.0)]
    assert replay(e, inputs, until=10) == []
