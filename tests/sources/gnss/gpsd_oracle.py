"""gpsd's regression output (``shared/testdata/gpsd/*.chk``) as test oracle.

A ``.chk`` interleaves the sentences gpsd accepted (echoed as received) with its JSON reports.
Fields are compared with the tolerances of ``shared/testdata/gpsd/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from agent.sources.gnss import NmeaParser, iso_time, read_capture
from agent.sources.readings import GnssFix

CAPTURES = Path(__file__).resolve().parents[4] / "shared" / "testdata" / "gpsd"
CAPTURE_NAMES = sorted(p.name for p in CAPTURES.glob("*.log"))

# |difference| allowed per TPV field (README: observed maxima are far below these)
TOLERANCE = {"lat": 1e-6, "lon": 1e-6, "altMSL": 0.01, "speed": 0.01, "track": 0.01}
FIELDS = ("lat", "lon", "altMSL", "speed", "track")

Tpv = dict[str, object]


def chk_lines(log: Path) -> list[str]:
    text = log.with_name(log.name + ".chk").read_bytes().decode("latin-1")
    return [line.rstrip("\r") for line in text.split("\n")]


def expected_tpvs(log: Path) -> list[Tpv]:
    return [json.loads(line) for line in chk_lines(log) if line.startswith('{"class":"TPV"')]


def echoed_sentences(log: Path) -> list[str]:
    return [line for line in chk_lines(log) if line[:1] in ("$", "!")]


def as_tpv(fix: GnssFix) -> Tpv:
    out: Tpv = {"mode": int(fix.mode)}
    if fix.time_ms is not None:
        out["time"] = iso_time(fix.time_ms)
    for key, value in (("lat", fix.lat), ("lon", fix.lon), ("altMSL", fix.alt),
                       ("speed", fix.speed_mps), ("track", fix.track)):
        if value is not None:
            out[key] = value
    return out


def decode(log: Path) -> tuple[list[GnssFix], NmeaParser]:
    capture = read_capture(log)
    parser = NmeaParser(century=capture.century or 2000)
    fixes = parser.feed(capture.body, t=0.0)
    parser.flush()
    return fixes, parser


def per_epoch(tpvs: Iterable[Tpv]) -> dict[str, Tpv]:
    """README recipe: TPVs with a time and mode >= 2, merged in order per time."""
    epochs: dict[str, Tpv] = {}
    for tpv in tpvs:
        mode = tpv["mode"]
        if "time" in tpv and isinstance(mode, int) and mode >= 2:
            epochs.setdefault(str(tpv["time"]), {}).update(tpv)
    return epochs


def differences(expected: Tpv, got: Tpv) -> list[str]:
    """Mismatches between two TPVs on mode, time and the compared fields."""
    out = [f"{key}: expected {expected.get(key)!r}, got {got.get(key)!r}"
           for key in ("mode", "time") if expected.get(key) != got.get(key)]
    for key in FIELDS:
        if (key in expected) != (key in got):
            out.append(f"{key}: expected {expected.get(key)!r}, got {got.get(key)!r}")
        elif key in expected:
            e, g = expected[key], got[key]
            assert isinstance(e, float | int) and isinstance(g, float | int)
            if abs(e - g) > TOLERANCE[key]:
                out.append(f"{key}: expected {e}, got {g}")
    return out
