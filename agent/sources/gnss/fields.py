"""Decoding of single NMEA 0183 fields, with gpsd's exact numeric behaviour.

gpsd's results are the test oracle (``shared/testdata/gpsd/*.chk``), so the helpers copy its
arithmetic where it matters: ``safe_atof`` (NaN for an empty field), latitude/longitude scaled by
``* (1/60)``, ``mkgmtime`` that tolerates day-of-month overflow after a midnight wrap.
"""

from __future__ import annotations

import math
import re

NAN = math.nan
KNOTS_TO_MPS = 1852.0 / 3600.0  # exact definition of the knot

_FLOAT_RE = re.compile(r"\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_INT_RE = re.compile(r"\s*([+-]?\d+)")
_PLAIN_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)\Z")


def atof(text: str) -> float:
    """gpsd ``safe_atof``: NaN when empty or not starting like a number, else the number prefix."""
    if _PLAIN_FLOAT.match(text):  # the common case: a plain decimal field
        return float(text)
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "+-.0123456789":
        return NAN
    m = _FLOAT_RE.match(stripped)
    if m is None:  # pragma: no cover - the pattern matches any string
        return NAN
    sign, whole, frac, exp = m.groups()
    if not whole and not frac:
        return 0.0  # "-", "." and "+": no digits, like C's strtod
    value = float(f"{whole or '0'}.{frac or '0'}e{exp or '0'}")
    return -value if sign == "-" else value


def atoi(text: str) -> int:
    """C ``atoi``: the leading integer, 0 when there is none."""
    m = _INT_RE.match(text)
    return int(m.group(1)) if m else 0


def _strtol_prefix(text: str) -> tuple[int, str]:
    m = _INT_RE.match(text)
    if m is None:
        return 0, text.lstrip()
    return int(m.group(1)), text[m.end():]


def lat_or_lon(field: str) -> float:
    """``ddmm.mmmm`` / ``dddmm.mmmm`` to degrees (gpsd ``decode_lat_or_lon``); NaN if malformed."""
    minutes, rest = _strtol_prefix(field)
    if not rest.startswith("."):
        return NAN
    degrees = int(minutes / 100)  # C division truncates toward zero
    minutes -= degrees * 40  # rescale the hundreds to sixties
    full_minutes = minutes + atof(rest)
    return full_minutes * (1.0 / 60.0)


def lat_lon(lat: str, ns: str, lon: str, ew: str) -> tuple[float, float] | None:
    """Four NMEA fields to signed degrees; ``None`` when a field is empty or malformed."""
    if not (lat and ns and lon and ew):
        return None
    la = lat_or_lon(lat)
    if ns[0] == "S":
        la = -la
    lo = lat_or_lon(lon)
    if ew[0] == "W":
        lo = -lo
    if not (math.isfinite(la) and math.isfinite(lo)):
        return None
    return la, lo


def two_digits(text: str, at: int) -> int:
    return (ord(text[at]) - 48) * 10 + (ord(text[at + 1]) - 48)


def leading_digits(text: str, n: int) -> bool:
    return len(text) >= n and text[:n].isdigit() and text[:n].isascii()


def fraction_ns(hhmmss: str) -> int:
    """Nanoseconds of ``hhmmss.sss`` (any number of decimals), 0 without a fraction."""
    if len(hhmmss) > 7 and hhmmss[6] == "." and hhmmss[7].isdigit():
        tail = hhmmss[7:27]
        # gpsd: atoi(tail) * (long)pow(10, 9 - len): more than 9 decimals gives 0
        return atoi(tail) * 10 ** (9 - len(tail)) if len(tail) <= 9 else 0
    return 0


_CUMDAYS = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def mkgmtime(tm: tuple[int, int, int, int, int, int]) -> int:
    """UTC ``(tm_year, tm_mon, tm_mday, hour, min, sec)`` (``struct tm`` conventions) to Unix
    seconds, as gpsd computes it: linear in ``tm_mday``, so a day bumped past the month end by
    a midnight wrap still works.
    """
    tm_year, tm_mon, tm_mday, hour, minute, sec = tm
    year = 1900 + tm_year + tm_mon // 12
    mon = tm_mon % 12
    result = (year - 1970) * 365 + _CUMDAYS[mon]
    result += _cdiv(year - 1968, 4)
    result -= _cdiv(year - 1900, 100)
    result += _cdiv(year - 1600, 400)
    if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) and mon < 2:
        result -= 1
    result += tm_mday - 1
    return ((result * 24 + hour) * 60 + minute) * 60 + sec


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def satellite_counts(satnum: int, gnssid: int) -> bool:
    """Whether gpsd's ``nmeaid_to_prn`` gives this satellite number a PRN (non-zero).

    A satellite without a PRN is not counted as used; the PRN value itself is not needed here.
    """
    if satnum < 1:
        return False
    if gnssid > 0:
        if gnssid == 1:  # GPS/SBAS/QZSS numbering, with Quectel's Galileo/BeiDou quirks
            return satnum < 137 or 152 <= satnum < 158 or 193 <= satnum < 265
        return gnssid <= 6
    return any(low <= satnum <= high for low, high in _NUMBERED_RANGES)


# NMEA 2.x-4.0 satellite numbers that map to a PRN (the talker disambiguates 1-32).
_NUMBERED_RANGES = (
    (1, 96),  # GPS 1-32, SBAS 33-64, GLONASS 65-96
    (120, 158),  # SBAS
    (173, 182),  # IMES
    (193, 197),  # QZSS
    (201, 237),  # BeiDou (SiRF numbering)
    (301, 356),  # Galileo
    (401, 437),  # BeiDou
)
