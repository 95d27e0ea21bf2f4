"""The engine as the app sees it: boot, forced positions, run-time thresholds, determinism."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from agent.events import (
    DeviceIdentity,
    HardwareDetail,
    HardwareEventType,
    TelemetryDetail,
    to_envelope,
)
from agent.events import TelemetryEventType as T
from agent.rules import EVENT_GROUP, Group, RuleThresholds, TelemetryEngine
from agent.sources.readings import Signal
from agent.vehicle.inputs import StateInput
from tests.rules.helpers import T0, fix, kinds, replay, route, sig


def test_boot_event_carries_time_since_host_boot() -> None:
    e = TelemetryEngine(host_boot_t=T0 - 42.5)
    [ev] = e.boot(T0, "edge-agent 0.1.0")
    assert isinstance(ev.detail, HardwareDetail)
    assert ev.detail.event_type is HardwareEventType.AGENT_STARTED
    assert ev.detail.time_since_boot_ms == 42_500
    assert ev.detail.details == "edge-agent 0.1.0"
    assert ev.timestamp_ms == round(T0 * 1000)


def test_forced_position_is_not_switched_off_by_drivercoach() -> None:
    th = RuleThresholds(drivercoach_tracking=False, drivercoach_telemetry=False)
    e = TelemetryEngine(th)
    e.step(fix(0, speed_kmh=20))
    [ev] = e.force_position(T0 + 1)
    assert isinstance(ev.detail, TelemetryDetail)
    assert ev.detail.event_type is T.FORCED_POSITION
    assert ev.context.fixed is True
    assert ev.context.speed_kmh == 20


def test_max_speed_exceeded_flag_follows_max_speed_kmh_on_every_telemetry_event() -> None:
    e = TelemetryEngine(RuleThresholds(max_speed_kmh=50))
    [ev] = e.step(fix(0, speed_kmh=60))  # first fix → periodic position
    assert isinstance(ev.detail, TelemetryDetail)
    assert ev.detail.max_speed_exceeded is True
    env = to_envelope(ev, DeviceIdentity("862798050833538", "01GXRRKM43W02X5JZDSMZHAJJY"), 1)
    assert env["telemetryEvent"] == {
        "telemetryEventType": 1, "maxSpeedExceeded": True, "alarmType": 0, "trigger": "first_fix",
    }  # fmt: skip
    assert env["speed"] == 60


def test_thresholds_refuse_out_of_range_values_at_run_time() -> None:
    th = RuleThresholds()
    with pytest.raises(ValidationError):
        th.with_changes(max_speed_kmh=301)
    with pytest.raises(ValidationError):
        th.max_speed_kmh = -1
    with pytest.raises(ValidationError):
        th.with_changes(harsh_braking_ms2=0.1)
    with pytest.raises(ValidationError):
        th.with_changes(low_vehicle_battery_v=5.0)  # not above the power-cut voltage
    with pytest.raises(ValidationError):
        th.with_changes(no_such_key=1)
    assert th.max_speed_kmh == 90


def test_every_group_switch_maps_to_events() -> None:
    assert set(EVENT_GROUP.values()) == set(Group)
    for always_on in (
        T.IGNITION_ON,
        T.SOS,
        T.GEOFENCE_EXIT,
        T.LEFT_NETWORK_BORDER,
        T.MOVING_IGNITION_OFF,
        T.GNSS_LOST,
        T.OBD_TROUBLE_CODE,
        T.FORCED_POSITION,
    ):
        assert always_on not in EVENT_GROUP  # fmt: skip


def test_switching_inertial_off_and_on_again_mid_drive() -> None:
    th = RuleThresholds(drivercoach_tracking=False, imu_filter_tau_s=0.0)
    e = TelemetryEngine(th)

    def brake(t: int) -> list[StateInput]:
        return [sig(t + i / 10, Signal.ACCEL_X_MS2, -5.0 if i < 5 else 0.0, "imu")
                for i in range(10)]  # fmt: skip

    base: list[StateInput] = [
        r for t in range(0, 40)
        for r in (sig(t, Signal.ENGINE_RPM, 1500), sig(t, Signal.WHEEL_SPEED_KMH, 60))
    ]  # fmt: skip
    seen = replay(e, [*base[:20], *brake(5)], until=9)
    assert kinds(seen) == [(5, T.HARSH_BRAKING)]
    e.update_thresholds(e.thresholds.with_changes(drivercoach_inertial=False))
    assert replay(e, [*base[20:40], *brake(12)], until=19, tick_from=10) == []
    e.update_thresholds(e.thresholds.with_changes(drivercoach_inertial=True))
    seen = replay(e, [*base[40:], *brake(25)], until=39, tick_from=20)
    assert kinds(seen) == [(25, T.HARSH_BRAKING)]


def test_replay_of_the_same_inputs_gives_the_same_events() -> None:
    rnd = random.Random(7)
    inputs: list[StateInput] = [sig(0, Signal.IGNITION, 1, "gpio")]
    inputs += route(0, 900, lambda t: max(0.0, 60 + 40 * rnd.uniform(-1, 1)) if t > 30 else 0.0,
                    heading=lambda t: (t * 3) % 360)  # fmt: skip
    inputs += [sig(t, Signal.VEHICLE_BATTERY_V, 0.0 if 400 < t < 410 else 13.8, "power")
               for t in range(900)]  # fmt: skip

    def run() -> list[tuple[object, ...]]:
        seen = replay(TelemetryEngine(), inputs, until=900)
        return [(s.t, s.kind, s.event.detail, s.event.context) for s in seen]

    first = run()
    assert len(first) > 20
    assert run() == first
