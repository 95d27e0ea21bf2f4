"""One function per NMEA sentence type: read the fields, update the session, return a change mask.

The rules are gpsd's (``driver_nmea0183.c``), re-implemented so that the fixes match gpsd's
regression output; where gpsd has a quirk that changes the reported fix it is kept and noted.
Each decoder gets the split fields (``f[0]`` is the tag, e.g. ``GPRMC``; missing fields read as
``""``) and ``count``, the number of fields gpsd would count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from agent.sources.gnss.fields import (
    KNOTS_TO_MPS,
    atof,
    atoi,
    fraction_ns,
    lat_lon,
    leading_digits,
    mkgmtime,
    satellite_counts,
    two_digits,
)
from agent.sources.gnss.session import (
    ALTITUDE,
    ATTITUDE,
    DOP,
    ERRORS,
    LATLON,
    MAX_CHANNELS,
    MODE,
    MODE_2D,
    MODE_3D,
    MODE_NO_FIX,
    ONLINE,
    OTHER,
    REPORT,
    SATELLITE,
    SPEED,
    STATUS,
    TIME,
    TRACK,
    USED,
    VNED,
    Fix,
    Ned,
    Session,
)

FEET_TO_METERS = 0.3048

Decoder = Callable[[Session, list[str], int], int]


# --- date and time -------------------------------------------------------------------------

def merge_hhmmss(s: Session, hhmmss: str) -> bool:
    if not leading_digits(hhmmss, 6):
        return False
    old_hour = s.tm_hour
    s.tm_hour = two_digits(hhmmss, 0)
    if s.tm_hour < old_hour:  # midnight wrap
        s.tm_mday += 1
    s.tm_min = two_digits(hhmmss, 2)
    s.tm_sec = two_digits(hhmmss, 4)
    s.nsec = fraction_ns(hhmmss)
    return True


def merge_ddmmyy(s: Session, ddmmyy: str) -> bool:
    if len(ddmmyy) != 6 or not leading_digits(ddmmyy, 6):
        return False  # e.g. the Telit HE910's "2208-1"
    yy = two_digits(ddmmyy, 4)
    mon = two_digits(ddmmyy, 2)
    mday = two_digits(ddmmyy, 0)
    if s.tm_year % 100 == 99 and yy == 0:
        s.century += 100
    year = s.century + yy
    if year >= 2080:  # gpsd wraps here so that 2099 from a rollover bug reads as 1999
        year -= 100
    if not 1 <= mon <= 12 or not 1 <= mday <= 31:
        return False
    s.tm_year = year - 1900
    s.tm_mon = mon - 1
    s.tm_mday = mday
    return True


def utc_ns(s: Session) -> int:
    secs = mkgmtime((s.tm_year, s.tm_mon, s.tm_mday, s.tm_hour, s.tm_min, s.tm_sec))
    return secs * 1_000_000_000 + s.nsec


def register_fractional_time(s: Session, fld: str) -> None:
    """The hhmmss.ss value drives end-of-cycle detection (even before a date is known)."""
    if fld:
        value = atof(fld)
        if math.isfinite(value):
            s.last_frac_time = s.this_frac_time
            s.this_frac_time = value
            s.latch_frac_time = True


def _forget_date(s: Session) -> None:
    s.tm_year = s.tm_mon = s.tm_mday = s.tm_hour = s.tm_min = s.tm_sec = 0


def _time_of_day(s: Session, hhmmss: str) -> bool:
    """A time-only sentence's ``hhmmss`` field: merge it and register it for cycle detection.

    True when it dates the fix, i.e. RMC or ZDA gave a date already (gpsd does not use the
    time of GGA, GNS, GLL or PSRFEPE until then).
    """
    if not (hhmmss and merge_hhmmss(s, hhmmss)):
        return False
    register_fractional_time(s, hhmmss)
    return s.tm_year != 0


def _date_and_time(s: Session, hhmmss: str, ddmmyy: str) -> bool:
    """A sentence's time and date fields (RMC, PSTI): both merged, the time registered."""
    if hhmmss and ddmmyy and merge_hhmmss(s, hhmmss) and merge_ddmmyy(s, ddmmyy):
        register_fractional_time(s, hhmmss)
        return True
    return False


