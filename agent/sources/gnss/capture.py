"""Captured NMEA files (as in ``shared/testdata/gpsd``): receiver bytes plus ``#`` comment lines.

A receiver never sends ``#`` lines; they carry the capture's notes. ``# Date: yyyy-mm-dd`` gives
the century used for two-digit RMC years (what gpsd does with it during its regression tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_DATE = re.compile(rb"^#\s*Date:\s*(\d{4})")


@dataclass(frozen=True, slots=True)
class Capture:
    body: bytes  # the receiver's bytes, comment lines removed, line ends as captured
    century: int | None  # from ``# Date:``, else None


def parse_capture(data: bytes) -> Capture:
    century: int | None = None
    kept: list[bytes] = []
    for line in data.splitlines(keepends=True):
        if line.startswith(b"#"):
            m = _DATE.match(line)
            if m and century is None:
                year = int(m.group(1))
                century = year - year % 100
            continue
        kept.append(line)
    return Capture(body=b"".join(kept), century=century)


def read_capture(path: Path) -> Capture:
    return parse_capture(path.read_bytes())
