"""Synthetic receiver output: NMEA sentences for a given fix, as a real receiver formats them.

For tests, the benchmark and the scenario simulator (drive a trajectory, write the sentences
into an :class:`~agent.sources.gnss.replay.NmeaPty`). One epoch is RMC, GGA, GSA and
(optionally) a GSV group, in the order u-blox and MediaTek receivers send them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from agent.sources.gnss.fields import KNOTS_TO_MPS
from agent.sources.gnss.replay import nmea


@dataclass(frozen=True, slots=True)
class EpochSpec:
    """What the receiver should say for one epoch."""

    time: dt.datetime  # UTC
    lat: float  # degrees, + north
    lon: float  # degrees, + east
    alt: float = 100.0  # metres above MSL
    speed_mps: float = 0.0
    track: float = 0.0  # degrees true
    satellites: int = 8  # used in the fix; 0 = no fix
    hdop: float = 0.9
    talker: str = "GP"


def _lat(value: float) -> tuple[str, str]:
    deg = int(abs(value))
    minutes = (abs(value) - deg) * 60.0
    return f"{deg:02d}{minutes:09.6f}", "N" if value >= 0 else "S"


def _lon(value: float) -> tuple[str, str]:
    deg = int(abs(value))
    minutes = (abs(value) - deg) * 60.0
    return f"{deg:03d}{minutes:09.6f}", "E" if value >= 0 else "W"


def epoch_sentences(spec: EpochSpec, *, gsv: bool = True) -> list[bytes]:
    """The sentences (``$...*hh\\r\\n``) of one epoch."""
    t = spec.time
    hhmmss = f"{t:%H%M%S}.{t.microsecond // 10_000:02d}"
    ddmmyy = f"{t:%d%m%y}"
    lat, ns = _lat(spec.lat)
    lon, ew = _lon(spec.lon)
    fix = spec.satellites > 0
    knots = spec.speed_mps / KNOTS_TO_MPS
    tk = spec.talker
    prns = [2, 5, 7, 9, 13, 15, 18, 20, 21, 24, 27, 30][: max(0, min(spec.satellites, 12))]
    out = [
        nmea(f"{tk}RMC,{hhmmss},{'A' if fix else 'V'},{lat},{ns},{lon},{ew},"
             f"{knots:.3f},{spec.track:.2f},{ddmmyy},,,{'A' if fix else 'N'}"),
        nmea(f"{tk}GGA,{hhmmss},{lat},{ns},{lon},{ew},{1 if fix else 0},{spec.satellites:02d},"
             f"{spec.hdop:.1f},{spec.alt:.1f},M,46.9,M,,"),
        nmea(f"{tk}GSA,A,{3 if fix else 1},{','.join(f'{p:02d}' for p in prns)}"
             f"{',' * (12 - len(prns))},{spec.hdop * 1.6:.1f},{spec.hdop:.1f},"
             f"{spec.hdop * 1.3:.1f}"),
    ]
    if gsv:
        sats = [2, 5, 7, 9, 13, 15, 18, 20, 21, 24, 27, 30]
        parts = (len(sats) + 3) // 4
        for i in range(parts):
            chunk = sats[i * 4:(i + 1) * 4]
            blocks = ",".join(f"{p:02d},{20 + 5 * j},{(37 * p) % 360:03d},{30 + j}"
                              for j, p in enumerate(chunk))
            out.append(nmea(f"{tk}GSV,{parts},{i + 1},{len(sats):02d},{blocks}"))
    return out


def drive(start: dt.datetime, lat: float, lon: float, *, epochs: int, rate_hz: float = 1.0,
          speed_mps: float = 10.0, track: float = 0.0, gsv_every: int = 1) -> list[bytes]:
    """A straight drive at constant speed: ``epochs`` bursts (one ``bytes`` per epoch)."""
    step = dt.timedelta(seconds=1.0 / rate_hz)
    metres = speed_mps / rate_hz  # per epoch, along the track (flat-earth: short drives only)
    d_lat = metres * math.cos(math.radians(track)) / 111_320.0
    d_lon = metres * math.sin(math.radians(track)) / (111_320.0 * math.cos(math.radians(lat)))
    bursts = []
    for i in range(epochs):
        spec = EpochSpec(time=start + i * step, lat=lat + i * d_lat, lon=lon + i * d_lon,
                         speed_mps=speed_mps, track=track)
        bursts.append(b"".join(epoch_sentences(spec, gsv=gsv_every > 0 and i % gsv_every == 0)))
    return bursts