def _position(nd: Fix, f: list[str], at: int) -> bool:
    """Fields ``at`` .. ``at + 3`` (latitude, N/S, longitude, E/W) into the sentence's fix;
    False (and the fix untouched) when one is empty or malformed."""
    pos = lat_lon(f[at], f[at + 1], f[at + 2], f[at + 3])
    if pos is None:
        return False
    nd.lat, nd.lon = pos
    return True


def _altitude(nd: Fix, fld: str) -> bool:
    """An altitude above mean sea level (metres) into the sentence's fix; False when empty
    (a malformed one reads as NaN, as in gpsd)."""
    if not fld:
        return False
    nd.alt_msl = atof(fld)
    return True


# --- fix sentences -------------------------------------------------------------------------

def rmc(s: Session, f: list[str], count: int) -> int:
    mask = ONLINE
    nd = s.newdata
    status = f[2][:1]
    if status not in ("A", "D"):  # V, missing or anything else: no fix
        nd.mode = MODE_NO_FIX
        if not f[1] or not f[9]:
            # no time: force a report past the cycle detector (Quectel "$GPRMC,,V,...")
            _forget_date(s)
            s.cycle_end_reliable = False
            mask |= REPORT | TIME
        return mask | STATUS | MODE
    if count > 9 and _date_and_time(s, f[1], f[9]):
        mask |= TIME
    if _position(nd, f, 3):
        mask |= LATLON
        if s.lastfix.mode <= MODE_2D:
            nd.mode = MODE_2D
            mask |= MODE
        elif s.lastfix.mode == MODE_3D:
            nd.mode = MODE_3D
            mask |= MODE
    else:
        nd.mode = MODE_NO_FIX
        mask |= MODE
    if f[7]:
        nd.speed = atof(f[7]) * KNOTS_TO_MPS
        mask |= SPEED
    if f[8]:
        nd.track = atof(f[8])
        mask |= TRACK
    if f[10] and f[11]:
        magvar = atof(f[10]) if f[11][0] in "EW" else math.nan
        if math.isfinite(magvar) and abs(magvar) > 0.09:
            mask |= OTHER
    # RMC has no 2D/3D flag: 4+ satellites used, or an altitude already this epoch, means 3D
    if s.satellites_used > 3 or s.fix.has_alt():
        nd.mode = MODE_3D
        mask |= MODE
    return mask | STATUS


def gga(s: Session, f: list[str], count: int) -> int:
    mask = ONLINE
    nd = s.newdata
    last_last_talker = s.last_gga_talker
    s.last_gga_talker = f[0][1:2]
    quality = atoi(f[6]) if f[6] else -1
    if quality == 0 and not f[1]:
        # gpsd sets REPORT|TIME here, then overwrites the mask just below (kept as gpsd does)
        _forget_date(s)
        s.cycle_end_reliable = False
    if 0 <= quality <= 8:
        mask = STATUS
    # a GGA whose time does not advance means the receiver lost lock (Trimble Placer 450)
    if last_last_talker and last_last_talker != s.last_gga_talker:
        s.latch_mode = False
    else:
        s.latch_mode = f[1] == s.last_gga_timestamp
    if s.latch_mode:
        nd.mode = MODE_NO_FIX
        mask |= MODE | STATUS
    else:
        s.last_gga_timestamp = f[1]
    satellites = atoi(f[7])
    if not s.refusals.accept("gnss.satellites", satellites):
        satellites = 0  # an absurd count: this sentence gives no fix
    # receivers sending one GGA per constellation (GPGGA then GAGGA) split the count used
    if last_last_talker and last_last_talker != s.last_gga_talker:
        s.gga_sats_used += satellites
    else:
        s.gga_sats_used = satellites
    if _time_of_day(s, f[1]):
        mask |= TIME
    if _position(nd, f, 2):
        nd.mode = MODE_2D
        mask |= LATLON
        if f[11]:
            nd.geoid_sep = atof(f[11])
        if _altitude(nd, f[9]):
            mask |= ALTITUDE
            if satellites >= 4:
                nd.mode = MODE_3D
        if s.gga_sats_used < 3:
            nd.mode = MODE_NO_FIX
    else:
        nd.mode = MODE_NO_FIX
    mask |= MODE
    if f[8]:
        hdop = atof(f[8])
        if hdop < 99.0:  # 99.99 means "invalid" on several receivers
            s.dops.hdop = hdop
            mask |= DOP
    return mask


