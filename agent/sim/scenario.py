"""The scenario file: a drive described by a route, a timed plan and incidents (TOML or JSON).

Times are scenario seconds from ``start``. Example (docs/rules.md has the full reference)::

    name = "city loop"
    start = "2024-03-12T08:00:00Z"
    duration_s = 600
    route = [[43.2389, 76.8897], [43.2480, 76.8897], [43.2480, 76.9050]]

    [vehicle]
    odometer_km = 120345.5
    fuel_pct = 62.0

    [[plan]]            # from t on: ignition and target speed (reached at accel_ms2)
    t = 5
    ignition = true
    [[plan]]
    t = 20
    speed_kmh = 50

    [[harsh]]           # a manoeuvre: accel / brake / corner at ms2 for duration_s
    t = 120
    kind = "brake"
    ms2 = 4.5
    duration_s = 2

    [[gnss_outage]]     # no_fix: receiver reports "no fix"; silent: says nothing;
    start = 200         # jammed: every satellite gone at once
    end = 230
    mode = "no_fix"

    [[power_cut]]       # supply voltage falls to 0 V
    start = 400
    end = 420

    [[unplug]]          # a source's serial device disappears and comes back
    source = "gnss"
    start = 300
    end = 320

    [[dtc]]             # stored trouble codes from t on
    t = 250
    codes = ["P0301"]

    [motion]            # the vehicle has a motion sensor (IIO accelerometer + gyroscope)
    rate_hz = 100
    mount_pitch_deg = 7 # how the box sits in the vehicle (the agent learns it while parked)

    [[impact]]          # a crash pulse: half-sine of ms2 peak for duration_s, the blow coming
    t = 130             # from direction_deg (0 front, 90 left, 180 rear, 270 right)
    ms2 = 60
    duration_s = 0.1

    [[tilt]]            # the vehicle tilts (pitch + nose up, roll + left side up), ramping in
    start = 500         # from start and out from end over ramp_s
    end = 560
    pitch_deg = 8
    ramp_s = 2

    [[vibration]]       # shaking (towing, someone at the car) of ms2 amplitude at hz
    start = 505
    end = 560
    ms2 = 0.8

    [[drop]]            # free fall for duration_s (the box falls), then the landing
    t = 600
    duration_s = 0.4

    [[case_open]]       # the device's case switch is open
    start = 650
    end = 700
    modem = true        # a cellular modem the agent polls over AT commands
    [cellular]          # its radio conditions outside the windows below
    csq = 20
    rat = "4g"
    [[coverage]]        # none: not registered (searching); weak: registered at csq
    start = 100
    end = 200
    mode = "none"

    [tyres]             # TIRE (PGN 65268) frames for axles x 2 tyres (0: no TPMS)
    axles = 2
    pressure_kpa = 820
    [[tyre_leak]]       # a tyre losing air from t on (SPN 2586 reports the rate)
    t = 60
    location = 0x01
    kpa_per_min = 12
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.errors import ConfigError

LatLng = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VehicleSpec(_Model):
    odometer_km: float = Field(0.0, ge=0)
    fuel_pct: float = Field(60.0, ge=0, le=100)
    battery_v: float = Field(12.6, ge=0, le=32)  # engine off
    charging_v: float = Field(14.1, ge=0, le=32)  # engine running (alternator)
    backup_v: float = Field(4.1, ge=0, le=5)  # the device's own Li-ion cell
    idle_rpm: float = Field(750.0, ge=0)
    rpm_per_kmh: float = Field(28.0, ge=0)  # crude single-gear model: rpm = idle + k * speed
    altitude_m: float = 800.0
    satellites: int = Field(10, ge=0, le=32)
    hdop: float = Field(0.9, gt=0)
    fuel_l_per_100km: float = Field(9.0, ge=0)
    tank_l: float = Field(60.0, gt=0)


class PlanStep(_Model):
    t: float = Field(ge=0)
    ignition: bool | None = None
    speed_kmh: float | None = Field(None, ge=0, le=250)
    accel_ms2: float = Field(1.5, gt=0, le=15)  # how fast the speed moves to the target
    # Engine speed override (e.g. revving while parked); -1 = back to the speed model.
    rpm: float | None = Field(None, ge=-1)
    door_open: bool | None = None
    locked: bool | None = None  # central locking (armed when parked with the ignition off)
    sos: bool | None = None
    fuel_pct: float | None = Field(None, ge=0, le=100)  # jump (refuel / theft)


class Harsh(_Model):
    t: float = Field(ge=0)
    kind: Literal["accel", "brake", "corner"]
    ms2: float = Field(gt=0, le=50)
    duration_s: float = Field(gt=0, le=30)
    direction: Literal["left", "right"] = "right"  # corners only


class Window(_Model):
    start: float = Field(ge=0)
    end: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class GnssOutage(Window):
    mode: Literal["no_fix", "silent", "jammed"] = "no_fix"


class Unplug(Window):
    source: Literal["gnss", "can", "obd", "motion"]


class MotionSpec(_Model):
    rate_hz: float = Field(100.0, ge=1, le=2000)
    mount_pitch_deg: float = Field(0.0, ge=-90, le=90)
    mount_roll_deg: float = Field(0.0, ge=-180, le=180)
    noise_ms2: float = Field(0.02, ge=0, le=5)  # white noise per axis (MEMS ~0.02 at 100 Hz)
    seed: int = 1


class Impact(_Model):
    t: float = Field(ge=0)
    ms2: float = Field(gt=0, le=1000)
    duration_s: float = Field(0.1, gt=0, le=2)
    direction_deg: float = Field(0.0, ge=0, lt=360)


class Tilt(Window):
    pitch_deg: float = Field(0.0, ge=-180, le=180)
    roll_deg: float = Field(0.0, ge=-180, le=180)
    ramp_s: float = Field(2.0, ge=0, le=600)


class Vibration(Window):
    ms2: float = Field(1.0, gt=0, le=100)
    hz: float = Field(7.0, gt=0, le=500)


class Drop(_Model):
    t: float = Field(ge=0)
    duration_s: float = Field(0.4, gt=0, le=5)


class Dtc(_Model):
    t: float = Field(ge=0)
    codes: list[str]


class CellularSpec(_Model):
    """The modem's radio conditions outside ``coverage`` windows (agent.sim.modem.CellState)."""

    csq: int = Field(20, ge=0, le=31)
    rat: Literal["2g", "3g", "4g", "5g"] = "4g"
    mcc: int = Field(401, ge=0, le=999)
    mnc: int = Field(1, ge=0, le=999)
    lac: int = Field(0x1A2B, ge=0, le=0xFFFFFF)
    cell_id: int = Field(0x01C2D3E4, ge=0, le=0xFFFFFFFFF)
    timing_advance: int = Field(3, ge=0, le=255)
    iccid: str = Field("89860012345678901234", pattern=r"^\d{18,22}$")


