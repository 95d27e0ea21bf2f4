"""Sentences to fixes: gpsd's merge and end-of-cycle logic as a pure, deterministic state machine.

For each accepted sentence :meth:`FixMerger.update` decodes it into the epoch's fix and returns
a :class:`GnssFix` when gpsd would send a TPV report, else ``None``. How gpsd decides (and so
how this does, checked against its regression output):

* **Epochs.** A sentence carrying a time different from the previous one (by > 10 ms) starts a
  new epoch: the merged fix starts afresh (DOPs and satellite counts survive).
* **Cycle ender.** The last timestamped sentence type seen before the time changed is learnt
  as an "ender"; when an ender arrives, the epoch's fix is reported. Untimestamped sentences
  that add data right after an ender (VTG after RMC, GSA after GGA) report again, as does a
  GLL-style "cycle continuer". Until an ender is known, every sentence that changes the
  position or mode is reported, so a receiver's first epochs yield several partial reports.
* **Mode.** GGA: 2D with a position, 3D with an altitude and >= 4 satellites, no fix under 3.
  GSA sets it directly. RMC/GLL say only "fix": 3D when GSA counted > 3 satellites used or an
  altitude was already merged this epoch; a 3D fix is not downgraded while altitude is known.
* **Time.** GGA/GLL/GNS times are used once RMC or ZDA supplied a date; ``hhmmss`` going
  backwards past midnight advances the day. A receiver clock that steps backwards simply
  starts a new epoch: those epochs are kept.
* **Derived.** Without a speed field the speed is the distance from the previous epoch's fix
  over the time between them; climb is the altitude difference over time (3D fixes only).
* **Plausibility** (not gpsd's: a checksum proves transport, not sense). Each decoded value
  outside :data:`agent.sources.plausibility.LIMITS` is dropped before the merge, as if the
  field were empty, and counted (``refusals``): a refused position also drops the sentence's
  fix mode, a refused altitude its 3D. Derived values (speed, track and climb computed from
  positions or velocities) are checked the same way when a fix is reported.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields

from agent.sources.gnss.decoders import lookup, utc_ns
from agent.sources.gnss.geodesy import earth_distance
from agent.sources.gnss.session import (
    ALTITUDE,
    ATTITUDE,
    CLEAR,
    CLIMB,
    DOP,
    LATLON,
    MODE,
    MODE_2D,
    MODE_3D,
    MODE_NO_FIX,
    ONLINE,
    REPORT,
    SPEED,
    TIME,
    TRACK,
    VNED,
    Fix,
    Session,
)
from agent.sources.plausibility import Refusals
from agent.sources.readings import FixMode, GnssFix

NMEA_MAX = 130  # gpsd rejects longer sentences (counting the CR LF) as merged garbage
_PAD = [""] * 48
_REPORT_WITHOUT_CYCLE = ATTITUDE | LATLON | MODE
_NAN = math.nan
_ONE_SECOND = 1_000_000_000  # gpsd tests "tv_sec > 0" for "the fix has a time"


@dataclass(slots=True)
class MergerCounters:
    decoded: int = 0  # sentences a decoder used
    ignored: int = 0  # known types with nothing to decode, proprietary, AIS (``!``)
    unknown: int = 0  # types not recognised
    too_short: int = 0  # fewer fields than the type needs
    overlong: int = 0  # longer than NMEA_MAX
    reports: int = 0  # fix updates returned

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class FixMerger:
    """Feed checksummed sentences in order; get a fix update whenever an epoch's fix is ready.

    ``century`` resolves two-digit RMC years until a ZDA gives a four-digit one (captures carry
    it in a ``# Date:`` header). No clock is read: ``t`` (host time of arrival) is passed in.
    """

    def __init__(self, century: int = 2000) -> None:
        self.s = Session(century=century)
        self.counters = MergerCounters()
        self.refusals: Refusals = self.s.refusals  # implausible values dropped, per field

    def set_century(self, century: int) -> None:
        self.s.century = century

    def update(self, sentence: str, t: float) -> GnssFix | None:
        s = self.s
        s.newdata = Fix()
        mask = self._screen(self._parse(sentence))
        if mask & CLEAR:
            if not mask & DOP:
                s.carry_dops()
            s.fix = Fix()
        _merge(s.fix, mask, s.newdata)
        self._derive()
        if mask & REPORT or (not s.cycle_end_reliable and mask & _REPORT_WITHOUT_CYCLE):
            self.counters.reports += 1
            return self._snapshot(t)
        return None

    # --- one sentence (gpsd nmea_parse) --------------------------------------------------

    def _parse(self, sentence: str) -> int:
        s = self.s
        c = self.counters
        if len(sentence) + 2 > NMEA_MAX:
            c.overlong += 1
            return ONLINE
        if sentence[0] == "!":
            c.ignored += 1  # AIS goes to another gpsd driver; nothing here for the fix
            return ONLINE
        star = sentence.find("*")
        f = (sentence[1:star] if star > 0 else sentence[1:]).split(",")
        count = len(f)
        f.extend(_PAD)
        s.latch_frac_time = False
        s.gsx_more = False
        phrase = lookup(f[0], f[1])
        tag = ""
        mask = ONLINE
        if phrase is None:
            c.unknown += 1
        elif phrase.decoder is None:
            c.ignored += 1
        elif count < phrase.min_fields:
            c.too_short += 1
        else:
            c.decoded += 1
            mask = phrase.decoder(s, f, count)
            s.cycle_continue = phrase.cycle_continue
            tag = phrase.tag
        kind = f[0][2:5]
        if kind != "GSV":
            if s.last_gsv_talker:
                s.end_gsv_talker = s.last_gsv_talker
            s.last_gsv_talker = ""
        if kind != "GSA":
            s.last_gsa_talker = ""
        if mask & TIME:
            if s.tm_year == 0 and s.tm_mday == 0:
                s.newdata.time_ns = 0
            else:
                s.newdata.time_ns = utc_ns(s)
        mask = self._cycle(tag, mask)
        # don't downgrade a 3D fix to RMC's "some fix" while an altitude is known
        if (mask & MODE and s.fix.mode == MODE_3D and s.newdata.mode != MODE_NO_FIX
                and (s.lastfix.has_alt() or s.oldfix.has_alt())):
            s.newdata.mode = s.fix.mode
        return mask

    def _screen(self, mask: int) -> int:
        """Drop (and count) what this sentence decoded outside the plausibility limits."""
        s = self.s
        nd = s.newdata
        accept = s.refusals.accept
        if mask & LATLON and _given(nd.lat) and _given(nd.lon):
            lat_ok = accept("gnss.lat", nd.lat)
            if not (accept("gnss.lon", nd.lon) and lat_ok):
                nd.lat = nd.lon = _NAN
                mask &= ~LATLON
                if nd.mode >= MODE_2D:
                    nd.mode = MODE_NO_FIX
        if _given(nd.alt_msl) and not accept("gnss.alt", nd.alt_msl):
            nd.alt_msl = nd.alt_hae = _NAN
            if nd.mode == MODE_3D:
                nd.mode = MODE_2D
        if _given(nd.geoid_sep) and not accept("gnss.geoid_sep", nd.geoid_sep):
            nd.geoid_sep = _NAN
        if mask & SPEED and _given(nd.speed) and not accept("gnss.speed_mps", nd.speed):
            nd.speed = _NAN
            mask &= ~SPEED
        if mask & TRACK and _given(nd.track) and not accept("gnss.track", nd.track):
            nd.track = _NAN
            mask &= ~TRACK
        if mask & DOP:
            for name in ("hdop", "vdop", "pdop"):
                dop = getattr(s.dops, name)
                if _given(dop) and not accept("gnss.dop", dop):
                    setattr(s.dops, name, _NAN)
        return mask

    def _cycle(self, tag: str, mask: int) -> int:
        """End-of-cycle detection (see the module docstring)."""
        s = self.s
        lasttag = s.lasttag
        if s.gsx_more:
            pass  # more GSV parts to come: never an epoch boundary
        elif s.latch_frac_time:
            if abs(s.this_frac_time - s.last_frac_time) > 0.01:
                mask |= CLEAR  # a new epoch
                if lasttag and lasttag not in s.cycle_enders and not s.cycle_continue:
                    s.cycle_enders.add(lasttag)
                    s.cycle_end_reliable = True
        else:
            if lasttag in s.cycle_enders and mask & ~ONLINE:
                mask |= REPORT  # new data just after the ender
            if s.cycle_continue:
                s.cycle_enders.discard(lasttag)
                s.cycle_enders.add(tag)
                s.cycle_end_reliable = True
        if ((s.latch_frac_time or s.cycle_continue) and tag in s.cycle_enders
                and not s.gsx_more):
            mask |= REPORT
        if s.latch_frac_time:
            s.lasttag = tag
        return mask

    # --- after the merge (gpsd gpsd_error_model) -----------------------------------------

    def _derive(self) -> None:
        s = self.s
        fix = s.fix
        deltatime = -1.0
        if fix.time_ns >= _ONE_SECOND:
            deltatime = (fix.time_ns - s.lastfix.time_ns) / 1e9
            if abs(deltatime) > 0.0099:
                s.oldfix = s.lastfix  # time moved: the last fix is now the previous epoch's
            else:
                deltatime = (fix.time_ns - s.oldfix.time_ns) / 1e9
        old = s.oldfix
        if not (math.isfinite(fix.lat) and math.isfinite(fix.lon)
                and abs(fix.lat) <= 90.0 and abs(fix.lon) <= 180.0):
            fix.lat = fix.lon = _NAN
        if abs(fix.speed) > 9999.9:
            fix.speed = _NAN
        if abs(fix.climb) > 9999.9:
            fix.climb = _NAN
        ned = fix.ned
        if math.isfinite(ned.down) and not math.isfinite(fix.climb):
            fix.climb = -ned.down
        if math.isfinite(ned.north) and math.isfinite(ned.east):
            if not math.isfinite(fix.speed):
                fix.speed = math.hypot(ned.north, ned.east)
            if not math.isfinite(fix.track):
                fix.track = math.degrees(math.atan2(ned.east, ned.north))
        if math.isfinite(fix.alt_msl) and not math.isfinite(fix.alt_hae) and (
                math.isfinite(fix.lat) or math.isfinite(fix.geoid_sep)):
            # gpsd adds its EGM2008 geoid when GGA has none; only differences of this are used
            fix.alt_hae = fix.alt_msl + (fix.geoid_sep if math.isfinite(fix.geoid_sep) else 0.0)
        if math.isfinite(fix.track):
            if fix.track < 0.0:
                fix.track += 360.0
            elif fix.track >= 360.0:
                fix.track -= 360.0
        if deltatime > 0 and fix.mode >= MODE_2D and old.mode >= MODE_2D:
            if not math.isfinite(fix.speed):
                speed = earth_distance(fix.lat, fix.lon, old.lat, old.lon) / deltatime
                fix.speed = speed if abs(speed) <= 9999.9 else _NAN
            if (fix.mode >= MODE_3D and old.mode >= MODE_3D and not math.isfinite(fix.climb)
                    and math.isfinite(fix.alt_hae) and math.isfinite(old.alt_hae)):
                climb = (fix.alt_hae - old.alt_hae) / deltatime
                fix.climb = climb if abs(climb) <= 9999.9 else _NAN
        if fix.time_ns >= _ONE_SECOND:
            s.lastfix = fix.copy()

    def _snapshot(self, t: float) -> GnssFix:
        s = self.s
        fix = s.fix
        mode = fix.mode
        has_fix = mode >= MODE_2D
        derived = self._derived
        dops = s.dops.over(s.prev_dops)
        return GnssFix(
            t=t,
            time_ms=_time_ms(fix.time_ns),
            mode=FixMode(mode) if 0 <= mode <= 3 else FixMode.UNKNOWN,
            lat=_opt(fix.lat) if has_fix else None,
            lon=_opt(fix.lon) if has_fix else None,
            alt=_opt(fix.alt_msl) if has_fix else None,
            speed_mps=derived("gnss.speed_mps", fix.speed) if has_fix else None,
            track=derived("gnss.track", fix.track) if has_fix else None,
            climb_mps=derived("gnss.climb_mps", fix.climb) if mode >= MODE_3D else None,
            hdop=_opt(dops.hdop),
            vdop=_opt(dops.vdop),
            pdop=_opt(dops.pdop),
            satellites_used=s.satellites_used,
            satellites_visible=s.satellites_visible,
        )


    def _derived(self, quantity: str, value: float) -> float | None:
        """A reported value that may have been computed here: ``None`` when implausible."""
        if math.isnan(value):
            return None
        return value if self.refusals.accept(quantity, value) else None


def _merge(to: Fix, mask: int, new: Fix) -> None:
    """gpsd ``gps_merge_fix``: copy what the sentence said, as flagged in its mask."""
    if mask & TIME:
        to.time_ns = new.time_ns
    if mask & LATLON:
        to.lat = new.lat
        to.lon = new.lon
    if mask & MODE:
        to.mode = new.mode
    if mask & ALTITUDE:
        if math.isfinite(new.alt_hae):
            to.alt_hae = new.alt_hae
        if math.isfinite(new.alt_msl):
            to.alt_msl = new.alt_msl
    if mask & TRACK:
        to.track = new.track
    if mask & SPEED:
        to.speed = new.speed
    if mask & CLIMB:
        to.climb = new.climb
    if math.isfinite(new.geoid_sep):
        to.geoid_sep = new.geoid_sep
    if mask & VNED:
        to.ned = new.ned


def _given(value: float) -> bool:
    """Not NaN ("not said"); infinities are values, and implausible ones."""
    return not math.isnan(value)


def _opt(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _time_ms(time_ns: int) -> int | None:
    """gpsd prints times rounded to the millisecond; no time until the seconds are positive."""
    secs, nsec = divmod(time_ns, 1_000_000_000)
    if secs <= 0:
        return None
    if nsec > 999_499_999:
        return (secs + 1) * 1000
    return secs * 1000 + (nsec + 500_000) // 1_000_000


def iso_time(time_ms: int) -> str:
    """``2014-12-31T03:07:19.000Z`` (gpsd's TPV format)."""
    secs, ms = divmod(time_ms, 1000)
    stamp = dt.datetime.fromtimestamp(secs, tz=dt.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{ms:03d}Z"
