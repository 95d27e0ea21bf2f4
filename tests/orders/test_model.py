"""Parsing orders: size, JSON, id, signature, expiry, age: each refusal says why."""

from __future__ import annotations

import json
import os

import pytest

from agent.errors import ConfigError
from agent.orders.model import (
    MAX_ORDER_BYTES,
    OrderError,
    OrderStatus,
    StatusMessage,
    canonical,
    load_order_key,
    parse_order,
    parse_time,
)
from tests.orders.helpers import KEY, T0, order_bytes, order_dict


def test_a_signed_order_parses_and_is_marked_verified() -> None:
    o = parse_order(order_bytes("01HACP87N57SF5RQZMJTV1898Q", "state", key=KEY), KEY, now=T0)
    assert o.order_ulid == "01HACP87N57SF5RQZMJTV1898Q"
    assert o.type == "state"
    assert o.verified
    assert o.issued_at == T0


def test_signature_is_hmac_over_compact_sorted_json_without_signature() -> None:
    msg = order_dict("A1", "config", {"orders": [{"config": "MAX_SPEED_KMH", "value": 100}]},
                     key=KEY)
    body = {k: v for k, v in msg.items() if k != "signature"}
    assert canonical(msg) == json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    import hashlib
    import hmac
    assert msg["signature"] == hmac.new(KEY, canonical(msg), hashlib.sha256).hexdigest()


def test_unsigned_order_is_refused_when_a_key_is_configured() -> None:
    with pytest.raises(OrderError, match="unsigned") as e:
        parse_order(order_bytes("A1", "state"), KEY)
    assert e.value.order_ulid == "A1"
    assert not e.value.authentic


def test_forged_signature_is_refused() -> None:
    msg = order_dict("A1", "command", {"command": "RELAY,0"}, key=KEY)
    msg["params"] = {"command": "RELAY,1"}  # tampered after signing
    with pytest.raises(OrderError, match="bad signature"):
        parse_order(json.dumps(msg).encode(), KEY)
    msg2 = order_dict("A1", "state", key=b"another key of 32 bytes........!")
    with pytest.raises(OrderError, match="bad signature"):
        parse_order(json.dumps(msg2).encode(), KEY)


def test_without_a_key_a_signature_is_not_needed() -> None:
    o = parse_order(order_bytes("A1", "state"), None)
    assert not o.verified


def test_oversize_order_is_refused_with_its_id() -> None:
    big = order_dict("BIG1", "config", {"pad": "x" * MAX_ORDER_BYTES})
    with pytest.raises(OrderError, match="over the 131072 byte limit") as e:
        parse_order(json.dumps(big).encode(), None)
    assert e.value.order_ulid == "BIG1"


@pytest.mark.parametrize(("payload", "why"), [
    (b"{not json", "not JSON"),
    (b"[1,2]", "not a JSON object"),
    (b'{"type": "state"}', "orderUlid missing"),
    (b'{"orderUlid": "A1", "type": "state", "params": {}, "issuedAt": "yesterday"}',
     "not an ISO-8601"),
    (b'{"orderUlid": "A1", "type": "state", "params": [], "issuedAt": "2024-03-12T14:52:00Z"}',
     "params must be an object"),
    (b'{"orderUlid": "A1", "type": "state", "issuedAt": "2024-03-12T14:52:00", "expiresAt": null}',
     "no time zone"),
    (b'{"orderUlid": "A1", "type": "state", "issuedAt": "2024-03-12T14:52:00Z", "x": 1}',
     "unknown field"),
    (b'{"orderUlid": "A1", "type": "state", "issuedAt": "2024-03-12T14:52:00Z", "n": NaN}',
     "not JSON"),
])
def test_malformed_orders_say_what_is_wrong(payload: bytes, why: str) -> None:
    with pytest.raises(OrderError, match=why):
        parse_order(payload, None)


def test_an_expired_order_is_expired_not_rejected() -> None:
    payload = order_bytes("A1", "state", expires=T0 + 60)
    assert parse_order(payload, None, now=T0 + 59.999).order_ulid == "A1"
    with pytest.raises(OrderError, match=r"expired at 2024-03-12T14:53:00\.000Z") as e:
        parse_order(payload, None, now=T0 + 60)
    assert e.value.status is OrderStatus.EXPIRED


def test_an_old_order_without_expiry_is_refused_as_a_replay() -> None:
    payload = order_bytes("A1", "state")
    assert parse_order(payload, None, now=T0 + 3600, max_age_s=3600).order_ulid == "A1"
    with pytest.raises(OrderError, match="possible replay"):
        parse_order(payload, None, now=T0 + 3601, max_age_s=3600)


def test_times_accept_z_offsets_and_fractions() -> None:
    assert parse_time("2024-03-12T14:52:00Z", "t") == T0
    assert parse_time("2024-03-12T14:52:00.500Z", "t") == T0 + 0.5
    assert parse_time("2024-03-12T16:52:00+02:00", "t") == T0


def test_status_message_wire_form() -> None:
    m = StatusMessage("A1", OrderStatus.SUCCEEDED, "ok", 1)
    assert json.loads(m.payload()) == {"orderUlid": "A1", "status": "SUCCEEDED", "detail": "ok",
                                       "timestamp": 1}


def test_order_key_file_must_be_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "order.key"
    f.write_text(KEY.hex())
    os.chmod(f, 0o644)
    with pytest.raises(ConfigError, match="must be 0600") as e:
        load_order_key(f)
    assert KEY.hex() not in str(e.value)
    os.chmod(f, 0o600)
    assert load_order_key(f) == KEY
    f.write_bytes(b"short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_order_key(f)