def gns(s: Session, f: list[str], count: int) -> int:
    mask = ONLINE
    nd = s.newdata
    if _time_of_day(s, f[1]):
        mask = TIME
    if not f[6] or f[6][0] == "N":
        nd.mode = MODE_NO_FIX
        return mask | MODE
    if f[13][:1] in ("U", "V"):  # navigation status unsafe / not valid
        return mask
    satellites = atoi(f[7])
    if not s.refusals.accept("gnss.satellites", satellites):
        satellites = 0  # an absurd count: 2D at best
    if _position(nd, f, 2):
        mask |= LATLON
        nd.mode = MODE_2D
        if _altitude(nd, f[9]):
            if math.isfinite(nd.alt_msl):
                mask |= ALTITUDE
                if satellites > 3:
                    nd.mode = MODE_3D
            if f[10]:
                nd.geoid_sep = atof(f[10])
    else:
        nd.mode = MODE_NO_FIX
        mask |= MODE
    if f[8]:
        s.dops.hdop = atof(f[8])
        mask |= DOP
    return mask | MODE | STATUS


def gll(s: Session, f: list[str], count: int) -> int:
    mask = ONLINE
    nd = s.newdata
    if _time_of_day(s, f[5]):
        mask = TIME
    valid = f[6][:1] == "A" and (count < 8 or f[7][:1] != "N")
    if valid and _position(nd, f, 1):
        mask |= LATLON
        if s.fix.has_alt() or s.satellites_used > 3:
            nd.mode = MODE_3D
        elif s.fix.mode < MODE_2D or not s.oldfix.has_alt():
            nd.mode = MODE_2D
        # else gpsd leaves the mode unset; the "keep 3D" rule in the merger restores it
    else:
        nd.mode = MODE_NO_FIX
    return mask | STATUS | MODE


def vtg(s: Session, f: list[str], count: int) -> int:
    mask = ONLINE
    nd = s.newdata
    if not f[1] or not f[5]:
        return mask
    if count > 9 and f[9][:1] in ("E", "N"):  # dead reckoning / not valid
        return mask
    nd.track = atof(f[1])
    mask |= TRACK
    if f[3]:
        mask |= OTHER  # magnetic track
    nd.speed = atof(f[5]) * KNOTS_TO_MPS  # knots: the km/h field has only 0.1 km/h resolution
    return mask | SPEED


def zda(s: Session, f: list[str], count: int) -> int:
    mask = ONLINE
    if not (f[1] and f[2] and f[3] and f[4]):
        return mask
    if not merge_hhmmss(s, f[1]):
        return mask
    year, mon, mday = atoi(f[4]), atoi(f[3]), atoi(f[2])
    if 1900 <= year <= 2200 and 1 <= mon <= 12 and 1 <= mday <= 31:
        s.century = year - year % 100
        s.tm_year = year - 1900
        s.tm_mon = mon - 1
        s.tm_mday = mday
        s.newdata.time_ns = utc_ns(s)
        register_fractional_time(s, f[1])
        mask = TIME
    return mask


# --- satellites ----------------------------------------------------------------------------

