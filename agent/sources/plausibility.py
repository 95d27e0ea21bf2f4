"""Physical plausibility of decoded values: one table of limits, one function applying it.

A receiver or an ECU can send a frame that is perfectly well formed (valid checksum, valid DBC
range, valid PID length) and still absurd: a GGA altitude of 1e308 m, a negative speed, a
639° track, 65 V on a 12 V system. Such a value never reaches a reading: the source drops it
(the rest of the sentence or frame is kept) and counts the refusal in its ``diagnostics()``.

The limits are what a road vehicle and its sensors can physically produce, with a margin; they
are not alarm thresholds (those are in ``agent.rules.settings``). docs/gnss.md and
docs/can-obd.md list them per field. Keys are the :class:`~agent.sources.readings.Signal`
values for vehicle signals and ``gnss.*`` for the fields of a GNSS fix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agent.sources.readings import Signal


@dataclass(frozen=True, slots=True)
class Limit:
    low: float
    high: float
    unit: str


LIMITS: dict[str, Limit] = {
    # --- vehicle signals (CAN J1939, OBD-II, power/GPIO inputs) -------------------------------
    Signal.WHEEL_SPEED_KMH: Limit(0.0, 400.0, "km/h"),  # fastest road cars ~ 400 km/h
    Signal.ENGINE_RPM: Limit(0.0, 20_000.0, "rpm"),  # F1 engines rev to ~ 15,000
    Signal.FUEL_LEVEL_PCT: Limit(0.0, 100.0, "%"),
    Signal.EV_BATTERY_PCT: Limit(0.0, 100.0, "%"),
    Signal.TOTAL_DISTANCE_M: Limit(0.0, 1e10, "m"),  # 10 million km: no vehicle drives more
    Signal.ENGINE_HOURS_H: Limit(0.0, 1_000_000.0, "h"),  # 114 years of running
    Signal.COOLANT_TEMP_C: Limit(-60.0, 250.0, "°C"),  # arctic cold soak .. boiling dry
    Signal.VEHICLE_BATTERY_V: Limit(0.0, 60.0, "V"),  # 12/24 V systems, 48 V mild hybrids
    Signal.BACKUP_BATTERY_V: Limit(0.0, 60.0, "V"),
    Signal.IGNITION: Limit(0.0, 1.0, ""),
    Signal.DOOR_OPEN: Limit(0.0, 1.0, ""),
    Signal.DOORS_LOCKED: Limit(0.0, 1.0, ""),
    Signal.SOS: Limit(0.0, 1.0, ""),
    Signal.ACCEL_X_MS2: Limit(-200.0, 200.0, "m/s²"),  # ±20 g: beyond any vehicle IMU's range
    Signal.ACCEL_Y_MS2: Limit(-200.0, 200.0, "m/s²"),
    Signal.ACCEL_Z_MS2: Limit(-200.0, 200.0, "m/s²"),
    Signal.CASE_OPEN: Limit(0.0, 1.0, ""),
    # --- motion sensor samples (IIO accelerometer / gyroscope) ---------------------------------
    "imu.accel": Limit(-200.0, 200.0, "m/s²"),  # the ACCEL_* limit, per axis
    "imu.gyro": Limit(-70.0, 70.0, "rad/s"),  # ±4000 °/s: the widest MEMS gyro range
    # --- tyres (J1939 TIRE, PGN 65268) ---------------------------------------------------------
    "tyre.pressure_kpa": Limit(0.0, 1000.0, "kPa"),  # the field's own range; trucks ~900 max
    "tyre.temperature_c": Limit(-60.0, 250.0, "°C"),  # arctic cold soak .. a burning brake
    "tyre.leak_pa_s": Limit(0.0, 6425.5, "Pa/s"),
    # --- GNSS fix fields (NMEA 0183) -----------------------------------------------------------
    "gnss.lat": Limit(-90.0, 90.0, "°"),
    "gnss.lon": Limit(-180.0, 180.0, "°"),
    # Ground vehicles live between the Dead Sea shore (-430 m) and the highest roads (~5,800 m);
    # the margin covers a poor fix's vertical error.
    "gnss.alt": Limit(-1_000.0, 10_000.0, "m"),
    "gnss.geoid_sep": Limit(-150.0, 150.0, "m"),  # EGM96 spans -107 .. +86 m
    "gnss.speed_mps": Limit(0.0, 400.0 / 3.6, "m/s"),  # the wheel-speed limit, 400 km/h
    "gnss.track": Limit(0.0, 360.0, "°"),  # course over ground, degrees true
    "gnss.climb_mps": Limit(-100.0, 100.0, "m/s"),
    "gnss.dop": Limit(0.0, 99.99, ""),  # HDOP/VDOP/PDOP; 99.99 is the largest NMEA writes
    "gnss.satellites": Limit(0.0, 99.0, ""),  # GGA/GNS "satellites used" is two digits
}


def plausible(quantity: str, value: float) -> bool:
    """Whether ``value`` is within the limits of ``quantity`` (NaN and infinities never are)."""
    limit = LIMITS[quantity]
    return limit.low <= value <= limit.high


class Refusals:
    """Counts the values a source refused, per quantity, for its ``diagnostics()``."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def accept(self, quantity: str, value: float) -> bool:
        """:func:`plausible`, counting a refusal."""
        if plausible(quantity, value):
            return True
        self.counts[quantity] += 1
        return False

    @property
    def total(self) -> int:
        return self.counts.total()

    def as_dict(self) -> dict[str, int]:
        return {str(k): v for k, v in sorted(self.counts.items())}
