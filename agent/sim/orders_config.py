"""The agent's ``[orders]`` config section for a simulated box: a broker, and the simulated
relay/door lock, Wi-Fi and reboot keeping their state in a work directory. One writer for the
demo, the fault campaign, the order benchmark and the tests."""

from __future__ import annotations

from pathlib import Path


def orders_toml(
    work: Path,
    broker_url: str,
    *,
    key_file: Path | None = None,
    backoff_s: tuple[float, float] = (0.1, 0.5),
) -> str:
    """TOML text of ``[orders]`` and its simulated devices; ``key_file``: signed orders
    required (hex HMAC key, 0600); ``backoff_s``: the link's reconnect backoff (initial, max)."""
    key = f'order_key_file = "{key_file}"\n' if key_file is not None else ""
    return f"""
[orders]
enabled = true
broker_url = "{broker_url}"
backoff_initial_s = {backoff_s[0]}
backoff_max_s = {backoff_s[1]}
{key}[orders.devices.actuators]
sim_state_file = "{work / 'actuators.json'}"
[orders.devices.wifi]
state_file = "{work / 'wifi.json'}"
[orders.devices.reboot]
sim_file = "{work / 'reboot-requested'}"
"""
