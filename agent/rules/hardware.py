"""Hardware events from readings: power disconnected (3) / restored (4), low vehicle battery
(5), low backup battery (6), GNSS fault (7) and CAN/OBD adapter fault (8).

* Power: the supply voltage (the ``power`` input preferred) below ``power_cut_voltage_v`` for
  ``power_cut_debounce_s`` (DESIGN-NOTES: < 5.25 V for 1-3 s) = disconnected; back at or above
  cut + ``power_restore_hysteresis_v`` for the same time = restored.
* Low battery: below the threshold (but not a power cut) for ``low_battery_debounce_s``; once
  per episode, re-armed at threshold + ``low_battery_hysteresis_v``.
* etrack alarm numbers: hardware events carry none, so power disconnected is followed (same
  timestamp) by telemetry 39 (etrack powerDisconnectAlarm, 3) and each low battery by
  telemetry 38 (lowBatteryAlarm, 2; ``battery`` vehicle / backup). Power off (etrack 19) is
  the engine's ``stopping``: the agent stopping while the supply is cut.
* Faults: a component's health going down (GNSS → 7, CAN/OBD and the power inputs → 8, each
  camera by its id → 9, driver monitoring → 10, the publisher/outbox → 11; ``Details``
  "gnss: fault: ..."), given to the rules as ``SourceHealth`` by the runtime on transitions;
  coming back after a fault gives the same type with ``Details`` "gnss: restored" (the contract
  has no separate "restored" hardware type).
"""

from __future__ import annotations

from agent.events import HardwareDetail, HardwareEventType, TelemetryEventType
from agent.rules.base import Debounce, Rule, RuleOutput, telemetry
from agent.rules.settings import RuleThresholds
from agent.sources.readings import SourceHealth
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState

# Component (health) -> hardware event for its faults. The contract has no type for the power
# and I/O inputs (ADC, GPIO) nor the motion sensor (IIO accelerometer): they are the vehicle
# interface, like the CAN/OBD adapter, so 8.
FAULT_TYPES = {
    "gnss": HardwareEventType.GNSS_FAULT,
    "can": HardwareEventType.CAN_FAULT,
    "obd": HardwareEventType.CAN_FAULT,
    "power": HardwareEventType.CAN_FAULT,
    "gpio": HardwareEventType.CAN_FAULT,
    "motion": HardwareEventType.CAN_FAULT,  # the motion sensor (IIO): a vehicle-facing input too
    "cam0": HardwareEventType.CAMERA_FAULT,
    "cam1": HardwareEventType.CAMERA_FAULT,
    "dms": HardwareEventType.MODEL_FAULT,
    "publisher": HardwareEventType.STORAGE_FAULT,
}


def hardware(t: float, kind: HardwareEventType, details: str = "") -> RuleOutput:
    return RuleOutput(t, HardwareDetail(kind, details=details))


class PowerRule(Rule):
    def __init__(self) -> None:
        self.connected = True
        self._change = Debounce()

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        v = s.vehicle_battery_v
        if v is None:
            return []
        if self.connected:
            flip = v < th.power_cut_voltage_v
        else:
            flip = v >= th.power_cut_voltage_v + th.power_restore_hysteresis_v
        if not self._change.update(t, flip, th.power_cut_debounce_s):
            return []
        self._change.reset()
        self.connected = not self.connected
        if self.connected:
            return [hardware(t, HardwareEventType.POWER_RESTORED, f"supply {v:.2f} V")]
        # etrack's powerDisconnectAlarm (3) rides on a telemetry event beside the hardware one
        return [hardware(t, HardwareEventType.POWER_DISCONNECTED, f"supply {v:.2f} V"),
                telemetry(t, TelemetryEventType.POWER_DISCONNECT_ALARM, {"supplyV": round(v, 2)})]


class _LowVoltage:
    def __init__(self, kind: HardwareEventType, label: str, battery: str) -> None:
        self.kind = kind
        self.label = label
        self.battery = battery
        self._low = Debounce()
        self._armed = True

    def check(
        self, t: float, v: float | None, low: float, *, hysteresis: float, hold: float, floor: float
    ) -> list[RuleOutput]:
        if v is None:
            return []
        if v >= low + hysteresis:
            self._armed = True
        if not self._armed:
            return []
        if not self._low.update(t, floor <= v < low, hold):
            return []
        self._armed = False
        self._low.reset()
        # etrack's lowBatteryAlarm (2), for either battery, beside the hardware event
        return [hardware(t, self.kind, f"{self.label} {v:.2f} V"),
                telemetry(t, TelemetryEventType.LOW_BATTERY_ALARM,
                          {"battery": self.battery, "voltageV": round(v, 2)})]


class BatteryRule(Rule):
    def __init__(self) -> None:
        self._vehicle = _LowVoltage(HardwareEventType.LOW_VEHICLE_BATTERY, "vehicle battery",
                                    "vehicle")
        self._backup = _LowVoltage(HardwareEventType.LOW_BACKUP_BATTERY, "backup battery",
                                   "backup")

    def on_tick(self, t: float, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        hold = th.low_battery_debounce_s
        hyst = th.low_battery_hysteresis_v
        out = self._vehicle.check(
            t,
            s.vehicle_battery_v,
            th.low_vehicle_battery_v,
            hysteresis=hyst,
            hold=hold,
            floor=th.power_cut_voltage_v,
        )
        out += self._backup.check(
            t, s.backup_battery_v, th.low_backup_battery_v, hysteresis=hyst, hold=hold, floor=0.0
        )
        return out


class SourceFaultRule(Rule):
    def __init__(self) -> None:
        self._ok: dict[str, bool] = {}

    def on_input(self, r: StateInput, s: VehicleState, th: RuleThresholds) -> list[RuleOutput]:
        if not isinstance(r, SourceHealth) or r.source not in FAULT_TYPES:
            return []
        prev = self._ok.get(r.source)
        self._ok[r.source] = r.ok
        kind = FAULT_TYPES[r.source]
        if not r.ok and prev is not False:
            detail = f"{r.source}: fault: {r.detail}" if r.detail else f"{r.source}: fault"
            return [hardware(r.t, kind, detail)]
        if r.ok and prev is False:
            return [hardware(r.t, kind, f"{r.source}: restored")]
        return []