_GNSSID_BY_TALKER = {"A": 3, "B": 4, "D": 4, "I": 6, "L": 2, "N": 0, "P": 0, "Q": 5, "Z": 5}
_SEEN_NAME = {"A": "GA", "B": "BD", "D": "BD", "I": "GI", "L": "GL", "N": "GN", "P": "GP",
              "Q": "QZ", "Z": "QZ"}


def gsa(s: Session, f: list[str], count: int) -> int:
    mask = ONLINE
    talker = f[0][1:2]
    last_last_talker = s.last_gsa_talker
    if count >= 18 and not s.latch_mode:
        s.newdata.mode = atoi(f[2])
        if f[2][:1] != "E":
            mask = MODE
        if count <= 19:
            for idx, attr in ((15, "pdop"), (16, "hdop"), (17, "vdop")):
                if f[idx]:
                    dop = atof(f[idx])
                    if dop < 99.0:
                        setattr(s.dops, attr, dop)
                        mask |= DOP
        # GPGSA then GLGSA/BDGSA (or two GNGSA) in one epoch accumulate their satellites
        if not s.last_gsa_talker or (talker == s.last_gsa_talker and talker != "N"):
            s.satellites_used = 0
        s.last_gsa_talker = talker
        seen = _SEEN_NAME.get(talker)
        if seen:
            s.seen_gsa.add(seen)
        gnssid = _GNSSID_BY_TALKER.get(talker, 0)
        # gpsd scans count-6 fields from field 3: with an NMEA 4.10 system-id field that
        # includes the PDOP field, read as a satellite number (kept: it changes 2D/3D choices)
        for i in range(count - 6):
            satnum = atoi(f[i + 3])
            if satnum < 1 or not satellite_counts(satnum, gnssid):
                continue
            if s.satellites_used >= MAX_CHANNELS:
                break
            s.satellites_used += 1
        mask |= USED
    if talker == "P" and s.seen_gsa - {"GP"}:
        mask = ONLINE  # GPGSA followed by other constellations' GSA: wait for those
    elif last_last_talker != "N" and talker == "N":
        mask = ONLINE | MODE  # first of several GNGSA
    return mask


_UBX_SIGID = {2: 5, 3: 2, 5: 4, 6: 3}


def _zero_satellites(s: Session) -> None:
    s.satellites_visible = 0
    s.sky_azimuths.clear()


def gsv(s: Session, f: list[str], count: int) -> int:
    talker = f[0][1:2]
    if count <= 3:
        _zero_satellites(s)
        return ONLINE
    # after the satellite blocks: nothing (NMEA < 4.10), a signal id (4.10), or a signal id
    # and a system id (4.11, e.g. Quectel's PQGSV)
    extra = count % 4
    if extra == 3:
        _zero_satellites(s)
        return ONLINE
    ubx_sigid = _UBX_SIGID.get(atoi(f[count - extra]), 0) if extra else 0
    s.gsv_await = atoi(f[1])
    s.gsv_part = atoi(f[2])
    if s.gsv_part < 1:
        _zero_satellites(s)
        return ONLINE
    if s.gsv_part == 1 and (not s.last_gsv_talker or (talker == "P" and ubx_sigid == 0)):
        _zero_satellites(s)
    s.last_gsv_talker = talker
    seen = _SEEN_NAME.get(talker)
    if seen:
        s.seen_gsv.add(seen)
    end = count // 4 * 4
    fld = 4
    while fld < end:  # gpsd's loop: an empty satellite number advances by one field only
        if s.satellites_visible >= MAX_CHANNELS:
            _zero_satellites(s)
            break
        svid = atoi(f[fld])
        fld += 1
        if svid == 0:
            continue
        # an empty azimuth is "unknown" (NaN), which is not the all-zero hairball below
        azimuth = atof(f[fld + 1])
        fld += 3
        s.sky_azimuths.append(azimuth)
        s.satellites_visible += 1
    if s.gsv_part < s.gsv_await:
        s.gsx_more = True
        return ONLINE
    s.gsx_more = False
    if not any(az != 0 for az in s.sky_azimuths[: s.satellites_visible]):
        _zero_satellites(s)  # SiRF-II "all azimuths 0" hairball
        return ONLINE
    if talker == "P" and s.seen_gsv - {"GP"} and s.end_gsv_talker != "P":
        return ONLINE  # more constellations' GSV follow the GPS ones: wait for them
    return SATELLITE


