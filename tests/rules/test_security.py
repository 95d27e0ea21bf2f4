"""Motion-sensor rules at exact seconds: collision peak, harsh from the sensor, vibration, drop,
lifted, fallen, towing by the sensor, and tamper (case switch, power cut while armed, shocks)."""

from __future__ import annotations

import math
from collections.abc import Callable

from agent.events import HardwareDetail
from agent.events import HardwareEventType as H
from agent.events import TelemetryEventType as T
from agent.rules import TelemetryEngine
from agent.sources.readings import MotionSample, Signal
from agent.vehicle.inputs import StateInput
from agent.vehicle.motion import G
from tests.rules.helpers import T0, engine, extra, kinds, only, replay, sig

HZ = 100
Vec = tuple[float, float, float]
LEVEL: Vec = (0.0, 0.0, G)


def tilted(pitch_deg: float = 0.0, roll_deg: float = 0.0) -> Vec:
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    return (G * math.sin(p), -G * math.cos(p) * math.sin(r), G * math.cos(p) * math.cos(r))


def imu(t0: float, t1: float, a: Vec | Callable[[float], Vec] = LEVEL, *,
        noise: float = 0.01) -> list[StateInput]:  # fmt: skip
    """Samples at 100 Hz from t0 (inclusive) to t1 (exclusive); ``a`` constant or f(t)."""
    out: list[StateInput] = []
    for i in range(round((t1 - t0) * HZ)):
        t = t0 + i / HZ
        x, y, z = a(t) if callable(a) else a
        n = noise if i % 2 else -noise
        out.append(MotionSample(T0 + t, x + n, y - n, z + n))
    return out


def quiet(**changes: object) -> TelemetryEngine:
    """Only the alarms under test: periodic positions off."""
    return engine(drivercoach_tracking=False, **changes)


def parked_at(t: float = 0.0) -> list[StateInput]:
    return [sig(t, Signal.IGNITION, 0.0, "gpio")]


def pulse(t0: float, peak: float, dur: float, axis: int = 0) -> Callable[[float], Vec]:
    """A half-sine acceleration pulse on one vehicle axis, on top of gravity."""

    def f(t: float) -> Vec:
        v = [0.0, 0.0, G]
        if t0 <= t < t0 + dur:
            v[axis] += peak * math.sin(math.pi * (t - t0) / dur)
        return (v[0], v[1], v[2])

    return f


# --- collision ---------------------------------------------------------------------------------


def test_a_crash_pulse_is_one_collision_with_its_peak_stamped_at_the_crossing() -> None:
    # 8 g half-sine over 100 ms, frontal (braking direction); crossing 4 g at 1/6 of the pulse.
    inputs = [*imu(0, 3, pulse(1.0, -8 * G, 0.1))]
    seen = replay(quiet(), inputs, until=3)
    assert kinds(seen) == [(1.02, T.COLLISION)]
    assert abs(float(extra(seen[0])["peakAccelerationMs2"]) - 8 * G) < 0.05  # type: ignore[arg-type]
    assert seen[0].event.detail.alarm_type == 20  # type: ignore[union-attr]


def test_a_pothole_straight_up_is_not_a_collision() -> None:
    assert replay(quiet(), imu(0, 3, pulse(1.0, 6 * G, 0.05, axis=2)), until=3) == []


# --- harsh driving from the sensor ---------------------------------------------------------------


def test_harsh_braking_from_the_sensor_once_calibrated_despite_a_tilted_box() -> None:
    p = math.radians(12)  # the box is pitched 12° nose-up
    g = tilted(pitch_deg=12)

    def braking(t: float) -> Vec:
        a = -4.0 if 20 <= t < 21 else 0.0  # 4 m/s² braking in the vehicle frame
        return (g[0] + a * math.cos(p), g[1], g[2] - a * math.sin(p))

    inputs: list[StateInput] = [*parked_at(0), sig(10, Signal.IGNITION, 1.0, "gpio")]
    inputs += [sig(t, Signal.WHEEL_SPEED_KMH, 0.0 if t < 12 else 50.0) for t in range(0, 30)]
    inputs += imu(0, 30, braking)
    e = quiet(drivercoach_telemetry=False)
    seen = replay(e, inputs, until=30)
    # the 0.2 s low-pass reaches 0.35 g (3.43 of 4 m/s²) after 0.39 s
    assert only(seen, T.HARSH_BRAKING, T.HARSH_ACCELERATION) == [(20.39, T.HARSH_BRAKING)]
    assert abs(e.state.motion.calibration.mounting_tilt_deg - 12.0) < 0.1


