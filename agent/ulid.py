"""ULIDs (https://github.com/ulid/spec) whose time part is the event's own timestamp.

Generated strictly (26 chars of Crockford base32, first char 0-7); parsed leniently
elsewhere because the seed's own examples contain invalid ones.
"""

from __future__ import annotations

import os
import re

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def new_ulid(timestamp_ms: int) -> str:
    """A fresh ULID: 48 bits of ``timestamp_ms`` then 80 random bits."""
    if not 0 <= timestamp_ms < 1 << 48:
        raise ValueError(f"timestamp out of ULID range: {timestamp_ms}")
    value = (timestamp_ms << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def ulid_timestamp_ms(ulid: str) -> int:
    """The millisecond time part of a valid ULID."""
    if not ULID_RE.match(ulid):
        raise ValueError(f"not a ULID: {ulid!r}")
    value = 0
    for ch in ulid[:10]:
        value = value * 32 + _DECODE[ch]
    return value


def is_ulid(text: str) -> bool:
    return bool(ULID_RE.match(text))
