"""The cloud's MQTT side (CONTRACT.md §4): THE only module of the stand-in importing aiomqtt.

With ``--mqtt URL`` the cloud connects to the broker (client id ``--mqtt-client-id``, a
persistent session so statuses sent while the cloud is down wait for it, QoS 1, MQTT 3.1.1) and

* publishes every ``PENDING`` order on ``v3/devices/{ds}/orders`` (QoS 1; ``SENT`` once the
  broker PUBACKs it), signed when the cloud has an order key;
* subscribes to ``v3/devices/+/orders/status`` (applied to the stored orders),
  ``.../orders/sync`` (answered by re-publishing every order of that device that is not final
  here: the reconcile), ``.../config/reported``, ``.../presence`` and ``.../state`` (kept, the
  latest of each, for ``GET /order/devices/{ds}/config``);
* reconnects with capped exponential backoff and full jitter when the broker goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import aiomqtt

from .orders import DEVICE_RE, OrderBook
from .store import OrderRow

log = logging.getLogger("standin_cloud.mqtt")

SUBSCRIBED: Final = ("orders/status", "orders/sync", "config/reported", "presence", "state")
BACKOFF_INITIAL_S: Final = 0.2
BACKOFF_MAX_S: Final = 5.0


def parse_url(url: str) -> tuple[str, int, bool]:
    """``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]`` → (host, port, tls)."""
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        raise ValueError(f"--mqtt {url!r}: must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    try:
        port = u.port
    except ValueError as exc:
        raise ValueError(f"--mqtt {url!r}: {exc}") from None
    tls = u.scheme == "mqtts"
    return u.hostname, port or (8883 if tls else 1883), tls


class MqttBridge:
    def __init__(self, url: str, book: OrderBook, client_id: str,
                 count: Callable[[str], None] = lambda _: None) -> None:  # fmt: skip
        self.host, self.port, self.tls = parse_url(url)
        self.book = book
        self.client_id = client_id
        self.count = count
        self.connected = False
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        tls = ssl.create_default_context() if self.tls else None
        attempt = 0
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id, clean_session=False,
                    protocol=aiomqtt.ProtocolVersion.V311, keepalive=30, timeout=10,
                    tls_context=tls, logger=log,
                ) as client:  # fmt: skip
                    for suffix in SUBSCRIBED:
                        await client.subscribe(f"v3/devices/+/{suffix}", qos=1)
                    self.connected = True
                    attempt = 0
                    self.count("mqtt connected")
                    log.info("mqtt: connected to %s:%d", self.host, self.port)
                    await self._session(client)
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                if self.connected or attempt == 0:
                    log.warning("mqtt: broker %s:%d: %s", self.host, self.port, exc)
            finally:
                self.connected = False
            delay = random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** min(attempt, 20)))
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        tasks = {
            asyncio.create_task(self._send(client)),
            asyncio.create_task(self._receive(client)),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _publish(self, client: aiomqtt.Client, row: OrderRow) -> None:
        topic = f"v3/devices/{row.device_source}/orders"
        await client.publish(topic, self.book.wire(row), qos=1)  # returns after the PUBACK
        self.count("mqtt orders published")
        if row.status == "PENDING":
            await self.book.sent(row.order_ulid)

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish PENDING orders as they are stored (woken by the REST side)."""
        while True:
            self._wake.clear()
            rows = await self.book.unsent()
            for row in rows:
                await self._publish(client, row)
            if not rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            parts = str(message.topic).split("/")
            if len(parts) < 4 or parts[:2] != ["v3", "devices"]:
                continue
            device, suffix = parts[2], "/".join(parts[3:])
            if not DEVICE_RE.match(device):
                self.count("mqtt ignored: not a deviceSource")
                continue
            payload = _bytes(message.payload)
            if suffix == "orders/sync":
                rows = await self.book.open_orders(device)
                self.count("mqtt orders/sync")
                log.info("mqtt: %s synced: re-publishing %d open order(s)", device, len(rows))
                for row in rows:
                    await self._publish(client, row)
            elif suffix == "orders/status":
                self.count(f"mqtt {await self.book.apply_status(device, payload)}")
            elif suffix in SUBSCRIBED:
                self.count(f"mqtt {await self.book.document(device, suffix, payload)}")


def _bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()
