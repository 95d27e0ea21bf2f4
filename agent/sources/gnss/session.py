"""Mutable state of the NMEA merger: the fix being built, the previous fixes and the clock state.

It mirrors the parts of gpsd's ``struct gps_device_t`` that decide the reported fix, under the
same names where that helps reading the two side by side. NaN means "not known" inside the
state machine; the public :class:`~agent.sources.readings.GnssFix` uses ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from agent.sources.plausibility import Refusals

NAN = math.nan

# Bits of the per-sentence change mask (gpsd's gps_mask_t, only the bits that matter here),
# lowest first. Not named after a fix field: ERRORS = error estimates (GBS, PGRME, PSRFEPE),
# data but not fix fields; OTHER = any other data (GST, oscillator, magnetic track, ...);
# CLEAR = first sentence of a new epoch, start the fix afresh; REPORT = the epoch's fix is
# ready to report; VNED = north/east/down velocity.
(ONLINE, TIME, LATLON, ALTITUDE, SPEED, TRACK, CLIMB, STATUS, MODE, DOP, USED, SATELLITE,
 ATTITUDE, ERRORS, OTHER, CLEAR, REPORT, VNED) = (1 << bit for bit in range(18))

MODE_NOT_SEEN = 0
MODE_NO_FIX = 1
MODE_2D = 2
MODE_3D = 3

MAX_CHANNELS = 185  # gpsd MAXCHANNELS: satellites kept per sky view


class Ned(NamedTuple):
    """Velocity north, east and down in m/s (gpsd ``fix.NED``); NaN = not known."""

    north: float = NAN
    east: float = NAN
    down: float = NAN


NO_NED = Ned()


@dataclass(slots=True)
class Fix:
    """One fix under construction (gpsd ``struct gps_fix_t``, the fields reported here)."""

    time_ns: int = 0  # receiver UTC, Unix ns; 0 = unknown
    mode: int = MODE_NOT_SEEN
    lat: float = NAN
    lon: float = NAN
    alt_msl: float = NAN
    alt_hae: float = NAN
    geoid_sep: float = NAN
    speed: float = NAN
    track: float = NAN
    climb: float = NAN
    ned: Ned = NO_NED

    def copy(self) -> Fix:
        return Fix(self.time_ns, self.mode, self.lat, self.lon, self.alt_msl, self.alt_hae,
                   self.geoid_sep, self.speed, self.track, self.climb, self.ned)

    def has_alt(self) -> bool:
        return math.isfinite(self.alt_msl) or math.isfinite(self.alt_hae)


def _known(value: float, otherwise: float) -> float:
    return value if math.isfinite(value) else otherwise


@dataclass(slots=True)
class Dops:
    """Dilutions of precision (GGA, GNS, GSA, PSRFEPE); NaN = not said."""

    hdop: float = NAN
    vdop: float = NAN
    pdop: float = NAN

    def over(self, previous: Dops) -> Dops:
        """These DOPs, each filled in from ``previous`` where not known."""
        return Dops(_known(self.hdop, previous.hdop), _known(self.vdop, previous.vdop),
                    _known(self.pdop, previous.pdop))


@dataclass(slots=True)
class Session:
    """Everything the sentence decoders read or write."""

    century: int = 2000
    newdata: Fix = field(default_factory=Fix)  # what the current sentence says
    fix: Fix = field(default_factory=Fix)  # the epoch's merged fix
    lastfix: Fix = field(default_factory=Fix)  # last merged fix that had a time
    oldfix: Fix = field(default_factory=Fix)  # last fix of the previous epoch
    # receiver date/time as gpsd keeps it (struct tm conventions; tm_year 0 = no date yet)
    tm_year: int = 0
    tm_mon: int = 0
    tm_mday: int = 0
    tm_hour: int = 0
    tm_min: int = 0
    tm_sec: int = 0
    nsec: int = 0
    # end-of-cycle detection
    this_frac_time: float = 0.0
    last_frac_time: float = 0.0
    latch_frac_time: bool = False
    lasttag: str = ""
    cycle_enders: set[str] = field(default_factory=set)
    cycle_continue: bool = False
    cycle_end_reliable: bool = False
    gsx_more: bool = False
    # GGA non-advancing time detection
    last_gga_talker: str = ""
    last_gga_timestamp: str = ""
    latch_mode: bool = False
    gga_sats_used: int = 0
    # DOPs and satellites (not part of the fix; they survive the start of an epoch)
    dops: Dops = field(default_factory=Dops)
    # the previous epoch's DOPs: reported until this epoch's GSA arrives (gpsd's SKY would
    # show none meanwhile), so a fix reported at GGA does not lose its PDOP/VDOP
    prev_dops: Dops = field(default_factory=Dops)
    satellites_used: int = 0
    satellites_visible: int = 0
    sky_azimuths: list[float] = field(default_factory=list)
    last_gsa_talker: str = ""
    last_gsv_talker: str = ""
    end_gsv_talker: str = ""  # talker of the last GSV group before other sentences
    gsv_part: int = 0
    gsv_await: int = 0
    seen_gsa: set[str] = field(default_factory=set)  # talker letters (2nd char) seen on GSA
    seen_gsv: set[str] = field(default_factory=set)
    # decoded values outside agent.sources.plausibility.LIMITS, dropped and counted here
    refusals: Refusals = field(default_factory=Refusals)

    def carry_dops(self) -> None:
        """A new epoch starts: this epoch's DOPs become the previous ones (gpsd clears them)."""
        self.prev_dops, self.dops = self.dops, Dops()