def test_an_uncalibrated_tilted_box_leaves_harsh_driving_to_the_speed_fallback() -> None:
    # Never parked: the sensor's 12° tilt reads as +2 m/s² "forward"; ignored until calibrated.
    g = tilted(pitch_deg=15)  # 2.5 m/s² of gravity on x: would be a harsh acceleration
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 1.0, "gpio")]
    inputs += [sig(t, Signal.WHEEL_SPEED_KMH, 50.0) for t in range(0, 10)]
    inputs += imu(0, 10, g)
    assert only(replay(quiet(), inputs, until=10), T.HARSH_ACCELERATION) == []


# --- vibration ----------------------------------------------------------------------------------


def knocks(times: list[float], ms2: float = 2.0) -> Callable[[float], Vec]:
    def f(t: float) -> Vec:
        hit = any(k <= t < k + 0.03 for k in times)
        return (ms2 if hit else 0.0, 0.0, G)

    return f


def test_vibration_while_armed_is_one_alarm_at_the_fifth_shock() -> None:
    hits = [12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0]
    inputs = [*parked_at(0), *imu(0, 40, knocks(hits))]
    seen = replay(quiet(arm_delay_s=10), inputs, until=40)
    assert kinds(seen) == [(16.0, T.VIBRATION)]
    assert extra(seen[0])["shocks"] == 5
    assert extra(seen[0])["durationS"] == 4.0
    assert seen[0].event.detail.alarm_type == 4  # type: ignore[union-attr]


def test_no_vibration_before_the_arm_delay_or_with_the_doors_unlocked() -> None:
    hits = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert replay(quiet(arm_delay_s=10), [*parked_at(0), *imu(0, 10, knocks(hits))], 10) == []
    unlocked = [*parked_at(0), sig(0, Signal.DOORS_LOCKED, 0.0, "gpio")]
    hits = [12.0, 13.0, 14.0, 15.0, 16.0, 17.0]
    assert replay(quiet(arm_delay_s=10), [*unlocked, *imu(0, 20, knocks(hits))], 20) == []


def test_continuous_shaking_counts_a_shock_every_0_2_s() -> None:
    def shaking(t: float) -> Vec:
        return (1.5 * math.sin(2 * math.pi * 25 * t) if t >= 12 else 0.0, 0.0, G)

    seen = replay(quiet(arm_delay_s=10), [*parked_at(0), *imu(0, 15, shaking)], until=15)
    assert len(seen) == 1
    assert seen[0].kind == T.VIBRATION
    assert 12.8 <= seen[0].t <= 12.9


# --- drop ----------------------------------------------------------------------------------------


def fall(t0: float, dur: float) -> Callable[[float], Vec]:
    return lambda t: (0.0, 0.0, 0.2) if t0 <= t < t0 + dur else LEVEL


def test_a_free_fall_of_0_3_s_is_a_drop_stamped_at_its_start() -> None:
    seen = replay(quiet(), imu(0, 4, fall(2.0, 0.3)), until=4)
    assert kinds(seen) == [(2.0, T.DROP)]
    assert extra(seen[0]) == {"durationS": 0.3, "heightM": 0.44, "minAccelerationMs2": 0.19}
    assert seen[0].event.detail.alarm_type == 21  # type: ignore[union-attr]


def test_a_short_dip_or_a_sensor_reading_zero_for_seconds_is_not_a_drop() -> None:
    assert replay(quiet(), imu(0, 4, fall(2.0, 0.1)), until=4) == []
    assert replay(quiet(), imu(0, 8, fall(2.0, 3.0)), until=8) == []


# --- lifted / fallen / towing ---------------------------------------------------------------


def lift(t0: float, deg: float, ramp: float = 2.0) -> Callable[[float], Vec]:
    return lambda t: tilted(pitch_deg=deg * min(1.0, max(0.0, (t - t0) / ramp)))


def test_lifted_while_armed_after_the_hold_and_once_per_episode() -> None:
    inputs = [*parked_at(0), *imu(0, 40, lift(20.0, 8.0))]
    seen = replay(quiet(arm_delay_s=10), inputs, until=40)
    # 5° reached at 21.25, the low-passed gravity (τ 0.5 s) there ~0.5 s later, + 3 s hold
    assert kinds(seen) == [(24.73, T.VEHICLE_LIFTED)]
    assert extra(seen[0])["dashboardAlert"] == "vehicle-lifted"
    assert 5.0 <= float(extra(seen[0])["tiltDeg"]) <= 8.0  # type: ignore[arg-type]


def test_getting_in_rolls_the_car_less_than_the_lifted_threshold() -> None:
    inputs = [*parked_at(0), *imu(0, 40, lambda t: tilted(roll_deg=2.0 if t >= 20 else 0.0))]
    assert replay(quiet(arm_delay_s=10), inputs, until=40) == []


