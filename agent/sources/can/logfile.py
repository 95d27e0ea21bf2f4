"""Read captured CAN traffic: candump logs (``-L`` and screen formats) and SLCAN captures.

Accepted lines (blank lines and ``#`` comments are skipped, anything else is counted as bad):

* ``(1436509052.249713) can0 18FEF100#FF003200FFFFFFFF``   candump -L / log file
* ``(1436509052.249713)  can0  18FEF100   [8]  FF 00 32 ...`` candump -ta (timestamp optional)
* ``T18FEF1008FF003200FFFFFFFF`` / ``t1238...``             SLCAN lines (as an adapter sends
  them; a trailing 4-digit SLCAN timestamp is ignored), separated by ``\\r`` and/or ``\\n``
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.errors import SourceError

# re.ASCII: \d is 0-9 only (float() and int() also read other scripts' digits).
_LOG = re.compile(
    r"^\((?P<t>\d+(?:\.\d+)?)\)\s+\S+\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#(?P<data>R?[0-9A-Fa-f]*)$",
    re.ASCII,
)
_SCREEN = re.compile(
    r"^(?:\((?P<t>\d+(?:\.\d+)?)\)\s+)?\S+\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})\s+"
    r"\[(?P<dlc>\d)\]\s*(?P<data>(?:[0-9A-Fa-f]{2}\s*)*)$",
    re.ASCII,
)
_SLCAN_ID = {"T": re.compile(r"(?P<id>[0-9A-Fa-f]{8})(?P<dlc>[0-8])"),
             "t": re.compile(r"(?P<id>[0-9A-Fa-f]{3})(?P<dlc>[0-8])")}
_HEX = re.compile(r"[0-9A-Fa-f]*")


@dataclass(frozen=True, slots=True)
class Frame:
    t: float | None
    can_id: int
    extended: bool
    data: bytes


def _id_ok(can_id: int, extended: bool) -> bool:
    """29-bit extended or 11-bit standard identifier; higher bits are flags (error frames)."""
    return can_id <= (0x1FFFFFFF if extended else 0x7FF)


def parse_slcan_line(line: str) -> Frame | None:
    """One SLCAN frame line (``T``/``t`` data frames); ``None`` if it is not one."""
    if line[:1] not in _SLCAN_ID:
        return None
    extended = line[0] == "T"
    # Hex digits only: int(..., 16) also takes a sign, spaces, "_" and "0x", bytes.fromhex
    # spaces, int() any Unicode digit.
    m = _SLCAN_ID[line[0]].match(line, 1)
    if m is None:
        return None
    can_id, dlc = int(m["id"], 16), int(m["dlc"])
    hexdata = line[m.end() : m.end() + 2 * dlc]
    if len(hexdata) != 2 * dlc or not _HEX.fullmatch(hexdata) or not _id_ok(can_id, extended):
        return None
    return Frame(None, can_id, extended, bytes.fromhex(hexdata))


def parse_line(line: str) -> Frame | None:
    """A frame from one line of any accepted format, ``None`` if the line is not a frame."""
    line = line.strip()
    if line[:1] in ("T", "t"):
        return parse_slcan_line(line)
    m = _LOG.match(line)
    if m:
        data = m["data"]
        if data.startswith("R") or len(data) % 2:
            return None  # remote frame / odd nibble count: nothing to decode
        ident = m["id"]
        if not _id_ok(int(ident, 16), len(ident) == 8):
            return None  # an error frame (CAN_ERR_FLAG) or flag bits: not a data frame
        t = float(m["t"])
        if not math.isfinite(t):
            return None  # over 308 digits: no time at all
        return Frame(t, int(ident, 16), len(ident) == 8, bytes.fromhex(data))
    m = _SCREEN.match(line)
    if m:
        data = bytes.fromhex(m["data"].replace(" ", ""))
        if len(data) != int(m["dlc"]):
            return None
        ident = m["id"]
        if not _id_ok(int(ident, 16), len(ident) == 8):
            return None
        stamp = float(m["t"]) if m["t"] else None
        if stamp is not None and not math.isfinite(stamp):
            return None
        return Frame(stamp, int(ident, 16), len(ident) == 8, data)
    return None


@dataclass(slots=True)
class ReadStats:
    lines: int = 0
    frames: int = 0
    bad_lines: int = 0


def iter_frames(lines: Iterable[str], stats: ReadStats | None = None) -> Iterator[Frame]:
    stats = stats if stats is not None else ReadStats()
    for raw in lines:
        for line in raw.replace("\r", "\n").split("\n"):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            stats.lines += 1
            frame = parse_line(text)
            if frame is None:
                stats.bad_lines += 1
                continue
            stats.frames += 1
            yield frame


def read_frames(path: Path, stats: ReadStats | None = None) -> Iterator[Frame]:
    """Frames of a capture file, in file order."""
    try:
        handle = path.open(encoding="ascii", errors="replace", newline="")
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    with handle:
        yield from iter_frames(handle, stats)
