"""Tunables of the sensor fusion (freshness windows, odometer jitter filter), in seconds/metres.

These are properties of the installation rather than fleet policy, so they are not config-order
keys; the telemetry thresholds that fleets change live in ``agent.rules.settings``. Every
window has an upper bound of an hour (older data is not "fresh" by any reading).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agent.section import StrictModel

Window = Annotated[float, Field(gt=0, le=3600)]  # seconds: > 0, at most an hour


class FusionSettings(StrictModel):
    # CAN/OBD wheel speed is preferred while its last reading is at most this old. CCVS comes
    # every 100 ms and an ELM327 poll loop answers in ~1 s, so 3 s means "the source stopped".
    speed_fresh_s: Window = 3.0
    # Engine speed counts for ignition inference while at most this old.
    rpm_fresh_s: Window = 5.0
    # Voltages, fuel and EV battery levels count as current while at most this old.
    level_fresh_s: Window = 30.0
    # Any CAN/OBD reading within this window = bus active = ignition on (last resort). FMS
    # broadcasts every 0.1-1 s and an ELM327 poll cycle takes ~1-2 s; 10 s rides out stalls.
    bus_activity_s: Window = 10.0
    # The envelope's ``fixed`` is true while the last valid fix is at most this old.
    fix_fresh_s: Window = 3.0
    # The CAN total distance is authoritative while at most this old; GNSS integrates otherwise.
    odometer_can_fresh_s: Window = 10.0
    # GNSS odometer jitter filter (Traccar-like): fixes with HDOP above this are skipped ...
    odometer_max_hdop: float = Field(5.0, gt=0, le=100)
    # ... distance is added in steps of at least this many metres ...
    odometer_min_step_m: float = Field(5.0, ge=0, le=1000)
    # ... while the fix speed is below this, movement within odometer_still_radius_m is jitter ...
    odometer_min_speed_kmh: float = Field(3.0, ge=0, le=100)
    odometer_still_radius_m: float = Field(30.0, ge=0, le=1000)
    # ... and a jump implying more than this speed is a glitch, not distance.
    odometer_max_speed_kmh: float = Field(300.0, gt=0, le=400)
    # Readings from these sources are the "power" supply input (preferred for the supply V).
    power_sources: tuple[str, ...] = ("power", "gpio")
