"""The order side of a device against a real broker, with fake agent ports, and a cloud client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from agent.actuators.base import SimActuator, SimState
from agent.actuators.reboot import SimReboot
from agent.actuators.settings import RebootSettings, WifiSettings
from agent.actuators.wifi import SimWifi
from agent.events import CameraId, Event, HardwareDetail, HardwareEventType, VehicleContext
from agent.orders import keys
from agent.orders.executor import Devices, OrderExecutor
from agent.orders.journal import Action, OrderJournal, SqliteDatabase
from agent.orders.link import MqttLink
from agent.orders.model import sign
from agent.orders.settings import OrdersSettings
from agent.rules.geofence import GeofenceSet
from agent.rules.settings import RuleThresholds

DS = "862798050833538"


@dataclass
class FakePorts:
    speed: float | None = 0.0
    events: list[Event] = field(default_factory=list)
    thresholds: RuleThresholds = field(default_factory=RuleThresholds)
    version: int = 0
    fences: GeofenceSet | None = None
    positions: int = 0
    applied: list[tuple[str, Any]] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)

    def speed_kmh(self) -> float | None:
        return self.speed

    def order_event(self, t: float, details: str, original_ulid: str) -> Event:
        return Event(round(t * 1000), VehicleContext(speed_kmh=int(self.speed or 0)),
                     HardwareDetail(HardwareEventType.ORDER_EXECUTED, details=details,
                                    original_ulid=original_ulid))

    def event_action(self, event: Event) -> Action | None:
        def action(conn: Any) -> None:
            self.events.append(event)
        return action

    async def publish_event(self, event: Event) -> None:
        self.events.append(event)

    def actuated(self, actuator: str, level: int) -> None:
        self.levels[actuator] = level

    async def force_position(self, t: float) -> str:
        self.positions += 1
        return "forced position sent"

    async def apply_config(self, changes: Sequence[tuple[str, Any]]) -> Mapping[str, str | None]:
        out: dict[str, str | None] = {}
        for key, value in changes:
            spec = keys.KEYS[key]
            if spec.section != "rules":
                out[key] = None
                self.applied.append((key, value))
                continue
            try:
                self.thresholds = self.thresholds.with_changes(**{spec.field: value})
            except ValueError as exc:
                out[key] = str(exc).splitlines()[-1][:80]
                continue
            self.applied.append((key, value))
            out[key] = None
        self.version += 1
        return out

    async def reset_config(self) -> str:
        self.thresholds = RuleThresholds()
        self.version += 1
        return "settings reset to defaults"

    def reported_config(self) -> dict[str, Any]:
        return {"version": self.version, "config": {"MAX_SPEED_KMH": self.thresholds.max_speed_kmh}}

    async def set_geofences(self, fences: GeofenceSet) -> None:
        self.fences = fences

    async def demand(self, order_ulid: str, camera: CameraId, t0: float, t1: float | None) -> str:
        raise RuntimeError(f"cam{int(camera)} is not configured")


def devices(tmp: Path) -> Devices:
    state = SimState(tmp / "actuators.json")
    return Devices(
        {"relay": SimActuator("relay", state, 1.0), "door_lock": SimActuator("door_lock", state, 1.0)},
        SimWifi(WifiSettings(state_file=tmp / "wifi.json")),
        SimReboot(RebootSettings(sim_file=tmp / "reboot")),
        boot_id=lambda: "boot-1",
    )


class Device:
    """Journal + executor + link, as the agent will wire them (without the supervisor)."""

    def __init__(self, tmp: Path, url: str, *, key: bytes | None = None,
                 ports: FakePorts | None = None, **settings: Any) -> None:
        self.tmp = tmp
        self.settings = OrdersSettings(enabled=True, broker_url=url, backoff_initial_s=0.1,
                                       backoff_max_s=0.5, tick_s=0.1, **settings)
        self.ports = ports or FakePorts()
        self.db = SqliteDatabase(tmp / "orders.sqlite3")
        self.journal = OrderJournal(self.db)
        self.devices = devices(tmp)
        self.executor = OrderExecutor(self.settings, self.journal, self.ports, self.devices,
                                      fences_file=tmp / "geofences.json", order_key=key)
        self.link = MqttLink(self.settings, DS, self.executor)
        self.executor.attach(self.link)
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Device:
        self._tasks = [asyncio.create_task(self.executor.run()),
                       asyncio.create_task(self.link.run())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.db.close()

    def actuator_state(self) -> dict[str, Any]:
        p = self.tmp / "actuators.json"
        return json.loads(p.read_text()) if p.exists() else {}


class Cloud:
    """A cloud-side MQTT client: publishes orders, collects everything the device sends."""

    def __init__(self, port: int, key: bytes | None = None) -> None:
        self.port = port
        self.key = key
        self.messages: list[tuple[str, Any, bool]] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._new = asyncio.Event()

    async def __aenter__(self) -> Cloud:
        self._client = aiomqtt.Client("127.0.0.1", self.port, identifier=f"cloud-{time.time_ns()}")
        await self._client.__aenter__()
        await self._client.subscribe(f"v3/devices/{DS}/#", qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self._client is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        assert self._client is not None
        async for m in self._client.messages:
            suffix = str(m.topic).removeprefix(f"v3/devices/{DS}/")
            if suffix == "orders":
                continue
            payload = m.payload
            assert isinstance(payload, bytes | bytearray)
            self.messages.append((suffix, json.loads(payload), m.retain))
            self._new.set()

    async def send(self, msg: dict[str, Any] | bytes) -> None:
        assert self._client is not None
        if isinstance(msg, dict):
            if self.key is not None:
                msg = {**msg, "signature": sign(msg, self.key)}
            msg = json.dumps(msg).encode()
        await self._client.publish(f"v3/devices/{DS}/orders", msg, qos=1)

    def statuses(self, ulid: str | None = None) -> list[tuple[str, str]]:
        return [(p["status"], p["detail"]) for s, p, _ in self.messages
                if s == "orders/status" and (ulid is None or p["orderUlid"] == ulid)]

    def of(self, suffix: str) -> list[Any]:
        return [p for s, p, _ in self.messages if s == suffix]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; got {self.messages}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), min(left, 0.2))
