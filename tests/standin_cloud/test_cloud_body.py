"""Event bodies are split into events and their exact text, whatever the spacing."""

from __future__ import annotations

import json

import pytest
from standin_cloud.body import BodyError, split_events


def test_compact_body_keeps_each_event_text_verbatim() -> None:
    texts = ['{"ulid":"A","v":1.50}', '{"ulid":"B","s":"é\\u00e9"}']
    got = split_events(('{"Events":[' + ",".join(texts) + "]}").encode())
    assert [t for _, t in got] == texts  # 1.50 and the escape survive as sent
    assert [e["ulid"] for e, _ in got] == ["A", "B"]


def test_spaced_and_empty_bodies() -> None:
    got = split_events(b' { "Events" : [ {"a": 1} ,\n {"a": 2} ] } \n')
    assert [(e, t) for e, t in got] == [({"a": 1}, '{"a": 1}'), ({"a": 2}, '{"a": 2}')]
    assert split_events(b'{"Events": []}') == []


def test_other_shapes_fall_back_to_a_full_parse() -> None:
    got = split_events(json.dumps({"Other": 1, "Events": [{"a": 1}]}).encode())
    assert got == [({"a": 1}, '{"a":1}')]
    got = split_events(b'{"Events":[1,2]}')
    assert [e for e, _ in got] == [1, 2]


@pytest.mark.parametrize(
    "raw", [b"{nope", b'{"Events": {}}', b"[]", b'{"Events":[{"a":1}]}{', b"\xff\xfe"]
)
def test_unusable_bodies_are_refused(raw: bytes) -> None:
    with pytest.raises(BodyError):
        split_events(raw)