# --- sentences that only move the cycle detector or carry error estimates -----------------

def gbs(s: Session, f: list[str], count: int) -> int:
    register_fractional_time(s, f[1])
    hhmmss = f[1]
    if (leading_digits(hhmmss, 6) and s.tm_hour == two_digits(hhmmss, 0)
            and s.tm_min == two_digits(hhmmss, 2) and s.tm_sec == two_digits(hhmmss, 4)):
        return ERRORS
    return ONLINE


def gst(s: Session, f: list[str], count: int) -> int:
    return ONLINE | OTHER


def grs(s: Session, f: list[str], count: int) -> int:
    if f[1]:
        merge_hhmmss(s, f[1])  # moves the clock (midnight wrap) without registering a time
    return ONLINE


def hdt(s: Session, f: list[str], count: int) -> int:
    if not f[1]:
        return ONLINE
    heading = atof(f[1])
    return ATTITUDE if 0.0 <= heading <= 360.0 else ONLINE


def online(s: Session, f: list[str], count: int) -> int:
    return ONLINE


def bwc(s: Session, f: list[str], count: int) -> int:
    if f[1] and merge_hhmmss(s, f[1]) and s.tm_year != 0:
        return TIME
    return ONLINE


def dbt(s: Session, f: list[str], count: int) -> int:
    # depth, not altitude: flags ALTITUDE like gpsd but leaves the altitude alone
    return ALTITUDE if (f[3] or f[1] or f[5]) else ONLINE


def hdg(s: Session, f: list[str], count: int) -> int:
    if not f[1]:
        return ONLINE
    heading, deviation = atof(f[1]), atof(f[2])
    if not 0.0 <= heading <= 360.0 or not 0.0 <= deviation <= 360.0:
        return ONLINE
    return OTHER


def mwd(s: Session, f: list[str], count: int) -> int:
    return OTHER


def mwv(s: Session, f: list[str], count: int) -> int:
    return OTHER if (f[2][:1], f[4][:1], f[5][:1]) == ("R", "N", "A") else ONLINE


def pgrme(s: Session, f: list[str], count: int) -> int:
    return ERRORS if (f[2][:1], f[4][:1], f[6][:1]) == ("M", "M", "M") else ONLINE


def pgrmz(s: Session, f: list[str], count: int) -> int:
    """Garmin altitude in feet plus a fix dimension."""
    mask = ONLINE
    if f[2][:1] == "f" and f[1]:
        s.newdata.alt_msl = atoi(f[1]) * FEET_TO_METERS
        mask |= ALTITUDE
    mode = {"1": MODE_NO_FIX, "2": MODE_2D, "3": MODE_3D}.get(f[3][:1])
    if mode is not None:
        s.newdata.mode = mode
        mask |= MODE
    return mask


def pmgnst(s: Session, f: list[str], count: int) -> int:
    mode = atoi(f[3])
    if f[4][:1] == "T" and mode in (MODE_2D, MODE_3D):
        s.newdata.mode = mode
    else:
        s.newdata.mode = MODE_NO_FIX
    return ONLINE | MODE


def psrfepe(s: Session, f: list[str], count: int) -> int:
    mask = STATUS
    if _time_of_day(s, f[1]):
        mask |= TIME
    if f[2][:1] != "A":
        return mask
    if f[3]:
        s.dops.hdop = atof(f[3])
        mask |= DOP
    if f[4] or f[5]:
        mask |= ERRORS
    return mask


