"""Power cut / restore, low batteries and source faults as hardware events at exact seconds."""

from __future__ import annotations

from agent.events import ETRACK_ALARM_TYPE, HardwareDetail, TelemetryDetail
from agent.events import HardwareEventType as H
from agent.events import TelemetryEventType as T
from agent.rules import RuleThresholds, TelemetryEngine
from agent.sources.readings import Signal, SourceHealth
from agent.vehicle.inputs import StateInput
from tests.rules.helpers import T0, kinds, replay, sig


def quiet(**changes: object) -> TelemetryEngine:
    th = RuleThresholds().with_changes(drivercoach_tracking=False, **changes)
    return TelemetryEngine(th, host_boot_t=T0 - 60.0)


def supply(profile: dict[int, float], until: int) -> list[StateInput]:
    v = 12.6
    out: list[StateInput] = []
    for t in range(until + 1):
        v = profile.get(t, v)
        out.append(sig(t, Signal.VEHICLE_BATTERY_V, v, "power"))
    return out


def detail(s: object) -> HardwareDetail:
    d = s.event.detail  # type: ignore[attr-defined]
    assert isinstance(d, HardwareDetail)
    return d


def test_supply_below_5_25_v_for_2_s_is_a_power_cut_and_back_is_restored() -> None:
    seen = replay(quiet(), supply({10: 0.3, 20: 12.5}, 30), until=30)
    # etrack's powerDisconnectAlarm (3) rides on a telemetry event beside the hardware one
    assert kinds(seen) == [(12, H.POWER_DISCONNECTED), (12, T.POWER_DISCONNECT_ALARM),
                           (22, H.POWER_RESTORED)]
    alarm = seen[1].event.detail
    assert isinstance(alarm, TelemetryDetail) and alarm.extra == {"supplyV": 0.3}
    assert ETRACK_ALARM_TYPE[T.POWER_DISCONNECT_ALARM] == 3
    cut, back = detail(seen[0]), detail(seen[2])
    assert cut.vehicle_battery_connected is False
    assert cut.details == "supply 0.30 V"
    assert cut.time_since_boot_ms == 72_000
    assert back.vehicle_battery_connected is True


def test_a_one_second_dip_is_not_a_power_cut() -> None:
    assert replay(quiet(), supply({10: 0.3, 11: 12.5}, 30), until=30) == []


def test_power_cut_debounce_changes_at_run_time() -> None:
    e = quiet()
    e.update_thresholds(e.thresholds.with_changes(power_cut_debounce_s=1.0))
    assert kinds(replay(e, supply({10: 0.3}, 15), until=15)) == [(11, H.POWER_DISCONNECTED),
                                                                 (11, T.POWER_DISCONNECT_ALARM)]


def test_low_vehicle_battery_after_60_s_once_per_episode_cranking_dips_ignored() -> None:
    # Cranking dip to 9.8 V for 4 s, then a sagging battery at 11.5 V from t=100, recharged at
    # t=300 (re-arms at 11.8 + 0.3 V), sagging again from t=400.
    profile = {10: 9.8, 14: 12.6, 100: 11.5, 300: 13.9, 400: 11.6}
    seen = replay(quiet(), supply(profile, 500), until=500)
    assert kinds(seen) == [(160, H.LOW_VEHICLE_BATTERY), (160, T.LOW_BATTERY_ALARM),
                           (460, H.LOW_VEHICLE_BATTERY), (460, T.LOW_BATTERY_ALARM)]
    assert detail(seen[0]).details == "vehicle battery 11.50 V"
    alarm = seen[1].event.detail
    assert isinstance(alarm, TelemetryDetail)
    assert alarm.extra == {"battery": "vehicle", "voltageV": 11.5}
    assert alarm.alarm_type == 2  # etrack lowBatteryAlarm


def test_low_backup_battery() -> None:
    cells = [sig(t, Signal.BACKUP_BATTERY_V, 4.1 if t < 50 else 3.4, "power") for t in range(200)]
    seen = replay(quiet(), cells, until=200)
    assert kinds(seen) == [(110, H.LOW_BACKUP_BATTERY), (110, T.LOW_BATTERY_ALARM)]
    assert seen[1].event.detail.extra["battery"] == "backup"  # type: ignore[union-attr]


