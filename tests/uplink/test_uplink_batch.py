"""Request bodies are the stored envelope bytes joined, never re-serialised."""

from __future__ import annotations

import gzip
import json

from agent.store.api import StoredEvent
from agent.uplink.batch import events_body, gzip_bytes, split_by_size


def _stored(i: int, payload: str = "x") -> StoredEvent:
    # Deliberately odd but valid JSON (spacing, key order, unicode) to prove bytes pass as-is.
    env = f'{{"ulid": "U{i}",  "n":{i}, "s":"{payload}é"}}'.encode()
    return StoredEvent(row_id=i, ulid=f"U{i}", sequence_number=i, priority=3, envelope=env)


def test_body_joins_the_stored_bytes_verbatim() -> None:
    events = [_stored(i) for i in range(3)]
    body = events_body(events)
    assert body == b'{"Events":[' + b",".join(e.envelope for e in events) + b"]}"
    assert [e["n"] for e in json.loads(body)["Events"]] == [0, 1, 2]


def test_empty_batch_is_still_valid_json() -> None:
    assert json.loads(events_body([])) == {"Events": []}


def test_gzip_is_standard_gzip() -> None:
    body = events_body([_stored(i) for i in range(100)])
    packed = gzip_bytes(body)
    assert packed[:2] == b"\x1f\x8b" and gzip.decompress(packed) == body
    assert len(packed) < len(body) / 5


def test_split_keeps_order_and_every_body_under_the_limit() -> None:
    events = [_stored(i, "y" * (i * 7)) for i in range(60)]
    chunks = list(split_by_size(events, 2000))
    assert [e.row_id for c in chunks for e in c] == list(range(60))
    assert len(chunks) > 1
    assert all(len(events_body(c)) <= 2000 for c in chunks)


def test_an_event_bigger_than_the_limit_goes_alone() -> None:
    big = _stored(1, "z" * 5000)
    chunks = list(split_by_size([_stored(0), big, _stored(2)], 1000))
    assert [[e.row_id for e in c] for c in chunks] == [[0], [1], [2]]
