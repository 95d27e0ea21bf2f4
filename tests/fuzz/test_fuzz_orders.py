"""Order messages: ``parse_order`` on arbitrary bytes, JSON values and mutated valid orders.

Property: only :class:`OrderError` (its documented error), with and without an order key.
"""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from agent.orders.model import OrderError, parse_order, sign

from .budget import tried
from .strategies import mutated

KEY = b"k" * 32
VALID = {"orderUlid": "01HZX5J4QW3E8R2T6Y9U0I1O2P", "type": "MAX_SPEED_KMH",
         "params": {"value": 72}, "issuedAt": "2026-01-01T00:00:00Z",
         "expiresAt": "2026-01-02T00:00:00Z"}
SIGNED = {**VALID, "signature": sign(VALID, KEY)}
SAMPLES = [json.dumps(VALID).encode(), json.dumps(SIGNED).encode()]

VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59Z",
                       "0001-01-01T00:00:00Z", "2026-01-01T00:00:00+99:00", "", "Z", "now"]),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                              max_size=3),
    max_leaves=12)
FIELDS = st.sampled_from(["orderUlid", "type", "params", "issuedAt", "expiresAt", "signature"])


@st.composite
def field_changed(draw: st.DrawFn) -> bytes:
    obj = dict(draw(st.sampled_from([VALID, SIGNED])))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(FIELDS | st.text(max_size=8))
        if draw(st.booleans()):
            obj[name] = draw(VALUE)
        else:
            obj.pop(name, None)
    return json.dumps(obj).encode()


@given(st.one_of(st.binary(max_size=300), mutated(SAMPLES), field_changed(),
                 VALUE.map(lambda v: json.dumps(v).encode())),
       st.sampled_from([None, KEY]), st.sampled_from([None, 1_767_225_600.0, 1e18, -1e18]))
def test_parse_order(payload: bytes, key: bytes | None, now: float | None) -> None:
    tried("orders")
    with contextlib.suppress(OrderError):
        parse_order(payload, key, now=now, max_age_s=3600.0)