def ptnta(s: Session, f: list[str], count: int) -> int:
    return ONLINE | OTHER if f[3] == "T4" else ONLINE


def psti030(s: Session, f: list[str], count: int) -> int:
    """SkyTraq recommended minimum 3D data, with ENU velocity."""
    mask = ONLINE
    nd = s.newdata
    if f[3][:1] == "V" or f[13][:1] == "N":
        nd.mode = MODE_NO_FIX
        return mask | MODE | STATUS
    if f[3][:1] != "A":
        return mask
    if _date_and_time(s, f[2], f[12]):
        mask |= TIME
    if _position(nd, f, 4):
        nd.mode = MODE_2D
        mask |= LATLON
        if _altitude(nd, f[8]):
            mask |= ALTITUDE
            nd.mode = MODE_3D
        mask |= MODE
    nd.ned = Ned(north=atof(f[10]), east=atof(f[9]), down=-atof(f[11]))  # fields: E, N, U
    return mask | VNED | STATUS


def _psti_time(s: Session, f: list[str], mask: int) -> int:
    return mask | TIME if _date_and_time(s, f[2], f[3]) else mask


def psti032(s: Session, f: list[str], count: int) -> int:
    if f[4][:1] != "A":
        return ONLINE
    return _psti_time(s, f, ONLINE)


def psti033(s: Session, f: list[str], count: int) -> int:
    if f[4][:1] != "2" or f[5][:1] not in ("B", "R"):
        return ONLINE
    return _psti_time(s, f, ONLINE)


def psti035(s: Session, f: list[str], count: int) -> int:
    mask = _psti_time(s, f, ONLINE)
    return mask if f[4][:1] != "A" else mask | ATTITUDE


def psti036(s: Session, f: list[str], count: int) -> int:
    mask = _psti_time(s, f, ONLINE)
    return mask if f[7][:1] in ("", "N") else mask | ATTITUDE


def attitude(s: Session, f: list[str], count: int) -> int:
    return ATTITUDE


def rot(s: Session, f: list[str], count: int) -> int:
    """Rate of turn (attitude data); ``A`` = valid."""
    return ATTITUDE if f[1] and f[2][:1] == "A" else ONLINE


def pgrmv(s: Session, f: list[str], count: int) -> int:
    """Garmin 3D velocity: east, north, up in m/s."""
    east, north, up = atof(f[1]), atof(f[2]), atof(f[3])
    if not (math.isfinite(east) and math.isfinite(north)):
        return ONLINE
    s.newdata.ned = Ned(north, east, -up)
    return VNED


def pstm_antenna(s: Session, f: list[str], count: int) -> int:
    """ST Teseo antenna status (0 ok, 1 open, 2 short): receiver health, not fix data."""
    return OTHER if f[1] in ("0", "1", "2") else ONLINE


@dataclass(frozen=True, slots=True)
class Phrase:
    """A sentence gpsd knows: its cycle-detection tag, minimum field count and decoder."""

    tag: str
    min_fields: int
    decoder: Decoder | None  # None: known, deliberately ignored (no cycle-detection role)
    cycle_continue: bool = False


def _p(tag: str, nf: int, dec: Decoder | None, cont: bool = False) -> Phrase:
    return Phrase(tag, nf, dec, cont)