class Coverage(Window):
    mode: Literal["none", "weak"] = "none"
    csq: int = Field(3, ge=0, le=31)  # the signal during the window


class TyreSpec(_Model):
    axles: int = Field(0, ge=0, le=8)  # 2 tyres per axle, locations 0xA0 / 0xA1 (A = axle)
    pressure_kpa: float = Field(820.0, ge=0, le=1000)
    temperature_c: float = Field(40.0, ge=-40, le=150)


class TyreLeak(_Model):
    t: float = Field(ge=0)
    location: int = Field(ge=0, le=0xFF)
    kpa_per_min: float = Field(gt=0, le=1000)
    floor_kpa: float = Field(0.0, ge=0, le=1000)  # the pressure it settles at


class Scenario(_Model):
    name: str = "scenario"
    start: datetime = datetime(2024, 3, 12, 8, 0, 0, tzinfo=UTC)
    duration_s: float = Field(gt=0, le=7 * 86400)
    route: list[LatLng] = Field(min_length=1)
    loop: bool = False  # drive the route again from the first point at its end
    lateral_ms2: float = Field(2.0, gt=0, le=10)  # how hard the driver corners on the route
    gnss_hz: float = Field(1.0, gt=0, le=20)
    can_hz: float = Field(10.0, gt=0, le=100)  # also the simulation step
    can: bool = True  # the vehicle has an FMS gateway the agent reads over SLCAN
    obd: bool = False  # ... and an OBD port the agent polls through an ELM327
    obd_poll_s: float = Field(0.5, gt=0, le=60)  # pure path: OBD PID round period
    obd_dtc_interval_s: float = Field(0.5, gt=0, le=3600)  # pure path: mode 03 period
    vehicle: VehicleSpec = VehicleSpec()
    plan: list[PlanStep] = []
    harsh: list[Harsh] = []
    gnss_outage: list[GnssOutage] = []
    power_cut: list[Window] = []
    unplug: list[Unplug] = []
    dtc: list[Dtc] = []
    motion: MotionSpec | None = None  # a motion sensor (docs/motion.md)
    impact: list[Impact] = []
    tilt: list[Tilt] = []
    vibration: list[Vibration] = []
    drop: list[Drop] = []
    case_open: list[Window] = []
    modem: bool = False  # the vehicle's box has a cellular modem on an AT port
    modem_poll_s: float = Field(1.0, gt=0, le=3600)  # pure path: one AT round this often
    cellular: CellularSpec = CellularSpec()
    coverage: list[Coverage] = []
    tyres: TyreSpec = TyreSpec()
    tyre_leak: list[TyreLeak] = []

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @field_validator("plan")
    @classmethod
    def _sorted(cls, v: list[PlanStep]) -> list[PlanStep]:
        return sorted(v, key=lambda p: p.t)

    @field_validator("dtc")
    @classmethod
    def _dtc_sorted(cls, v: list[Dtc]) -> list[Dtc]:
        return sorted(v, key=lambda d: d.t)

    @property
    def start_epoch(self) -> float:
        return self.start.timestamp()


def load_scenario(path: Path) -> Scenario:
    """Read a ``.toml`` or ``.json`` scenario; one readable line on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return Scenario.model_validate(data)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: {loc}: {first['msg']}") from None
        raise ConfigError(f"{path}: {exc}") from None