def test_stopping_with_the_supply_cut_is_a_power_off_alarm_and_with_it_not() -> None:
    e = quiet()
    replay(e, supply({10: 0.3}, 15), until=15)  # the vehicle supply is cut
    stopping = e.stopping(T0 + 16)
    assert [type(s.detail).__name__ for s in stopping] == ["HardwareDetail", "TelemetryDetail"]
    assert stopping[0].detail.event_type == H.AGENT_STOPPING  # type: ignore[union-attr]
    power_off = stopping[1].detail
    assert isinstance(power_off, TelemetryDetail)
    assert power_off.event_type == T.POWER_OFF_ALARM and power_off.alarm_type == 19
    assert power_off.extra == {"reason": "supply disconnected", "supplyV": 0.3}
    assert stopping[1].timestamp_ms == stopping[0].timestamp_ms == round((T0 + 16) * 1000)
    healthy = quiet()
    replay(healthy, supply({}, 5), until=5)
    assert [s.detail.event_type for s in healthy.stopping(T0 + 6)] == [H.AGENT_STOPPING]


def test_a_shutdown_within_the_cut_debounce_is_still_a_power_off_with_the_backup_voltage() -> None:
    # The supply drops to 0.3 V at t=10 and a power-fail line shuts the box down at t=11, before
    # the 2 s debounce declares the cut: no hardware 3 / telemetry 39, but power off (19).
    e = quiet()
    inputs = [*supply({10: 0.3}, 10), sig(10, Signal.BACKUP_BATTERY_V, 3.95, "power")]
    assert kinds(replay(e, inputs, until=11)) == []
    stopping = e.stopping(T0 + 11)
    assert [s.detail.event_type for s in stopping] == [H.AGENT_STOPPING, T.POWER_OFF_ALARM]
    power_off = stopping[1].detail
    assert isinstance(power_off, TelemetryDetail) and power_off.alarm_type == 19
    assert power_off.extra == {"reason": "supply cut", "supplyV": 0.3, "backupV": 3.95}
    # the hardware event still says what the power rule had decided: connected
    assert isinstance(stopping[0].detail, HardwareDetail)
    assert stopping[0].detail.vehicle_battery_connected is True
    # a low but live supply (a flat 12 V battery at 9 V) is not a power off
    weak = quiet()
    replay(weak, supply({0: 9.0}, 10), until=10)
    assert [s.detail.event_type for s in weak.stopping(T0 + 11)] == [H.AGENT_STOPPING]


def test_source_faults_and_restores() -> None:
    health = [
        SourceHealth(T0 + 0, "gnss", True),
        SourceHealth(T0 + 5, "gnss", False, "/dev/ttyACM0 vanished"),
        SourceHealth(T0 + 6, "gnss", False, "still gone"),
        SourceHealth(T0 + 9, "can", False),
        SourceHealth(T0 + 15, "gnss", True),
        SourceHealth(T0 + 16, "camera", False),  # no component of that name
    ]
    seen = replay(quiet(), health, until=20)
    assert [(s.t, s.kind, detail(s).details) for s in seen] == [
        (5, H.GNSS_FAULT, "gnss: fault: /dev/ttyACM0 vanished"),
        (9, H.CAN_FAULT, "can: fault"),
        (15, H.GNSS_FAULT, "gnss: restored"),
    ]


def test_each_camera_power_inputs_and_storage_fault_by_their_own_component() -> None:
    health = [
        SourceHealth(T0 + 1, "cam1", True),  # coming up at start is no news
        SourceHealth(T0 + 2, "cam0", False, "cam0: cannot open /dev/video0"),
        SourceHealth(T0 + 3, "cam1", False, "cam1: stalled"),
        SourceHealth(T0 + 4, "power", False, "acc: FileNotFoundError"),
        SourceHealth(T0 + 7, "cam0", True, "cam0: capturing"),
        SourceHealth(T0 + 8, "publisher", False, "crashed"),
        SourceHealth(T0 + 9, "dms", False, "crashed"),
    ]
    seen = replay(quiet(), health, until=10)
    assert [(s.t, s.kind, detail(s).details) for s in seen] == [
        (2, H.CAMERA_FAULT, "cam0: fault: cam0: cannot open /dev/video0"),
        (3, H.CAMERA_FAULT, "cam1: fault: cam1: stalled"),
        (4, H.CAN_FAULT, "power: fault: acc: FileNotFoundError"),
        (7, H.CAMERA_FAULT, "cam0: restored"),
        (8, H.STORAGE_FAULT, "publisher: fault: crashed"),
        (9, H.MODEL_FAULT, "dms: fault: crashed"),
    ]
