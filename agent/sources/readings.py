"""What the vehicle sources hand to the vehicle state: typed, timestamped readings.

Every reading carries ``t``: host wall-clock time in epoch seconds, read once by the I/O shell
when the bytes arrived. Pure logic downstream never reads a clock; it uses these timestamps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import cached_property

from agent.events import NO_CELL, CellLink
from agent.health import Heartbeat


class FixMode(IntEnum):
    """gpsd's TPV mode."""

    UNKNOWN = 0
    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3


@dataclass(frozen=True, slots=True)
class GnssFix:
    """One merged fix (gpsd TPV-like). ``None`` means the receiver has not told us."""

    t: float
    time_ms: int | None  # receiver UTC time, epoch ms
    mode: FixMode
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None  # metres above mean sea level
    speed_mps: float | None = None
    track: float | None = None  # degrees true, 0 north, clockwise
    climb_mps: float | None = None
    hdop: float | None = None
    vdop: float | None = None
    pdop: float | None = None
    satellites_used: int = 0
    satellites_visible: int = 0

    @property
    def epoch_ms(self) -> int:
        """When the fix was taken: the receiver's time, else the host's on arrival."""
        return self.time_ms if self.time_ms is not None else round(self.t * 1000)


class Signal(StrEnum):
    """Vehicle signals in SI-ish units named by their unit; one vocabulary for CAN, OBD and GPIO."""

    WHEEL_SPEED_KMH = "wheel_speed_kmh"
    ENGINE_RPM = "engine_rpm"
    FUEL_LEVEL_PCT = "fuel_level_pct"
    EV_BATTERY_PCT = "ev_battery_pct"
    TOTAL_DISTANCE_M = "total_distance_m"
    ENGINE_HOURS_H = "engine_hours_h"
    COOLANT_TEMP_C = "coolant_temp_c"
    VEHICLE_BATTERY_V = "vehicle_battery_v"  # supply / control-module voltage
    BACKUP_BATTERY_V = "backup_battery_v"
    IGNITION = "ignition"  # ACC line: 1 on, 0 off
    DOOR_OPEN = "door_open"  # 1 any door open
    DOORS_LOCKED = "doors_locked"
    SOS = "sos"  # 1 pressed
    ACCEL_X_MS2 = "accel_x_ms2"  # longitudinal, + forward (IMU where present)
    ACCEL_Y_MS2 = "accel_y_ms2"  # lateral, + left
    ACCEL_Z_MS2 = "accel_z_ms2"
    CASE_OPEN = "case_open"  # the device's case (tamper) switch: 1 open


@dataclass(frozen=True, slots=True)
class SignalReading:
    t: float
    signal: Signal
    value: float
    source: str  # "can", "obd", "gpio", "power", "sim"


@dataclass(frozen=True, slots=True)
class MotionSample:
    """One accelerometer (+ gyroscope) sample of the motion sensor, all axes at one instant.

    Axes are the sensor's after the installer's axis map (``[vehicle.motion] axes``): x nominally
    forward, y left, z up. The rules' mounting calibration (``agent.vehicle.motion``) corrects the
    remaining tilt from the gravity it learns while parked. Acceleration in m/s² *including*
    gravity (a level, resting sensor reads z ≈ +9.81); angular rates in rad/s, ``None`` without
    a gyroscope.
    """

    t: float
    ax: float
    ay: float
    az: float
    gx: float | None = None
    gy: float | None = None
    gz: float | None = None
    source: str = "imu"


@dataclass(frozen=True, slots=True)
class TroubleCodes:
    """OBD-II stored DTCs as read (e.g. ``("P0301",)``); empty tuple = none stored."""

    t: float
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source went down or came back (drives GNSS/CAN fault hardware events)."""

    t: float
    source: str  # the component: "gnss", "can", "obd", "power", "cam0", "cam1"
    ok: bool
    detail: str = ""


class RegistrationState(StrEnum):
    """3GPP network registration (27.007 ``+CREG``/``+CEREG`` ``<stat>``; ModemManager's names)."""

    NOT_REGISTERED = "not_registered"  # 0: not registered, not searching
    HOME = "home"  # 1
    SEARCHING = "searching"  # 2
    DENIED = "denied"  # 3
    UNKNOWN = "unknown"  # 4 (e.g. out of coverage)
    ROAMING = "roaming"  # 5

    @property
    def registered(self) -> bool:
        return self in (RegistrationState.HOME, RegistrationState.ROAMING)


@dataclass(frozen=True, slots=True)
class CellularStatus:
    """One poll of the cellular modem (``agent.sources.modem``); 0 / "" = not known.

    ``cell`` is the link as the envelope carries it (CONTRACT.md §1); its ``signal_pct`` is
    ModemManager's normalisation of ``+CSQ`` (``min(csq, 31) * 100 // 31``, 99 = unknown = 0),
    so the AT and the ModemManager backends agree. ``iccid`` is the SIM's as read now;
    ``stored_iccid`` the one the source had persisted before (``""`` = none: first SIM seen).
    """

    t: float
    registration: RegistrationState
    cell: CellLink = NO_CELL
    csq: int | None = None  # raw 27.007 <rssi> 0..31, 99 unknown (AT backend only)
    rssi_dbm: int | None = None
    operator: str = ""
    iccid: str = ""
    stored_iccid: str = ""
    source: str = "modem"

    @property
    def registered(self) -> bool:
        return self.registration.registered


@dataclass(frozen=True, slots=True)
class TyreReading:
    """One tyre from J1939 TIRE (PGN 65268); ``None`` = the field said "not available".

    ``location`` is SPN 929's byte as sent: high nibble the axle (0 = front), low nibble the
    tyre on it counted left to right. Pressure in kPa (gauge), temperature in °C, air leakage
    rate in Pa/s (SPN 2586). ``tyre_status`` is SPN 1698 (0 ok, 1 tyre leak detected, 2 error);
    ``threshold`` is SPN 2587 (0 extreme over pressure, 1 over pressure, 2 no warning,
    3 under pressure, 4 extreme under pressure, 6 error): the TPMS's own verdict.
    """

    t: float
    location: int
    pressure_kpa: float | None = None
    temperature_c: float | None = None
    leak_pa_s: float | None = None
    tyre_status: int | None = None
    threshold: int | None = None
    source: str = "can"

    @property
    def axle(self) -> int:
        return self.location >> 4

    @property
    def position(self) -> int:
        return self.location & 0x0F


Reading = (GnssFix | SignalReading | MotionSample | CellularStatus | TyreReading | TroubleCodes
           | SourceHealth)
Emit = Callable[[Reading], None]


class Source(ABC):
    """One kind of vehicle source; backends (serial, socketcan, pty-fed simulator) implement it.

    ``run`` reads until cancelled, calling ``emit`` on the event loop thread for each reading;
    blocking reads happen in a thread. A source that loses its device emits
    ``SourceHealth(ok=False)`` and keeps retrying; it never raises out of ``run`` for I/O errors.
    """

    name: str

    @abstractmethod
    async def run(self, emit: Emit) -> None: ...

    @cached_property
    def heartbeat(self) -> Heartbeat:
        """Stamped by the source's own loop each time round; the supervisor watches its age."""
        return Heartbeat()

    def diagnostics(self) -> dict[str, object]:
        """Counters for ``edge-agent diag`` (bad checksums, reconnects, ...)."""
        return {}

    def last_activity(self) -> float | None:
        """Wall time of the last useful input that is not a reading (a camera's frame); None
        when the readings tell (the component stamps those itself)."""
        return None
