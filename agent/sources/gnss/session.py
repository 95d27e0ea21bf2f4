"""Mutable state of the NMEA merger: the fix being built, the previous fixes and the clock state.

It mirrors the parts of gpsd's ``struct gps_device_t`` that decide the reported fix, under the
same names where that helps reading the two side by side. NaN means "not known" inside the
state machine; the public :class:`~agent.sources.readings.GnssFix` uses ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agent.sources.plausibility import Refusals

NAN = math.nan

# Bits of the per-sentence change mask (gpsd's gps_mask_t, only the bits that matter here).
ONLINE = 1 << 0
TIME = 1 << 1
LATLON = 1 << 2
ALTITUDE = 1 << 3
SPEED = 1 << 4
TRACK = 1 << 5
CLIMB = 1 << 6
STATUS = 1 << 7
MODE = 1 << 8
DOP = 1 << 9
USED = 1 << 10
SATELLITE = 1 << 11
ATTITUDE = 1 << 12
ERRORS = 1 << 13  # error estimates (GBS, PGRME, PSRFEPE): data, but not fix fields
OTHER = 1 << 14  # any other data (GST, oscillator, magnetic track, ...)
CLEAR = 1 << 15  # first sentence of a new epoch: start the fix afresh
REPORT = 1 << 16  # the epoch's fix is ready to report
VNED = 1 << 17  # north/east/down velocity

MODE_NOT_SEEN = 0
MODE_NO_FIX = 1
MODE_2D = 2
MODE_3D = 3

MAX_CHANNELS = 185  # gpsd MAXCHANNELS: satellites kept per sky view


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
    vel_n: float = NAN
    vel_e: float = NAN
    vel_d: float = NAN

    def copy(self) -> Fix:
        return Fix(self.time_ns, self.mode, self.lat, self.lon, self.alt_msl, self.alt_hae,
                   self.geoid_sep, self.speed, self.track, self.climb,
                   self.vel_n, self.vel_e, self.vel_d)

    def has_alt(self) -> bool:
        return math.isfinite(self.alt_msl) or math.isfinite(self.alt_hae)


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
    hdop: float = NAN
    vdop: float = NAN
    pdop: float = NAN
    # the previous epoch's DOPs: reported until this epoch's GSA arrives (gpsd's SKY would
    # show none meanwhile), so a fix reported at GGA does not lose its PDOP/VDOP
    prev_hdop: float = NAN
    prev_vdop: float = NAN
    prev_pdop: float = NAN
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
        self.prev_hdop, self.prev_vdop, self.prev_pdop = self.hdop, self.vdop, self.pdop
        self.hdop = self.vdop = self.pdop = NAN
