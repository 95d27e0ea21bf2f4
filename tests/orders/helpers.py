"""Building orders as the cloud would (signed when a key is given)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.orders.model import iso, sign

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


def orders_toml(work: Path, broker_url: str) -> str:
    """The agent's ``[orders]`` section for tests: a broker, quick reconnects, and the simulated
    relay/door lock, Wi-Fi and reboot keeping their state in ``work``."""
    return f"""
[orders]
enabled = true
broker_url = "{broker_url}"
backoff_initial_s = 0.1
backoff_max_s = 0.5
[orders.devices.actuators]
sim_state_file = "{work / 'actuators.json'}"
[orders.devices.wifi]
state_file = "{work / 'wifi.json'}"
[orders.devices.reboot]
sim_file = "{work / 'reboot'}"
"""
