"""``edge-agent diag nmea FILE [--json]``: decode a captured NMEA file, one fix update per line.

Lines starting with ``#`` are capture notes (``# Date: yyyy-mm-dd`` sets the century for
two-digit RMC years). Each fix update is printed as gpsd prints a TPV report (``--json``) or as
one readable line; the parser's counters (sentences, rejects by reason, fixes) go to stderr.
``FILE`` may be ``-`` for standard input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from agent.sources.gnss.capture import parse_capture
from agent.sources.gnss.merger import iso_time
from agent.sources.gnss.parser import NmeaParser
from agent.sources.readings import FixMode, GnssFix

_MODE_TEXT = {FixMode.UNKNOWN: "mode?", FixMode.NO_FIX: "no-fix", FixMode.FIX_2D: "2D",
              FixMode.FIX_3D: "3D"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="NMEA capture (raw receiver output), or - for stdin")
    parser.add_argument("--json", action="store_true", help="one gpsd-style TPV object per line")
    parser.add_argument("--century", type=int, default=None,
                        help="century for two-digit years (default: from '# Date:', else 2000)")


def tpv(fix: GnssFix) -> dict[str, object]:
    """A fix as gpsd's TPV object: same names, units (m, m/s, degrees) and precision."""
    out: dict[str, object] = {"class": "TPV", "mode": int(fix.mode)}
    if fix.time_ms is not None:
        out["time"] = iso_time(fix.time_ms)
    for key, value, digits in (
        ("lat", fix.lat, 9), ("lon", fix.lon, 9), ("alt", fix.alt, 4), ("altMSL", fix.alt, 4),
        ("track", fix.track, 4), ("speed", fix.speed_mps, 3), ("climb", fix.climb_mps, 3),
    ):
        if value is not None:
            out[key] = round(value, digits)
    for key, value in (("hdop", fix.hdop), ("vdop", fix.vdop), ("pdop", fix.pdop)):
        if value is not None:
            out[key] = round(value, 2)
    out["uSat"] = fix.satellites_used
    out["nSat"] = fix.satellites_visible
    return out


def text_line(fix: GnssFix) -> str:
    when = iso_time(fix.time_ms) if fix.time_ms is not None else "(no time)".ljust(24)
    parts = [when, _MODE_TEXT[fix.mode].ljust(6)]
    if fix.lat is not None and fix.lon is not None:
        parts.append(f"{fix.lat:13.9f} {fix.lon:14.9f}")
    if fix.alt is not None:
        parts.append(f"alt {fix.alt:8.1f} m")
    if fix.speed_mps is not None:
        parts.append(f"{fix.speed_mps:7.3f} m/s")
    if fix.track is not None:
        parts.append(f"track {fix.track:6.2f}")
    parts.append(f"sats {fix.satellites_used}/{fix.satellites_visible}")
    if fix.hdop is not None:
        parts.append(f"hdop {fix.hdop:.1f}")
    return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"edge-agent diag nmea: {exc}", file=sys.stderr)
        return 66  # EX_NOINPUT
    capture = parse_capture(data)
    century = args.century or capture.century or 2000
    parser = NmeaParser(century=century)
    fixes = parser.feed(capture.body, 0.0)
    parser.flush()
    try:
        for fix in fixes:
            line = json.dumps(tpv(fix), separators=(",", ":")) if args.json else text_line(fix)
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    counters = parser.counters()
    summary = ", ".join(f"{name} {value}" for name, value in counters.items()
                        if value or name in ("sentences", "reports"))
    print(f"nmea: {summary}", file=sys.stderr)
    return 0
