"""Building orders as the cloud would (signed when a key is given)."""

from __future__ import annotations

import json
from typing import Any

from agent.orders.model import iso, sign
from agent.sim.orders_config import orders_toml

__all__ = ["order_bytes", "order_dict", "orders_toml"]

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
T0 = 1_710_255_120.0  # 2024-03-12T14:52:00Z


def order_dict(ulid: str, kind: str, params: dict[str, Any] | None = None, *,
               issued: float = T0, expires: float | None = None,
               key: bytes | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"orderUlid": ulid, "type": kind, "params": params or {},
                           "issuedAt": iso(issued),
                           "expiresAt": None if expires is None else iso(expires)}
    if key is not None:
        msg["signature"] = sign(msg, key)
    return msg


def order_bytes(*args: Any, **kwargs: Any) -> bytes:
    return json.dumps(order_dict(*args, **kwargs)).encode()
