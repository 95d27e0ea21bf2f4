"""Request bodies built from the outbox's stored envelope bytes, never re-serialised."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

from agent.store.api import StoredEvent

_OPEN = b'{"Events":['
_CLOSE = b"]}"


def events_body(events: Sequence[StoredEvent]) -> bytes:
    """``{"Events": [envelope, ...]}`` by joining the stored UTF-8 envelopes."""
    return b"".join((_OPEN, b",".join(e.envelope for e in events), _CLOSE))


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """RFC 1952 gzip (what ``Content-Encoding: gzip`` means), without a file name or mtime."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return comp.compress(data) + comp.flush()


def split_by_size(events: Sequence[StoredEvent], max_bytes: int) -> Iterator[list[StoredEvent]]:
    """Consecutive chunks whose body stays under ``max_bytes`` (one event always fits a chunk)."""
    chunk: list[StoredEvent] = []
    size = len(_OPEN) + len(_CLOSE)
    for ev in events:
        add = len(ev.envelope) + 1
        if chunk and size + add > max_bytes:
            yield chunk
            chunk, size = [], len(_OPEN) + len(_CLOSE)
        chunk.append(ev)
        size += add
    if chunk:
        yield chunk
