"""Splitting a ``{"Events": [...]}`` body into events *and their exact text*.

The cloud stores each envelope as the device sent it. Re-serialising 500 parsed events per
request cost as much as parsing them, so the common shape is scanned with the C JSON scanner
(``raw_decode``) event by event, keeping each event's slice; anything else falls back to
``json.loads`` plus compact re-serialisation.
"""

from __future__ import annotations

import json
import re
from typing import Any

_HEAD = re.compile(r'\s*\{\s*"Events"\s*:\s*\[\s*')
_WS = re.compile(r"\s*")


def _not_json(name: str) -> Any:
    # Python reads NaN/Infinity; JSON (RFC 8259) has no such numbers and real parsers refuse them.
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_not_json)


class BodyError(ValueError):
    """Not a ``{"Events": [...]}`` JSON body."""


TOO_DEEP = "body is nested too deeply"


def loads(text: str | bytes) -> Any:
    """``json.loads`` without NaN/Infinity; ``ValueError`` (never ``RecursionError``) if unusable.

    The C scanner recurses once per nesting level: ~1000 levels of ``[`` exhaust the
    interpreter's recursion limit, which is a bad body, not a server error.
    """
    try:
        return json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None


def split_events(raw: bytes) -> list[tuple[Any, str]]:
    """``[(event, its JSON text), ...]``; raise :class:`BodyError` when the body is unusable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("body is not UTF-8") from None
    fast = _scan(text)
    if fast is not None:
        return fast
    try:
        body = loads(text)
    except ValueError as exc:
        raise BodyError(TOO_DEEP if str(exc) == TOO_DEEP else "body is not valid JSON") from None
    events = body.get("Events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        raise BodyError('body must be {"Events": [...]}')
    try:
        return [(ev, json.dumps(ev, separators=(",", ":"), ensure_ascii=False)) for ev in events]
    except RecursionError:  # parsed just below the limit, deeper than the encoder allows
        raise BodyError(TOO_DEEP) from None


def _scan(text: str) -> list[tuple[Any, str]] | None:
    """The fast path for exactly ``{"Events":[e, e, ...]}``; ``None`` for any other shape."""
    head = _HEAD.match(text)
    if head is None:
        return None
    out: list[tuple[Any, str]] = []
    pos = head.end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                obj, end = _DECODER.raw_decode(text, pos)
            except (ValueError, RecursionError):  # the full parse then says what is wrong
                return None
            out.append((obj, text[pos:end]))
            pos = _WS.match(text, end).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            return None
    tail = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if not text.startswith("}", tail) or text[tail + 1 :].strip():
        return None
    return out