def test_fallen_over_at_any_time() -> None:
    # Ignition on (a scooter in use), the sensor turns 90° onto its side at t=5.
    inputs = [sig(0, Signal.IGNITION, 1.0, "gpio"),
              *imu(0, 12, lambda t: tilted(roll_deg=90.0 if t >= 5 else 0.0))]  # fmt: skip
    seen = replay(quiet(), inputs, until=12)
    # the gravity estimate swings ≤ 2 m/s² × k per sample (shocks do not drag it): 60° after
    # ~2.2 s, + 3 s hold
    assert only(seen, T.VEHICLE_FALLEN) == [(10.22, T.VEHICLE_FALLEN)]
    assert extra(seen[-1])["dashboardAlert"] == "vehicle-fallen"
    assert seen[-1].event.detail.alarm_type == 21  # type: ignore[union-attr]


def test_towed_without_speed_is_illegal_moving_detected_by_the_sensor() -> None:
    def towed(t: float) -> Vec:
        g = tilted(pitch_deg=8.0 * min(1.0, max(0.0, (t - 20) / 2)))
        shake = 0.8 * math.sin(2 * math.pi * 7 * t) if t >= 25 else 0.0
        return (g[0] + shake, g[1] + shake, g[2])

    inputs = [*parked_at(0), *imu(0, 60, towed)]
    seen = replay(quiet(arm_delay_s=10), inputs, until=60)
    moving = only(seen, T.MOVING_IGNITION_OFF)
    assert len(moving) == 1
    assert 35 <= moving[0][0] <= 37  # shaking from 25 (first non-still block at 26) + 10 s
    tow = next(s for s in seen if s.kind == T.MOVING_IGNITION_OFF)
    assert extra(tow)["detectedBy"] == "imu"
    assert only(seen, T.VEHICLE_LIFTED) == [(24.73, T.VEHICLE_LIFTED)]


# --- tamper --------------------------------------------------------------------------------------


def test_case_opened_is_tamper_hardware_and_telemetry_after_the_debounce() -> None:
    inputs: list[StateInput] = [
        sig(0, Signal.CASE_OPEN, 0.0, "gpio"),
        sig(5.0, Signal.CASE_OPEN, 1.0, "gpio"), sig(5.2, Signal.CASE_OPEN, 0.0, "gpio"),  # bounce
        sig(10.0, Signal.CASE_OPEN, 1.0, "gpio"), sig(10.5, Signal.CASE_OPEN, 1.0, "gpio"),
    ]  # fmt: skip
    seen = replay(quiet(), inputs, until=12)
    assert kinds(seen) == [(10.5, H.TAMPER), (10.5, T.TAMPER)]
    hw = seen[0].event.detail
    assert isinstance(hw, HardwareDetail)
    assert hw.details == "tamper: case opened"
    assert extra(seen[1]) == {"cause": "case_open", "dashboardAlert": "vehicle-dismantling"}
    assert seen[1].event.detail.alarm_type == 18  # type: ignore[union-attr]


def test_power_cut_while_armed_is_tamper_but_not_while_driving() -> None:
    parked = [*parked_at(0), *(sig(t, Signal.VEHICLE_BATTERY_V, 12.6 if t < 40 else 0.0, "power")
                               for t in range(0, 50))]  # fmt: skip
    seen = replay(quiet(), parked, until=50)
    assert kinds(seen) == [(42, H.POWER_DISCONNECTED), (42, T.POWER_DISCONNECT_ALARM),
                           (42, H.TAMPER), (42, T.TAMPER)]
    assert extra(seen[3])["cause"] == "power_cut"
    driving = [sig(0, Signal.IGNITION, 1.0, "gpio"),
               *(sig(t, Signal.VEHICLE_BATTERY_V, 14.0 if t < 40 else 0.0, "power")
                 for t in range(0, 50))]  # fmt: skip
    assert kinds(replay(quiet(), driving, until=50)) == [(42, H.POWER_DISCONNECTED),
                                                         (42, T.POWER_DISCONNECT_ALARM)]


def test_strong_shocks_while_armed_are_tamper() -> None:
    inputs = [*parked_at(0), *imu(0, 20, knocks([12.0, 12.5, 13.0], ms2=25.0))]
    seen = replay(quiet(arm_delay_s=10), inputs, until=20)
    assert kinds(seen) == [(13.0, H.TAMPER), (13.0, T.TAMPER)]
    assert extra(seen[1])["cause"] == "shocks"
    assert extra(seen[1])["shocks"] == 3