# Standard sentences, matched on the 3 letters after any 2-letter talker (GP, GN, GL, GA, GB,
# BD, QZ, GI, IN, ...).
STANDARD: dict[str, Phrase] = {p.tag: p for p in (
    _p("AAM", 0, None), _p("ALM", 0, None), _p("APB", 0, None), _p("BOD", 0, None),
    _p("BWC", 12, bwc), _p("DBT", 7, dbt), _p("DPT", 0, None), _p("DTM", 2, online),
    _p("GBS", 7, gbs), _p("GGA", 13, gga), _p("GLC", 0, None), _p("GLL", 7, gll, True),
    _p("GNS", 13, gns), _p("GRS", 4, grs), _p("GSA", 18, gsa), _p("GST", 8, gst),
    _p("GSV", 0, gsv), _p("HDG", 0, hdg), _p("HDT", 1, hdt), _p("MLA", 0, None),
    _p("MSS", 0, None), _p("MTW", 0, None), _p("MWD", 0, mwd), _p("MWV", 0, mwv),
    _p("OSD", 0, None), _p("QSM", 3, None), _p("RLM", 0, None), _p("RMB", 0, None),
    _p("RMC", 8, rmc), _p("ROT", 3, rot), _p("RPM", 0, None), _p("RSA", 0, None),
    _p("RTE", 0, None), _p("STI", 2, online), _p("THS", 0, online), _p("TXT", 5, online),
    _p("VBW", 0, None), _p("VDO", 0, None), _p("VDR", 0, None), _p("VHW", 0, None),
    _p("VLW", 0, None), _p("VTG", 5, vtg), _p("XDR", 0, None), _p("XTE", 0, None),
    _p("ZDA", 4, zda),
)}

# Proprietary and long-named sentences, matched on the whole first field (PSTI on the second).
PROPRIETARY: dict[str, Phrase] = {p.tag: p for p in (
    _p("PGLOR", 2, online), _p("PGRMB", 0, None), _p("PGRMC", 0, None),
    _p("PGRME", 7, pgrme), _p("PGRMF", 15, None), _p("PGRMH", 0, None), _p("PGRMI", 0, None),
    _p("PGRMM", 2, online), _p("PGRMO", 0, None), _p("PGRMT", 0, None), _p("PGRMV", 4, pgrmv),
    _p("PGRMZ", 4, pgrmz), _p("ACCURACY", 1, online, True), _p("HWBIAS", 0, None),
    _p("PERDACK", 4, None), _p("PERDCRD", 15, None), _p("PERDCRG", 6, None),
    _p("PERDCRJ", 9, None), _p("PERDCRP", 9, None), _p("PERDCRQ", 11, None),
    _p("PERDCRW", 8, None), _p("PERDMSG", 3, None), _p("PERDSYS", 5, None),
    _p("PJLTS", 11, None), _p("PJLTV", 4, None), _p("PMGNST", 8, pmgnst),
    _p("PMTK001", 3, online), _p("PMTK010", 2, None), _p("PMTK011", 2, None),
    _p("PMTK424", 3, online), _p("PMTK705", 4, online), _p("PMTKCHN", 0, None),
    _p("PQVERNO", 5, online), _p("PRHS ", 2, online), _p("PRWIZCH", 0, None),
    _p("PSRF140", 0, None), _p("PSRF150", 0, None), _p("PSRF151", 0, None),
    _p("PSRF152", 0, None), _p("PSRF155", 0, None), _p("PSRFEPE", 7, psrfepe),
    _p("PSTM", 0, None), _p("PSTMANTENNASTATUS", 5, pstm_antenna),
    _p("PTFTTXT", 0, None), _p("PTKM", 0, None),
    _p("PTNLRHVR", 0, None), _p("PTNLRPT", 0, None), _p("PTNLRSVR", 0, None),
    _p("PTNLRZD", 0, None), _p("PTNTA", 8, ptnta), _p("PTNTHTM", 9, attitude),
    _p("PUBX", 0, None),
    _p("PSTI000", 4, None), _p("PSTI001", 2, None), _p("PSTI005", 2, None),
    _p("PSTI030", 16, psti030), _p("PSTI032", 16, psti032), _p("PSTI033", 27, psti033),
    _p("PSTI035", 8, psti035), _p("PSTI036", 2, psti036),
)}


def lookup(f0: str, f1: str) -> Phrase | None:
    if f0 == "PSTI":
        return PROPRIETARY.get("PSTI" + f1)
    phrase = PROPRIETARY.get(f0)
    if phrase is None and len(f0) == 5:
        phrase = STANDARD.get(f0[2:])
    return phrase
