"""Mounting calibration and motion features (agent.vehicle.motion): pure, at exact seconds."""

from __future__ import annotations

import math

import pytest

from agent.rules import RuleThresholds
from agent.sources.readings import MotionSample, Signal, SignalReading
from agent.vehicle.motion import G, MotionState, angle_deg, apply, rotation_to_up
from agent.vehicle.state import VehicleState

T0 = 1_700_000_000.0
TH = RuleThresholds()


def tilted(pitch_deg: float = 0.0, roll_deg: float = 0.0) -> tuple[float, float, float]:
    """What a resting accelerometer reads when pitched nose-up / rolled left by these angles."""
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    return (G * math.sin(p), -G * math.cos(p) * math.sin(r), G * math.cos(p) * math.cos(r))


def feed(m: MotionState, t0: float, t1: float, a: tuple[float, float, float], *,
         parked: bool = True, hz: int = 100, noise: float = 0.01) -> None:  # fmt: skip
    for i in range(round((t1 - t0) * hz)):
        n = noise if i % 2 else -noise
        m.apply(MotionSample(T0 + t0 + i / hz, a[0] + n, a[1] - n, a[2] + n), parked=parked, th=TH)


@pytest.mark.parametrize("g", [(0, 0, 1), (1, 0, 0), (0, -1, 0), (0.3, -0.2, 0.9), (0.1, 0, -1),
                               (0, 0, -1)])  # fmt: skip
def test_rotation_to_up_maps_gravity_onto_z(g: tuple[float, float, float]) -> None:
    r = rotation_to_up(g)
    up = apply(r, g)
    assert angle_deg(up, (0.0, 0.0, 1.0)) < 1e-6
    # a rotation: lengths kept
    v = (0.4, -1.3, 2.2)
    assert math.isclose(math.dist((0, 0, 0), apply(r, v)), math.dist((0, 0, 0), v))


def test_a_tilt_keeps_the_installers_heading() -> None:
    # Pitched 10° nose-up: forward stays in the x-z plane, left stays y.
    r = rotation_to_up(tilted(pitch_deg=10))
    fx, fy, _ = apply(r, (1.0, 0.0, 0.0))
    assert fy == pytest.approx(0.0, abs=1e-12)
    assert fx == pytest.approx(math.cos(math.radians(10)))
    assert apply(r, (0.0, 1.0, 0.0)) == pytest.approx((0.0, 1.0, 0.0))


def test_gravity_is_learned_while_parked_and_still_and_removes_the_mounting_tilt() -> None:
    m = MotionState()
    g = tilted(pitch_deg=10, roll_deg=-4)
    feed(m, 0, 4.5, g)  # 5 s of still 1 s blocks are needed: the 5th closes at 5.0
    assert not m.calibration.calibrated
    feed(m, 4.5, 6.5, g)
    assert m.calibration.calibrated
    assert m.park_ref_t == pytest.approx(T0 + 5.0, abs=0.011)
    assert m.calibration.mounting_tilt_deg == pytest.approx(10.76, abs=0.05)
    # A level, resting vehicle now reads no forward/left acceleration and 1 g up.
    assert (m.forward, m.left) == pytest.approx((0.0, 0.0), abs=0.05)
    assert m.up == pytest.approx(G, abs=0.05)
    # 3 m/s² of braking in the vehicle frame, seen through the tilted box, comes back as -3.
    p = math.radians(10)
    brake = (-3.0 * math.cos(p), 0.0, 3.0 * math.sin(p))
    m.apply(MotionSample(T0 + 7, g[0] + brake[0], g[1], g[2] + brake[2]), parked=False, th=TH)
    assert m.forward == pytest.approx(-3.0, abs=0.15)


def test_no_learning_while_driving_or_shaking() -> None:
    m = MotionState()
    feed(m, 0, 10, tilted(pitch_deg=10), parked=False)
    assert not m.calibration.calibrated
    assert m.still  # still, but not parked
    feed(m, 10, 20, tilted(pitch_deg=10), parked=True, noise=1.0)  # a shaking parked vehicle
    assert not m.calibration.calibrated
    assert not m.still
    assert m.activity_ms2 > 0.5


def test_the_mounting_averages_parks_but_the_tilt_reference_is_this_parks() -> None:
    m = MotionState()
    feed(m, 0, 7, tilted(pitch_deg=4))  # park 1 on a 4° slope
    feed(m, 7, 8, tilted(), parked=False)  # a drive (a park ends)
    feed(m, 8, 16, tilted(pitch_deg=-4))  # park 2 on a -4° slope
    assert m.calibration.parks == 2
    assert m.calibration.mounting_tilt_deg == pytest.approx(0.0, abs=0.1)  # slopes average out
    assert m.park_ref is not None
    assert angle_deg(m.park_ref, tilted(pitch_deg=-4)) < 0.1
    assert m.tilt_from_park_deg == pytest.approx(0.0, abs=0.1)
    feed(m, 16, 20, tilted(pitch_deg=4))  # lifted at the front by 8°
    assert m.tilt_from_park_deg == pytest.approx(8.0, abs=0.1)
    assert m.park_ref is not None
    assert angle_deg(m.park_ref, tilted(pitch_deg=-4)) < 0.1  # not re-learned within the park


def test_dynamic_acceleration_sees_a_knock_in_any_direction() -> None:
    m = MotionState()
    feed(m, 0, 2, tilted(), noise=0.0)
    m.apply(MotionSample(T0 + 2, 0.0, 1.2, G), parked=True, th=TH)  # a sideways knock
    assert m.dynamic == pytest.approx(1.2, abs=0.01)
    assert m.magnitude == pytest.approx(math.hypot(1.2, G))


def test_vehicle_state_feeds_the_motion_state_with_parked_from_the_ignition() -> None:
    s = VehicleState()
    s.apply(SignalReading(T0, Signal.IGNITION, 0.0, "gpio"))
    for i in range(700):
        s.apply(MotionSample(T0 + i / 100, 0.0, 0.0, G))
    assert s.motion.calibration.calibrated
    s2 = VehicleState()
    s2.apply(SignalReading(T0, Signal.IGNITION, 1.0, "gpio"))
    for i in range(700):
        s2.apply(MotionSample(T0 + i / 100, 0.0, 0.0, G))
    assert not s2.motion.calibration.calibrated
    diag = s.diagnostics()["motion"]
    assert isinstance(diag, dict)
    assert diag["calibrated"] is True
