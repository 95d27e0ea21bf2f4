"""Order messages: ``parse_order`` on arbitrary bytes, JSON values and mutated valid orders.

Property: only :class:`OrderError` (its documented error), with and without an order key.
"""

from __future__ import annotations

import json
import math

import pytest
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
    check_order(payload, key, now)


def check_order(payload: bytes, key: bytes | None, now: float | None) -> None:
    """The contract (shared with the atheris harness ``tests/fuzz/targets/orders.py``)."""
    tried("orders")
    try:
        order = parse_order(payload, key, now=now, max_age_s=3600.0)
    except OrderError:
        return
    assert isinstance(order.order_ulid, str) and isinstance(order.type, str), order
    assert math.isfinite(order.issued_at), order
    assert order.expires_at is None or math.isfinite(order.expires_at), order
    assert order.verified == (key is not None), order


def test_regression_non_ascii_or_surrogate_signature_is_order_error() -> None:
    """Found by the atheris harness (tests/fuzz/targets/orders.py): with an order key, a
    signature holding a non-ASCII character reached ``hmac.compare_digest`` on ``str``
    (``TypeError``), and a lone surrogate anywhere in the message reached the UTF-8 encode of
    the canonical form (``UnicodeEncodeError``); both are now "bad signature"."""
    non_ascii = json.dumps({**SIGNED, "signature": "ba48\u041c" + SIGNED["signature"][5:]})
    surrogate = b'{"orderUlid":"01HZX","type":"\\ud800","signature":"ab"}'
    for payload in (non_ascii.encode(), surrogate):
        with pytest.raises(OrderError, match="bad signature"):
            parse_order(payload, KEY)
    assert parse_order(json.dumps(SIGNED).encode(), KEY).verified
