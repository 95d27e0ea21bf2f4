"""The MQTT link to the broker: THE only module importing aiomqtt (CONTRACT.md §4).

Client id = deviceSource, persistent session (``clean_session=False``), QoS 1, MQTT 3.1.1
features only (so mosquitto, AWS IoT Core, EMQX, HiveMQ, RabbitMQ and NATS all work), TLS with
a CA and optionally a client certificate (mutual TLS) or username/password. On every connect:

1. publish the retained presence ``{"online": true, "timestamp": ms}`` (the last will, set at
   connect, makes it ``{"online": false}`` when the link dies);
2. subscribe to ``orders`` (QoS 1);
3. publish ``orders/sync`` (``{"lastOrderUlid", "open", "timestamp"}``): the cloud answers by
   re-publishing every order it does not hold as terminal, so an order lost with an expired
   session or an un-PUBACKed delivery comes back (the journal makes it execute once);
4. publish the retained documents (``config/reported``, ``state``) and then every queued
   status message, in order, acking each batch in the journal after its PUBACKs.

The reconnect loop is aiomqtt's documented one with capped exponential backoff and full
jitter: ``delay = uniform(0, min(backoff_max_s, backoff_initial_s * 2**attempt))``. Nothing
here blocks the event loop (aiomqtt runs the blocking connect in a thread; the TLS context is
built in a thread; journal reads/writes go through the peer, which runs them in threads).
Health: ``ok`` while connected; ``degraded`` on the first failed attempts, ``down`` after
:data:`DOWN_AFTER_ATTEMPTS`, with the reason (refused, unreachable, TLS...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import aiomqtt

from agent.orders.journal import Outgoing
from agent.orders.settings import OrdersSettings
from agent.runtime.component import Component

log = logging.getLogger(__name__)

DOWN_AFTER_ATTEMPTS: Final = 3
SEND_BATCH: Final = 100
MAX_CLIENT_ID_BYTES: Final = 128
NODELAY: Final = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class LinkPeer(Protocol):
    """What the link needs from the order side (the executor implements it)."""

    async def on_order(self, payload: bytes) -> None: ...
    async def sync_payload(self) -> bytes: ...
    async def pending(self, limit: int) -> Sequence[Outgoing]: ...
    async def ack(self, ids: Sequence[int]) -> None: ...


def backoff_delay(attempt: int, initial: float, cap: float, rnd: Callable[[], float]) -> float:
    """Full jitter: uniform in [0, min(cap, initial * 2**attempt)]."""
    return float(rnd() * min(cap, initial * 2.0 ** min(attempt, 30)))


class MqttLink(Component):
    heartbeat_s = 120.0  # a connect attempt may take connect_timeout_s (<= 120 s)

    def __init__(self, settings: OrdersSettings, device_source: str, peer: LinkPeer, *,
                 clock: Callable[[], float] = time.time,
                 rnd: Callable[[], float] = random.random) -> None:
        super().__init__("orders.link")
        if len(device_source.encode()) > MAX_CLIENT_ID_BYTES:
            raise ValueError("deviceSource longer than 128 bytes cannot be an MQTT client id")
        self.settings = settings
        self.device_source = device_source
        self.prefix = f"v3/devices/{device_source}/"
        self._peer = peer
        self._clock = clock
        self._rnd = rnd
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._retained: dict[str, bytes] = {}
        self._retained_dirty: set[str] = set()
        self.connected = False
        self.connects = 0
        self.attempt = 0
        self.sent = 0
        self.received = 0
        self.last_error = ""

    # --- for the order side ----------------------------------------------------------------

    def wake(self) -> None:
        """Status messages were queued: send them now (if connected)."""
        self._drained.clear()
        self._wake.set()

    def set_retained(self, suffix: str, payload: dict[str, Any] | bytes) -> None:
        """Keep ``payload`` as the retained message on ``{prefix}{suffix}`` (re-sent on connect)."""
        data = payload if isinstance(payload, bytes) else _dumps(payload)
        if self._retained.get(suffix) == data:
            return
        self._retained[suffix] = data
        self._retained_dirty.add(suffix)
        self.wake()

    async def drained(self, wait_s: float) -> bool:
        """Wait until everything queued so far reached the broker (or ``timeout``)."""
        if not self.connected:
            return False
        try:
            await asyncio.wait_for(self._drained.wait(), wait_s)
        except TimeoutError:
            return False
        return True

    def topic(self, suffix: str) -> str:
        return self.prefix + suffix

    # --- the component -----------------------------------------------------------------------

    async def run(self) -> None:
        tls = await asyncio.to_thread(self._tls_context) if self.settings.tls else None
        s = self.settings
        while True:
            await self.heartbeat.checkpoint()
            try:
                async with self._client(tls) as client:
                    await self._session(client)
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                self._lost(exc)
            delay = backoff_delay(self.attempt, s.backoff_initial_s, s.backoff_max_s, self._rnd)
            self.attempt += 1
            await self._sleep(delay)

    def _client(self, tls: ssl.SSLContext | None) -> aiomqtt.Client:
        s = self.settings
        offline = _dumps({"online": False, "timestamp": None})
        return aiomqtt.Client(
            s.host, s.port,
            identifier=self.device_source,
            clean_session=False,
            protocol=aiomqtt.ProtocolVersion.V311,
            keepalive=s.keepalive_s,
            timeout=s.connect_timeout_s,
            username=s.username,
            password=s.password.get_secret_value() if s.password is not None else None,
            tls_context=tls,
            will=aiomqtt.Will(self.topic("presence"), offline, qos=1, retain=True),
            # RECEIVED then SUCCEEDED are two small writes back to back: with Nagle on, the
            # second waits for the broker's delayed ACK of the first (~40 ms on Linux), which
            # doubled publish -> SUCCEEDED (docs/benchmarks.md, scripts/bench_orders.py).
            socket_options=[NODELAY],
            logger=log,
        )

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        ctx = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.cert_file is not None and s.key_file is not None:
            ctx.load_cert_chain(str(s.cert_file), str(s.key_file))
        return ctx

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topic("presence"), self._presence(True), qos=1, retain=True)
        await client.subscribe(self.topic("orders"), qos=1)
        await client.publish(self.topic("orders/sync"), await self._peer.sync_payload(), qos=1)
        self.connected = True
        self.connects += 1
        self.attempt = 0
        self._retained_dirty = set(self._retained)
        s = self.settings
        self.tracker.ok(f"connected to {s.host}:{s.port}")
        log.info("orders: connected to %s:%d as %s", s.host, s.port, self.device_source)
        receiving = asyncio.create_task(self._receive(client))
        sending = asyncio.create_task(self._send(client))
        try:
            done, _ = await asyncio.wait({receiving, sending},
                                         return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises what ended the session
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # a clean stop: say so rather than the will
                await client.publish(self.topic("presence"), self._presence(False), qos=1,
                                     retain=True, timeout=1.0)
            raise
        finally:
            self.connected = False
            for task in (receiving, sending):
                task.cancel()
            await asyncio.gather(receiving, sending, return_exceptions=True)

    async def _receive(self, client: aiomqtt.Client) -> None:
        orders = self.topic("orders")
        async for message in client.messages:
            if not message.topic.matches(orders):
                continue
            self.received += 1
            self.tracker.activity()
            await self._peer.on_order(_payload_bytes(message.payload))

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            await self.heartbeat.checkpoint()
            self._wake.clear()
            for suffix in sorted(self._retained_dirty):
                data = self._retained[suffix]
                await client.publish(self.topic(suffix), data, qos=1, retain=True)
                if self._retained.get(suffix) == data:
                    self._retained_dirty.discard(suffix)
            batch = await self._peer.pending(SEND_BATCH)
            if batch:
                # Every publish reaches paho in order before any await: the wire order is the
                # queue's order; then wait for all the PUBACKs and forget the batch.
                await asyncio.gather(*(client.publish(self.topic(m.topic), m.payload, qos=1)
                                       for m in batch))
                await self._peer.ack([m.id for m in batch])
                self.sent += len(batch)
                self.tracker.activity()
                continue
            if not self._retained_dirty:
                self._drained.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

    def _lost(self, exc: BaseException) -> None:
        was = self.connected
        self.connected = False
        s = self.settings
        reason = f"broker {s.host}:{s.port}: {_reason(exc)}"
        self.last_error = reason
        if self.attempt + 1 >= DOWN_AFTER_ATTEMPTS:
            self.tracker.down(reason)
        else:
            self.tracker.degraded(reason)
        (log.warning if was or self.attempt == 0 else log.debug)("orders: %s", reason)

    async def _sleep(self, delay: float) -> None:
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            await self.heartbeat.checkpoint()
            await asyncio.sleep(min(left, 1.0))

    def _presence(self, online: bool) -> bytes:
        return _dumps({"online": online, "timestamp": round(self._clock() * 1000)})

    def status(self) -> dict[str, Any]:
        s = self.settings
        return {"broker": f"{'mqtts' if s.tls else 'mqtt'}://{s.host}:{s.port}",
                "connected": self.connected, "connects": self.connects,
                "attempt": self.attempt, "sent": self.sent, "received": self.received,
                "last_error": self.last_error}


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) or "CERTIFICATE" in text.upper():
        return f"TLS: {text}"
    return text


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


async def probe(settings: OrdersSettings, device_source: str) -> str:
    """Connect once with the configured broker, TLS and credentials, then leave (``edge-agent
    selftest``). A separate client id and a clean session: the agent's own persistent session
    is not taken over. Returns what was reached; raises :class:`ConnectionError` with why not."""
    tls = None
    if settings.tls:
        ctx = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        if settings.cert_file is not None and settings.key_file is not None:
            ctx.load_cert_chain(str(settings.cert_file), str(settings.key_file))
        tls = ctx
    client = aiomqtt.Client(
        settings.host, settings.port, identifier=f"{device_source}-selftest"[:MAX_CLIENT_ID_BYTES],
        clean_session=True, protocol=aiomqtt.ProtocolVersion.V311,
        timeout=settings.connect_timeout_s, username=settings.username,
        password=settings.password.get_secret_value() if settings.password is not None else None,
        tls_context=tls, logger=log,
    )
    try:
        async with client:
            pass
    except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
        raise ConnectionError(_reason(exc)) from None
    return f"{'mqtts' if settings.tls else 'mqtt'}://{settings.host}:{settings.port}"
