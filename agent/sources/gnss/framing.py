"""Bytes from a receiver to checksummed NMEA sentences, counting what is thrown away and why.

Rules (checked against the sentences gpsd's packet layer accepted in ``shared/testdata/gpsd``):

* a line ends at CR or LF, so ``\\r\\n``, ``\\r\\r\\n`` and bare LF all work;
* a sentence starts at the *last* ``$`` or ``!`` of a line: a ``$$`` start is repaired and a
  sentence cut off by the next one (``$GPGSA,A,1,$GPRMC,...``) is dropped, the newer one kept;
* a sentence interrupted by another one and continued on the next line (receivers that
  interleave two output tasks) is spliced back together when the joined text checksums;
* a sentence is accepted only with ``*HH`` and a matching XOR checksum, printable ASCII only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

MAX_LINE = 1024  # bytes buffered without a line end before the buffer counts as garbage
_STARTS = (ord("$"), ord("!"))
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_EOL = re.compile(rb"[\r\n]+")


@dataclass(slots=True)
class FramingCounters:
    """Why bytes did not become sentences. Every rejected line counts under exactly one reason."""

    bytes: int = 0
    lines: int = 0
    sentences: int = 0  # accepted, checksum verified
    bad_checksum: int = 0  # well formed ``$...*HH`` whose checksum does not match
    no_checksum: int = 0  # ran to the line end without ``*HH``
    truncated: int = 0  # cut short: interrupted by a new ``$``, or a broken ``*HH`` tail
    garbage: int = 0  # text outside any sentence (no ``$``/``!`` start, noise before one)
    non_ascii: int = 0  # candidate sentence holding NUL or other non-printable bytes
    nul_bytes: int = 0  # NUL bytes seen anywhere
    overlong: int = 0  # more than MAX_LINE bytes without a line end
    doubled_start: int = 0  # ``$$`` repaired to ``$`` (the sentence still counts as accepted)
    spliced: int = 0  # interrupted sentence rejoined across lines (also counted as accepted)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def checksum_ok(sentence: bytes) -> bool:
    """``$body*HH`` with HH the XOR of the body bytes (between the start char and ``*``)."""
    star = len(sentence) - 3
    if star < 1 or sentence[star] != 0x2A:
        return False
    tail = sentence[star + 1:]
    if tail[0] not in _HEX or tail[1] not in _HEX:
        return False
    return xor_bytes(sentence[1:star]) == int(tail, 16)


def xor_bytes(data: bytes) -> int:
    """XOR of all bytes, folding the bytes as one integer (much faster than a Python loop)."""
    value = int.from_bytes(data, "little")
    n = len(data)
    while n > 1:
        half = (n + 1) // 2
        value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
        n = half
    return value


class SentenceFramer:
    """Incremental: ``feed`` any chunking of the stream; whole sentences come out as ``str``."""

    def __init__(self) -> None:
        self.counters = FramingCounters()
        self._buf = bytearray()
        self._pending: bytes | None = None  # an interrupted sentence that may continue next line
        self._discarding = False  # inside a line already counted as overlong

    def feed(self, data: bytes) -> list[str]:
        c = self.counters
        c.bytes += len(data)
        c.nul_bytes += data.count(0)
        out: list[str] = []
        if self._discarding:  # rest of an overlong line: drop up to its end
            end = _first_eol(data)
            if end < 0:
                return out
            data = data[end + 1:]
            self._discarding = False
        buf = self._buf
        buf += data
        end = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        if end >= 0:
            complete = bytes(buf[:end])
            del buf[: end + 1]
            for line in _EOL.split(complete):
                if line:
                    self._line(line, out)
        if len(buf) > MAX_LINE:
            c.overlong += 1
            c.lines += 1
            buf.clear()
            self._pending = None
            self._discarding = True
        return out

    def _line(self, line: bytes, out: list[str]) -> None:
        c = self.counters
        c.lines += 1
        if len(line) > MAX_LINE:
            c.overlong += 1
            self._pending = None
            return
        pending, self._pending = self._pending, None
        begin = _last_start(line)
        if pending is not None:
            head = line if begin < 0 else line[:begin]
            if head and head[0] not in _STARTS:
                joined = pending + head
                if checksum_ok(joined) and joined.isascii() and _printable(joined):
                    c.spliced += 1
                    c.sentences += 1
                    out.append(joined.decode("ascii"))
                    if begin < 0:
                        return
                    line = line[begin:]
                    begin = 0
                else:
                    c.truncated += 1
            else:
                c.truncated += 1
        if begin < 0:
            c.garbage += 1
            return
        if begin > 0:
            prefix = line[:begin]
            if prefix == b"$":
                c.doubled_start += 1
            elif prefix[0] not in _STARTS:
                c.garbage += 1
            elif b"*" not in prefix:
                # interrupted mid-sentence; may continue on the next line (else: truncated)
                self._pending = prefix
            else:
                c.truncated += 1  # complete-looking sentence glued to the next, no line end
        self._candidate(line[begin:], out)

    def _candidate(self, sentence: bytes, out: list[str]) -> None:
        c = self.counters
        if not _printable(sentence):
            c.non_ascii += 1
            return
        star = sentence.find(b"*")
        if star < 0:
            c.no_checksum += 1
        elif star != len(sentence) - 3:
            c.truncated += 1
        elif checksum_ok(sentence):
            c.sentences += 1
            out.append(sentence.decode("ascii"))
        else:
            c.bad_checksum += 1

    def flush(self) -> None:
        """End of stream: whatever is buffered without a line end is an incomplete line."""
        if self._pending is not None:
            self.counters.truncated += 1
            self._pending = None
        if self._buf:
            self.counters.lines += 1
            self.counters.truncated += 1
            self._buf.clear()
        self._discarding = False


def _first_eol(data: bytes) -> int:
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    return min(ends) if ends else -1


def _last_start(line: bytes) -> int:
    return max(line.rfind(b"$"), line.rfind(b"!"))


_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")


def _printable(data: bytes) -> bool:
    return _NOT_PRINTABLE.search(data) is None
