"""The vehicle state: one place where GNSS, CAN, OBD, power and network readings are fused.

Pure: :meth:`VehicleState.apply` takes one timestamped reading, :meth:`VehicleState.advance`
moves time forward (the app's 1 s tick); nothing here reads a clock, so a replay of the same
inputs gives the same state. The state answers three consumers:

* the envelope: :meth:`VehicleState.context` (``agent.events.VehicleContext``);
* the telemetry rules (``agent.rules``): fused speed, ignition, levels, the last fix;
* the MQTT ``state`` topic: :meth:`VehicleState.state_document` (CONTRACT.md §4, seeds 003/004).

Fusion choices (docs/rules.md "Vehicle state"): speed from CAN, then OBD, while fresh, else the
GNSS fix; ignition from the ACC line, else engine speed > 0, else CAN/OBD bus activity;
odometer from the CAN total distance while fresh, else integrated GNSS distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.events import NO_CELL, ConnectionType, VehicleContext
from agent.sources.readings import (
    CellularStatus,
    FixMode,
    GnssFix,
    MotionSample,
    Signal,
    SignalReading,
    SourceHealth,
    TroubleCodes,
    TyreReading,
)
from agent.vehicle.inputs import NetworkStatus, RelayStatus, StateInput
from agent.vehicle.motion import MotionState
from agent.vehicle.odometer import GnssOdometer
from agent.vehicle.settings import FusionSettings

if TYPE_CHECKING:  # agent.rules imports this module; import its settings lazily
    from agent.rules.settings import RuleThresholds

# Sources whose readings mean "the vehicle bus is talking" (ignition inference, last resort).
BUS_SOURCES = frozenset({"can", "obd"})
# Wheel speed sources in order of preference (CONTRACT.md §1: CAN speed when available).
SPEED_SOURCES = ("can", "obd")
# Backup battery (one Li-ion cell) voltage mapped linearly to etrack's ``battery`` percent.
_CELL_EMPTY_V = 3.5
_CELL_FULL_V = 4.2


def is_valid_fix(fix: GnssFix) -> bool:
    return fix.mode >= FixMode.FIX_2D and fix.lat is not None and fix.lon is not None


def iso_utc(t: float) -> str:
    """Epoch seconds → ``2019-09-18T04:14:23Z`` (seed 003's DateTime)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    value: float
    source: str


class VehicleState:
    """Fused view of the vehicle; feed it readings in arrival order."""

    def __init__(
        self,
        thresholds: RuleThresholds | None = None,
        settings: FusionSettings | None = None,
        odometer_m: float = 0.0,
    ) -> None:
        if thresholds is None:
            from agent.rules.settings import RuleThresholds

            thresholds = RuleThresholds()
        self.thresholds = thresholds
        self.settings = settings or FusionSettings()
        self.now: float = 0.0
        self.started_t: float | None = None
        self.odometer_m = float(odometer_m)
        self.last_gnss: GnssFix | None = None
        self.last_fix: GnssFix | None = None  # last *valid* fix
        self.heading_deg: float = 0.0  # course while moving; kept while stopped
        self.network: NetworkStatus | None = None
        self.offline_since: float | None = None
        self.relay: RelayStatus | None = None
        self.source_ok: dict[str, bool] = {}
        self.trouble_codes: tuple[str, ...] = ()
        self.last_motion_t: float | None = None
        self.motion = MotionState()  # the motion sensor (IMU), when one reports
        self.cellular: CellularStatus | None = None  # the modem's last report
        self.iccid: str = ""  # the SIM's ICCID as the modem last read it
        self.tyres: dict[int, TyreReading] = {}  # by J1939 tyre location
        self._signals: dict[Signal, dict[str, Sample]] = {}
        self._last_bus_t: float | None = None
        self._can_odometer_t: float | None = None
        self._gnss_odometer = GnssOdometer(self.settings)
        self._ignition: bool | None = None
        self._ignition_since: float | None = None

    # --- input ------------------------------------------------------------------------------

    def apply(self, r: StateInput) -> None:
        """Fold one reading in; ``r.t`` becomes the state's notion of now (never goes back)."""
        self._advance_time(r.t)
        if isinstance(r, MotionSample):
            # Parked: ignition off, or unknown and not moving (gravity is learned then).
            parked = self._ignition is False or (self._ignition is None and not self.moving)
            self.motion.apply(r, parked=parked, th=self.thresholds)
        elif isinstance(r, GnssFix):
            self._apply_fix(r)
        elif isinstance(r, SignalReading):
            self._apply_signal(r)
        elif isinstance(r, TroubleCodes):
            self.trouble_codes = r.codes
        elif isinstance(r, SourceHealth):
            self.source_ok[r.source] = r.ok
            if r.source == "modem" and not r.ok:  # no modem: no network, fields unknown
                self._apply_network(NetworkStatus(r.t, online=False))
        elif isinstance(r, NetworkStatus):
            self._apply_network(r)
        elif isinstance(r, CellularStatus):
            self._apply_cellular(r)
        elif isinstance(r, TyreReading):
            self.tyres[r.location] = r
        else:
            self.relay = r
        self._update_derived(r.t)

    def _apply_network(self, r: NetworkStatus) -> None:
        if r.online:
            self.offline_since = None
        elif self.offline_since is None:
            self.offline_since = r.t
        self.network = r

    def _apply_cellular(self, r: CellularStatus) -> None:
        """The modem's report becomes the envelope's cellular fields (CONTRACT.md §1)."""
        self.cellular = r
        if r.iccid:
            self.iccid = r.iccid
        cell = r.cell if r.registered else r.cell.signal_only()
        self._apply_network(NetworkStatus(r.t, online=r.registered, cell=cell))

    def advance(self, t: float) -> None:
        """Time passes without a reading (freshness windows may expire)."""
        self._advance_time(t)
        self._update_derived(t)

    def _advance_time(self, t: float) -> None:
        if self.started_t is None:
            self.started_t = t
        self.now = max(self.now, t)

    def _apply_fix(self, fix: GnssFix) -> None:
        self.last_gnss = fix
        if not is_valid_fix(fix):
            return
        self.last_fix = fix
        moving = (
            fix.speed_mps is not None and fix.speed_mps * 3.6 > self.thresholds.stopped_speed_kmh
        )
        if fix.track is not None and moving:
            self.heading_deg = fix.track % 360.0
        if self._can_odometer_fresh(fix.t):
            self._gnss_odometer.reset()
        else:
            self.odometer_m += self._gnss_odometer.add(fix)

    def _apply_signal(self, r: SignalReading) -> None:
        if not math.isfinite(r.value):
            return
        self._signals.setdefault(r.signal, {})[r.source] = Sample(r.t, r.value, r.source)
        if r.source in BUS_SOURCES:
            self._last_bus_t = r.t
        if r.signal is Signal.TOTAL_DISTANCE_M and r.value >= 0:
            self.odometer_m = r.value
            self._can_odometer_t = r.t
            self._gnss_odometer.reset()

    def _update_derived(self, t: float) -> None:
        ign = self._resolve_ignition()
        if ign != self._ignition:
            self._ignition = ign
            self._ignition_since = t if ign is not None else None
        if self.speed_kmh > self.thresholds.stopped_speed_kmh:
            self.last_motion_t = t

    # --- fused quantities -------------------------------------------------------------------

    def sample(self, signal: Signal, source: str | None = None) -> Sample | None:
        """The latest reading of ``signal`` (from ``source`` if given, else from any source)."""
        by_source = self._signals.get(signal)
        if not by_source:
            return None
        if source is not None:
            return by_source.get(source)
        return max(by_source.values(), key=lambda s: s.t)

    def _fresh(self, s: Sample | None, window: float) -> bool:
        return s is not None and self.now - s.t <= window

    def _level(self, signal: Signal, prefer: tuple[str, ...] = ()) -> float | None:
        """A level signal: a fresh reading from a preferred source, else the latest of any."""
        for src in prefer:
            s = self.sample(signal, src)
            if self._fresh(s, self.settings.level_fresh_s):
                assert s is not None
                return s.value
        s = self.sample(signal)
        return s.value if s is not None else None

    @property
    def speed_source(self) -> str:
        """Where :attr:`speed_kmh` comes from: ``can``, ``obd``, ``gnss`` or ``none``."""
        for src in SPEED_SOURCES:
            if self._fresh(self.sample(Signal.WHEEL_SPEED_KMH, src), self.settings.speed_fresh_s):
                return src
        if self.fixed and self.last_fix is not None and self.last_fix.speed_mps is not None:
            return "gnss"
        return "none"

    @property
    def speed_kmh(self) -> float:
        src = self.speed_source
        if src == "gnss":
            assert self.last_fix is not None
            assert self.last_fix.speed_mps is not None
            return self.last_fix.speed_mps * 3.6
        if src == "none":
            return 0.0
        s = self.sample(Signal.WHEEL_SPEED_KMH, src)
        assert s is not None
        return max(0.0, s.value)

    @property
    def fixed(self) -> bool:
        """The receiver's latest report is a valid fix, and it is current."""
        g = self.last_gnss
        return g is not None and is_valid_fix(g) and self.now - g.t <= self.settings.fix_fresh_s

    def _resolve_ignition(self) -> bool | None:
        acc = self.sample(Signal.IGNITION)
        if acc is not None:  # a level line: its last value holds until it changes
            return acc.value >= 0.5
        rpm = self.sample(Signal.ENGINE_RPM)
        if self._fresh(rpm, self.settings.rpm_fresh_s):
            assert rpm is not None
            return rpm.value > 0
        if self._last_bus_t is not None:
            return self.now - self._last_bus_t <= self.settings.bus_activity_s
        return None

    @property
    def ignition(self) -> bool | None:
        """True on, False off, None when nothing tells us (no ACC line, no bus)."""
        return self._ignition

    @property
    def ignition_since(self) -> float | None:
        return self._ignition_since

    @property
    def engine_rpm(self) -> float | None:
        s = self.sample(Signal.ENGINE_RPM)
        return s.value if self._fresh(s, self.settings.rpm_fresh_s) and s is not None else None

    @property
    def vehicle_battery_v(self) -> float | None:
        return self._level(Signal.VEHICLE_BATTERY_V, self.settings.power_sources)

    @property
    def backup_battery_v(self) -> float | None:
        return self._level(Signal.BACKUP_BATTERY_V, self.settings.power_sources)

    @property
    def fuel_pct(self) -> float | None:
        return self._level(Signal.FUEL_LEVEL_PCT)

    @property
    def ev_battery_pct(self) -> float | None:
        return self._level(Signal.EV_BATTERY_PCT)

    @property
    def door_open(self) -> bool | None:
        s = self.sample(Signal.DOOR_OPEN)
        return None if s is None else s.value >= 0.5

    @property
    def doors_locked(self) -> bool | None:
        s = self.sample(Signal.DOORS_LOCKED)
        return None if s is None else s.value >= 0.5

    @property
    def moving(self) -> bool:
        return self.speed_kmh > self.thresholds.stopped_speed_kmh

    @property
    def position_lost(self) -> bool:
        if self.last_fix is None:
            return True
        return self.now - self.last_fix.t > self.thresholds.gnss_lost_after_s

    def _can_odometer_fresh(self, t: float) -> bool:
        c = self._can_odometer_t
        return c is not None and t - c <= self.settings.odometer_can_fresh_s

    # --- outputs ----------------------------------------------------------------------------

    def context(self) -> VehicleContext:
        """The envelope's vehicle fields as of now."""
        net = self.network
        vb = self.vehicle_battery_v
        bb = self.backup_battery_v
        return VehicleContext(
            fix=self.last_fix,
            fixed=self.fixed,
            heading=round(self.heading_deg) % 360,
            speed_kmh=round(self.speed_kmh),
            ignition_on=bool(self.ignition),
            odometer_m=int(self.odometer_m),
            vehicle_battery_v=round(vb, 3) if vb is not None else 0.0,
            backup_battery_v=round(bb, 3) if bb is not None else 0.0,
            cell=net.cell if net is not None else NO_CELL,
        )

    def state_document(self) -> dict[str, Any]:
        """The retained MQTT ``state`` document (CONTRACT.md §4; fields in docs/rules.md)."""
        th = self.thresholds
        ign = self.ignition
        fix = self.last_fix
        vb = self.vehicle_battery_v
        bb = self.backup_battery_v
        fuel = self.fuel_pct
        evb = self.ev_battery_pct
        net = self.network
        door = self.door_open
        locked = self.doors_locked
        since = self._ignition_since
        vb_fresh = self._fresh(
            self._sample_for_level(Signal.VEHICLE_BATTERY_V), self.settings.level_fresh_s
        )
        return {
            "timestamp": round(self.now * 1000),
            "accstatus": _tri(ign),
            "acctime": int(self.now - since) if ign is not None and since is not None else 0,
            "doorstatus": _tri(door),
            "chargestatus": _tri(
                vb >= th.charging_voltage_v if vb is not None and vb_fresh else None
            ),
            "oilpowerstatus": _tri(None if self.relay is None else not self.relay.fuel_cut),
            "defencestatus": _tri(locked),
            "battery": _cell_pct(bb) if bb is not None else -1,
            "mileage": int(self.odometer_m),
            "FuelLevelPct": round(fuel, 1) if fuel is not None else None,
            "EVBLevelPct": round(evb, 1) if evb is not None else None,
            "OdometerKm": int(self.odometer_m // 1000),
            "ServiceBattery": round(vb, 3) if vb is not None else None,
            "IgnitionVoltageLevel": round(vb * 1000) if vb is not None else None,
            "LastNetworkSignalStrengthPct": net.cell.signal_pct
            if net is not None and net.cell.signal_pct > 0
            else None,
            "LastMotion": iso_utc(self.last_motion_t) if self.last_motion_t is not None else None,
            "IsLowFuel": fuel is not None and fuel < th.low_fuel_pct,
            "IsLowEVB": evb is not None and evb < th.low_evb_pct,
            "IsLostContact": self.offline_since is not None
            and self.now - self.offline_since >= th.lost_contact_s,
            "IsPositionLost": self.position_lost,
            "IsOnTripAndMoving": bool(ign) and self.moving,
            "IsInternetWeak": net is not None
            and (
                not net.online
                or 0 < net.cell.signal_pct < th.weak_signal_pct
                or net.cell.connection_type == ConnectionType.G2
            ),
            "latitude": fix.lat if fix is not None else None,
            "longitude": fix.lon if fix is not None else None,
            "altitude": fix.alt if fix is not None else None,
            "lastTimestampOfFix": fix.epoch_ms if fix is not None else 0,
            "fixed": self.fixed,
            "speed": round(self.speed_kmh),
            "gpsHeading": round(self.heading_deg) % 360,
            "satellites": fix.satellites_used if fix is not None else 0,
            "odometer": int(self.odometer_m),
        }

    def _sample_for_level(self, signal: Signal) -> Sample | None:
        for src in self.settings.power_sources:
            s = self.sample(signal, src)
            if self._fresh(s, self.settings.level_fresh_s):
                return s
        return self.sample(signal)

    def diagnostics(self) -> dict[str, object]:
        """A dump for ``edge-agent diag`` (Home Assistant style)."""
        return {
            "now": self.now,
            "speed_kmh": round(self.speed_kmh, 2),
            "speed_source": self.speed_source,
            "ignition": self.ignition,
            "odometer_m": round(self.odometer_m, 1),
            "fixed": self.fixed,
            "source_ok": dict(self.source_ok),
            "motion": self.motion.diagnostics() if self.motion.present else None,
            "signals": {
                str(sig): {src: (s.t, s.value) for src, s in by.items()}
                for sig, by in self._signals.items()
            },
        }


def _tri(v: bool | None) -> int:
    """etrack's 1 / 0 / -1 (no such status)."""
    return -1 if v is None else int(v)


def _cell_pct(v: float) -> int:
    pct = (v - _CELL_EMPTY_V) / (_CELL_FULL_V - _CELL_EMPTY_V) * 100
    return round(min(100.0, max(0.0, pct)))
