"""The telemetry engine: the one object the app feeds readings and ticks, events come out.

    engine = TelemetryEngine(thresholds, state=VehicleState(odometer_m=store.load() or 0.0),
                             host_boot_t=psutil.boot_time())
    events = engine.boot(now)            # agent started (hardware 1)
    events = engine.step(reading)        # for every reading, in arrival order
    events = engine.tick(now)            # every second, with the wall time

Each call folds the input into the vehicle state, runs every rule in a fixed order, drops the
events of drivercoach groups that are switched off, and wraps the rest in
``agent.events.Event(timestamp_ms, context=state.context(), detail)``. ``maxSpeedExceeded`` is
set on every telemetry event from the fused speed and ``MAX_SPEED_KMH``; ``TimeSinceBoot`` and
``VehicleBatteryConnected`` on every hardware event. Pure: no clock, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

from agent.events import (
    Event,
    HardwareDetail,
    HardwareEventType,
    TelemetryDetail,
    TelemetryEventType,
)
from agent.rules.base import Group, Rule, RuleOutput, telemetry
from agent.rules.geofence import GeofenceRule, GeofenceSet
from agent.rules.gnss import GnssSignalRule
from agent.rules.hardware import BatteryRule, PowerRule, SourceFaultRule
from agent.rules.harsh import CollisionRule, HarshDrivingRule
from agent.rules.motion import IdlingRule, IgnitionRule, TowingRule
from agent.rules.network import NetworkRule
from agent.rules.security import DropRule, TamperRule, TiltRule, VibrationRule
from agent.rules.settings import RuleThresholds
from agent.rules.speeding import SpeedingRule
from agent.rules.tracking import TrackingRule
from agent.rules.tyres import TyreRule
from agent.rules.vehicle_signals import DoorSosRule, FuelDropRule, OverRevRule, TroubleCodeRule
from agent.vehicle.inputs import StateInput
from agent.vehicle.state import VehicleState

T = TelemetryEventType

# Which drivercoach group switches which events; the rest are always on (security, vehicle
# status and hardware events are not coaching). docs/rules.md explains the split.
EVENT_GROUP: Final[Mapping[TelemetryEventType, Group]] = {
    T.PERIODIC_POSITION: Group.TRACKING,
    T.HARSH_ACCELERATION: Group.INERTIAL,
    T.HARSH_BRAKING: Group.INERTIAL,
    T.HARSH_CORNERING: Group.INERTIAL,
    T.COLLISION: Group.INERTIAL,
    T.SPEEDING_STARTED: Group.TELEMETRY,
    T.SPEEDING_ENDED: Group.TELEMETRY,
    T.SPEED_ZONE_ENTER: Group.TELEMETRY,
    T.SPEED_ZONE_EXIT: Group.TELEMETRY,
    T.IDLING: Group.TELEMETRY,
    T.OVER_REVVING: Group.TELEMETRY,
}


def group_enabled(th: RuleThresholds, group: Group) -> bool:
    return {
        Group.TELEMETRY: th.drivercoach_telemetry,
        Group.INERTIAL: th.drivercoach_inertial,
        Group.TRACKING: th.drivercoach_tracking,
    }[group]


def timestamp_ms(t: float) -> int:
    return round(t * 1000)


class TelemetryEngine:
    def __init__(
        self,
        thresholds: RuleThresholds | None = None,
        *,
        state: VehicleState | None = None,
        geofences: GeofenceSet | None = None,
        host_boot_t: float | None = None,
    ) -> None:
        self._th = thresholds or RuleThresholds()
        self.state = state or VehicleState(self._th)
        self.state.thresholds = self._th
        # Host boot time (epoch s) for ``TimeSinceBoot``; None = not known, report 0.
        self.host_boot_t = host_boot_t
        self._geofences = GeofenceRule(geofences)
        self._power = PowerRule()
        # Fixed order: the order of events produced by one input follows it.
        self._rules: list[Rule] = [
            SourceFaultRule(),
            self._power,
            BatteryRule(),
            IgnitionRule(),
            GnssSignalRule(),
            self._geofences,
            SpeedingRule(self._geofences.zone_limit),
            HarshDrivingRule(),
            CollisionRule(),
            TowingRule(),
            VibrationRule(),
            DropRule(),
            TiltRule(),
            TamperRule(),
            IdlingRule(),
            OverRevRule(),
            FuelDropRule(),
            DoorSosRule(),
            TroubleCodeRule(),
            TyreRule(),
            NetworkRule(),
            TrackingRule(),
        ]

    # --- configuration at run time ---------------------------------------------------------

    @property
    def thresholds(self) -> RuleThresholds:
        return self._th

    def update_thresholds(self, thresholds: RuleThresholds) -> None:
        """Apply new thresholds (a config or drivercoach order) from the next input on."""
        self._th = thresholds
        self.state.thresholds = thresholds

    def update_geofences(self, geofences: GeofenceSet) -> None:
        """Replace circles, polygons, speed zones and the network border."""
        self._geofences.update(geofences)

    # --- inputs ----------------------------------------------------------------------------

    def step(self, r: StateInput) -> list[Event]:
        """Fold one reading into the state and run the rules on it."""
        self.state.apply(r)
        th = self._th
        outs: list[RuleOutput] = []
        for rule in self._rules:
            outs += rule.on_input(r, self.state, th)
            outs += rule.on_tick(self.state.now, self.state, th)
        return self._wrap(outs)

    def tick(self, t: float) -> list[Event]:
        """Let time pass (call every second with the wall time): debounces, periods, timeouts."""
        self.state.advance(t)
        th = self._th
        outs: list[RuleOutput] = []
        for rule in self._rules:
            outs += rule.on_tick(self.state.now, self.state, th)
        return self._wrap(outs)

    def stopping(self, t: float, details: str = "") -> list[Event]:
        """The agent-stopping hardware event (SIGTERM). When the vehicle supply is cut, the box
        is going off for want of power (it ran on its backup battery, or a power-fail line
        shuts it down), which is etrack's powerOffAlarm (19): a telemetry event beside it.

        Cut = the power rule has declared the supply disconnected (hardware 3 went out), or the
        latest supply reading is already below ``power_cut_voltage_v`` though its debounce has
        not run yet (a shutdown that follows the cut within ``power_cut_debounce_s``). A stop
        with the supply present (service restart, update) is not a power off."""
        self.state.advance(t)
        outs = [RuleOutput(t, HardwareDetail(HardwareEventType.AGENT_STOPPING, details=details))]
        supply = self.state.vehicle_battery_v
        falling = supply is not None and supply < self._th.power_cut_voltage_v
        if not self._power.connected or falling:
            extra: dict[str, object] = {
                "reason": "supply disconnected" if not self._power.connected else "supply cut",
            }
            if supply is not None:
                extra["supplyV"] = round(supply, 2)
            backup = self.state.backup_battery_v
            if backup is not None:
                extra["backupV"] = round(backup, 2)
            outs.append(telemetry(t, T.POWER_OFF_ALARM, extra))
        return self._wrap(outs)

    def boot(self, t: float, details: str = "") -> list[Event]:
        """The agent-started hardware event (call once at start-up)."""
        self.state.advance(t)
        return self._wrap(
            [RuleOutput(t, HardwareDetail(HardwareEventType.AGENT_STARTED, details=details))]
        )

    def force_position(self, t: float) -> list[Event]:
        """A forced position (order ``state``): telemetryEventType 2, now."""
        self.state.advance(t)
        return self._wrap([telemetry(t, T.FORCED_POSITION)])

    def hardware_event(
        self, t: float, kind: HardwareEventType, details: str = "", original_ulid: str = ""
    ) -> Event:
        """Any other hardware event (order executed, storage fault...) with the same context."""
        self.state.advance(t)
        detail = HardwareDetail(kind, details=details, original_ulid=original_ulid)
        return self._wrap([RuleOutput(t, detail)])[0]

    # --- output ----------------------------------------------------------------------------

    def _wrap(self, outs: list[RuleOutput]) -> list[Event]:
        if not outs:
            return []
        th = self._th
        s = self.state
        ctx = s.context()
        over = th.max_speed_kmh > 0 and s.speed_kmh > th.max_speed_kmh
        events: list[Event] = []
        for o in outs:
            d = o.detail
            if isinstance(d, TelemetryDetail):
                group = EVENT_GROUP.get(d.event_type)
                if group is not None and not group_enabled(th, group):
                    continue
                d = dataclasses.replace(d, max_speed_exceeded=over)
            else:
                since_boot = 0
                if self.host_boot_t is not None:
                    since_boot = max(0, timestamp_ms(o.t - self.host_boot_t))
                d = dataclasses.replace(
                    d,
                    time_since_boot_ms=since_boot,
                    vehicle_battery_connected=self._power.connected,
                    iccid=d.iccid or s.iccid,  # the SIM the modem reads (else the config's)
                )
            events.append(Event(timestamp_ms(o.t), ctx, d))
        return events
