"""The order executor: receives orders from the link, journals, decides, applies, reports.

    journal = OrderJournal(SqliteDatabase(data_dir / "orders.sqlite3"))
    executor = OrderExecutor(settings, journal, ports, build_devices(settings.devices),
                             fences_file=data_dir / "geofences.json")
    link = MqttLink(settings, device_source, executor)
    executor.attach(link)

For each message: parse (size, signature, expiry) → refused ones are answered ``REJECTED`` /
``EXPIRED`` at once (journaled under their id only when authentic) → a valid one is journaled
``RECEIVED`` (that status is queued in the same transaction: the acknowledgement) → decided and
carried out in its lane, through the injected :class:`OrderPorts` (the agent) and
:class:`Devices` (actuators, Wi-Fi, reboot). The terminal status and the "order executed"
hardware event (13, ``OriginalUlid`` = the order, ``Details`` = the result text) commit in one
transaction when the ports can append the event inside the journal's transaction
(:meth:`OrderPorts.event_action`); otherwise the event is stored first, then the status.

Lanes run orders of one kind in arrival order and kinds in parallel, so a 3-minute video
never delays an engine stop: ``command`` (relay, doors), ``system`` (reboot, Wi-Fi),
``evidence`` (demand.*), ``config`` (everything else, cancels included). An order waiting for
its safe moment (``RELAY,1`` above 5 km/h) leaves its lane and is decided again every
``tick_s``; a newer order for the same actuator supersedes it (``FAILED``: "superseded"), so a
restore sent after a stop is never undone by the stop when the vehicle later halts.

After a crash, open orders are decided and carried out again (every effect is idempotent:
levels, keyed networks, whole-set replacements; evidence and positions are emitted only with
their commit), except a reboot already started: it is ``SUCCEEDED`` when the boot id changed,
``FAILED`` when it did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from pydantic import ValidationError

from agent.actuators.base import Actuator, ActuatorError, build_actuators
from agent.actuators.reboot import RebootBackend, boot_id, build_reboot
from agent.actuators.settings import DeviceBackends
from agent.actuators.wifi import WifiBackend, build_wifi
from agent.events import CameraId, Event
from agent.orders import decide as d
from agent.orders.journal import Action, Finish, OrderJournal, Outgoing
from agent.orders.model import (
    Order,
    OrderError,
    OrderStatus,
    OrderType,
    iso,
    load_order_key,
    parse_order,
    write_secret,
)
from agent.orders.settings import OrdersSettings
from agent.rules.geofence import CircleGeofence, GeofenceSet, PolygonGeofence
from agent.runtime.component import Component

log = logging.getLogger(__name__)

WAIT_REPORT_S: Final = 30.0  # a waiting order's RECEIVED detail is re-sent at most this often
PRUNE_EVERY_S: Final = 3600.0
REBOOT_DRAIN_S: Final = 5.0


class OrderPorts(Protocol):
    """What the executor needs from the rest of the agent (the lead wires these)."""

    def speed_kmh(self) -> float | None:
        """The fused vehicle speed now; None when no source is fresh."""

    def order_event(self, t: float, details: str, original_ulid: str) -> Event:
        """Hardware event 13 (``TelemetryEngine.hardware_event(t, ORDER_EXECUTED, ...)``)."""

    def event_action(self, event: Event) -> Action | None:
        """An action appending ``event`` to the outbox inside the journal's transaction (the
        shared database), or None when the outbox lives elsewhere."""

    async def publish_event(self, event: Event) -> None:
        """Store ``event`` durably (``Publisher.put``)."""

    async def force_position(self, t: float) -> str:
        """Publish a forced-position event (telemetry 2) now; the result text."""

    async def apply_config(self, changes: Sequence[tuple[str, Any]]) -> Mapping[str, str | None]:
        """Apply validated keys (orders.keys) at run time, persist them atomically, bump the
        version: per key None (applied) or the reason it was refused."""

    async def reset_config(self) -> str:
        """Every config key back to its default (persisted); the result text."""

    def reported_config(self) -> dict[str, Any]:
        """``{"version": int, "config": {...}}`` for the retained ``config/reported``."""

    def actuated(self, actuator: str, level: int) -> None:
        """``actuator`` now holds ``level`` (after an order, and at start): the vehicle state
        follows it (``oilpowerstatus``, ``doorstatus`` of the state document)."""

    async def set_geofences(self, fences: GeofenceSet) -> None:
        """``TelemetryEngine.update_geofences``."""

    async def demand(self, order_ulid: str, camera: CameraId, t0: float,
                     t1: float | None) -> str:
        """Vision event 10 (image at t0) / 11 (video t0..t1) with its files, stored; the result
        text. Raises with a clear message (camera absent, outside the ring)."""


@dataclass
class Devices:
    actuators: Mapping[str, Actuator]
    wifi: WifiBackend
    reboot: RebootBackend
    boot_id: Callable[[], str] = boot_id


def build_devices(settings: DeviceBackends) -> Devices:
    return Devices(build_actuators(settings.actuators), build_wifi(settings.wifi),
                   build_reboot(settings.reboot))


@dataclass
class _Waiting:
    order: Order
    received_at: float
    detail: str = ""
    reported_at: float = 0.0


@dataclass
class _Result:
    status: OrderStatus
    detail: str
    event: bool = True  # emit hardware event 13
    extra: list[Finish] = field(default_factory=list)  # more changes in the same transaction
    open: bool = False  # leave the order open (a real reboot in progress)


LANES: Final = ("command", "system", "evidence", "config")


def lane_of(order: Order) -> str:
    kind = order.known_type
    if kind is OrderType.COMMAND:
        cmd = str(order.params.get("command", "")).strip().upper()
        return "system" if cmd == "RESET" else "command"
    if kind in (OrderType.REBOOT, OrderType.WIFI_ADD, OrderType.WIFI_DELETE):
        return "system"
    if kind in (OrderType.DEMAND_IMAGE, OrderType.DEMAND_VIDEO):
        return "evidence"
    return "config"


class OrderExecutor(Component):
    heartbeat_s = 60.0

    def __init__(self, settings: OrdersSettings, journal: OrderJournal, ports: OrderPorts,
                 devices: Devices, *, fences_file: Path | None = None,
                 order_key: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__("orders")
        self.settings = settings
        self.journal = journal
        self.ports = ports
        self.devices = devices
        self.limits = d.Limits.from_settings(settings)
        self.fences_file = fences_file
        if order_key is None and settings.order_key_file is not None:
            order_key = load_order_key(settings.order_key_file)
        self._key = order_key
        self._clock = clock
        self._lanes: dict[str, asyncio.Queue[tuple[Order, float]]] = {
            lane: asyncio.Queue() for lane in LANES}
        self._waiting: dict[str, _Waiting] = {}
        self._running: set[str] = set()
        self._notify: Callable[[], None] = lambda: None
        self._drained: Callable[[float], Awaitable[bool]] | None = None
        self._retain: Callable[[str, dict[str, Any]], None] | None = None
        self._fences = GeofenceSet()
        self.counts: dict[str, int] = {s.value: 0 for s in OrderStatus}

    def attach(self, link: Any) -> None:
        """Connect to the link (wake on new statuses, wait for delivery, retained docs)."""
        self._notify = link.wake
        self._drained = link.drained
        self._retain = link.set_retained

    # --- the link's side (LinkPeer) ----------------------------------------------------------

    async def on_order(self, payload: bytes) -> None:
        now = self._clock()
        try:
            order = parse_order(payload, self._key, now=now,
                                max_age_s=self.settings.max_order_age_s)
        except OrderError as exc:
            await self._refuse(exc.order_ulid, "", exc.status, exc.reason, now,
                               journal=exc.authentic)
            return
        # Invalid or expired: answered without a RECEIVED first, nothing applied.
        pre = d.decide(order, d.Snapshot(speed_kmh=0.0, target=d.TargetView(None)), now,
                       self.limits)
        if isinstance(pre, d.Reject | d.Expire):
            await self._refuse(order.order_ulid, order.type, pre.status, pre.reason, now,
                               journal=True)
            return
        receipt = await asyncio.to_thread(self.journal.receive, order, _ms(now))
        self._notify()
        if receipt.new:
            self.counts[OrderStatus.RECEIVED.value] += 1
            log.info("order %s (%s) received", order.order_ulid, order.type)
            self._lanes[lane_of(order)].put_nowait((order, now))
        else:
            log.info("order %s redelivered: answered %s", order.order_ulid, receipt.status)

    async def sync_payload(self) -> bytes:
        open_orders = await asyncio.to_thread(self.journal.open_orders)
        last = await asyncio.to_thread(self.journal.last_order_ulid)
        return json.dumps({"lastOrderUlid": last, "open": [e.ulid for e in open_orders],
                           "timestamp": _ms(self._clock())}, separators=(",", ":")).encode()

    async def pending(self, limit: int) -> Sequence[Outgoing]:
        return await asyncio.to_thread(self.journal.pending, limit)

    async def ack(self, ids: Sequence[int]) -> None:
        await asyncio.to_thread(self.journal.ack, ids)

    # --- the component -----------------------------------------------------------------------

    async def run(self) -> None:
        for name, actuator in self.devices.actuators.items():  # the state follows the lines
            with contextlib.suppress(ActuatorError):
                level = await asyncio.to_thread(actuator.read)
                if level is not None:
                    self.ports.actuated(name, level)
        await self._restore_fences()
        self._report_config()
        await self._recover()
        self.tracker.ok()
        async with asyncio.TaskGroup() as tg:
            for lane in LANES:
                tg.create_task(self._lane(lane), name=f"orders.{lane}")
            tg.create_task(self._ticker(), name="orders.tick")

    async def _lane(self, lane: str) -> None:
        q = self._lanes[lane]
        while True:
            order, received_at = await q.get()
            try:
                await self._process(order, received_at)
            except Exception:
                log.exception("order %s: unexpected error", order.order_ulid)

    async def _ticker(self) -> None:
        last_prune = 0.0
        while True:
            await self.heartbeat.checkpoint()
            await asyncio.sleep(self.settings.tick_s)
            for w in list(self._waiting.values()):
                if w.order.order_ulid in self._waiting:
                    try:
                        await self._process(w.order, w.received_at)
                    except Exception:
                        log.exception("order %s: unexpected error", w.order.order_ulid)
            now = self._clock()
            if now - last_prune >= PRUNE_EVERY_S:
                last_prune = now
                cutoff = _ms(now - self.settings.journal_keep_s)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.journal.prune, cutoff)

    async def _recover(self) -> None:
        entries = await asyncio.to_thread(self.journal.open_orders)
        for e in entries:
            order = e.order()
            if order is None:
                continue
            d_ = d.decide(order, d.Snapshot(), self._clock(), self.limits)
            if e.started_ms is not None and isinstance(d_, d.Execute) and \
                    isinstance(d_.effect, d.Reboot):
                rebooted = bool(e.boot_id) and e.boot_id != self.devices.boot_id()
                label = d_.effect.label
                result = _Result(OrderStatus.SUCCEEDED, f"{label}: Success! The device "
                                 "restarted.") if rebooted else \
                    _Result(OrderStatus.FAILED, f"{label}: Failed! The device did not restart.")
                await self._finish(order, result)
                continue
            log.info("order %s (%s) resumed after a restart", e.ulid, e.type)
            self._lanes[lane_of(order)].put_nowait((order, e.received_ms / 1000))

    # --- one order ---------------------------------------------------------------------------

    async def _process(self, order: Order, received_at: float) -> None:
        ulid = order.order_ulid
        now = self._clock()
        entry = await asyncio.to_thread(self.journal.get, ulid)
        if entry is None or entry.status.terminal:  # cancelled (or finished) meanwhile
            self._waiting.pop(ulid, None)
            return
        target = None
        if order.known_type is OrderType.CANCEL:
            target = await self._target_view(str(order.params.get("orderUlid", "")))
        snap = d.Snapshot(speed_kmh=self.ports.speed_kmh(), target=target)
        decision = d.decide(order, snap, now, self.limits, received_at=received_at)
        if isinstance(decision, d.Wait):
            await self._wait(order, received_at, decision.detail, now)
            return
        self._waiting.pop(ulid, None)
        if isinstance(decision, d.Refusal):
            # only a valid order that could not be done is a hardware event (13)
            event = isinstance(decision, d.Fail)
            await self._finish(order, _Result(decision.status, decision.reason, event))
        else:
            await self._supersede(order, decision.effect)
            self._running.add(ulid)
            try:
                result = await self._execute(order, decision.effect, now)
            except Exception as exc:
                log.exception("order %s failed", ulid)
                result = _Result(OrderStatus.FAILED, f"{order.type}: error: {exc}")
            finally:
                self._running.discard(ulid)
            if not result.open:
                await self._finish(order, result)

    async def _wait(self, order: Order, received_at: float, detail: str, now: float) -> None:
        w = self._waiting.setdefault(order.order_ulid, _Waiting(order, received_at))
        if (detail != w.detail and now - w.reported_at >= WAIT_REPORT_S) or not w.detail:
            w.detail, w.reported_at = detail, now
            await asyncio.to_thread(self.journal.update, order.order_ulid, detail, _ms(now))
            self._notify()

    async def _supersede(self, order: Order, effect: d.Effect) -> None:
        if not isinstance(effect, d.Actuate):
            return
        for ulid, w in list(self._waiting.items()):
            other = d.decide(w.order, d.Snapshot(speed_kmh=0.0), self._clock(), self.limits)
            if isinstance(other, d.Execute) and isinstance(other.effect, d.Actuate) and \
                    other.effect.actuator == effect.actuator and ulid != order.order_ulid:
                self._waiting.pop(ulid, None)
                await self._finish(w.order, _Result(
                    OrderStatus.FAILED, f"{other.effect.label}: Failed! Superseded by order "
                                        f"{order.order_ulid} ({effect.command})."))

    async def _target_view(self, target: str) -> d.TargetView:
        entry = await asyncio.to_thread(self.journal.get, target)
        if entry is None:
            return d.TargetView(None)
        return d.TargetView(entry.status, started=target in self._running or
                            entry.started_ms is not None)

    async def _execute(self, order: Order, effect: d.Effect, now: float) -> _Result:
        ok = OrderStatus.SUCCEEDED
        match effect:
            case d.ApplyConfig():
                return await self._config(effect)
            case d.ResetConfig():
                text = await self.ports.reset_config()
                self._report_config()
                return _Result(ok, text)
            case d.Actuate():
                return await self._actuate(effect)
            case d.Reboot():
                return await self._reboot(order, effect, now)
            case d.WifiAdd():
                return _Result(ok, await asyncio.to_thread(
                    self.devices.wifi.add, effect.wifi_ulid, effect.ssid, effect.password))
            case d.WifiDelete():
                return _Result(ok, await asyncio.to_thread(self.devices.wifi.delete,
                                                           effect.wifi_ulid))
            case d.ForcePosition():
                return _Result(ok, await self.ports.force_position(now))
            case d.Demand():
                return _Result(ok, await self.ports.demand(order.order_ulid, effect.camera,
                                                           effect.t0, effect.t1))
            case d.SetFence() | d.DeleteFence() | d.SetZones():
                return await self._fence(effect)
            case d.Cancel():
                self._waiting.pop(effect.target, None)
                text = f"cancelled {effect.target}"
                return _Result(ok, text if effect.known else text + " (not received yet)",
                               extra=[Finish(effect.target, OrderStatus.FAILED, "cancelled",
                                             create=not effect.known)])
        raise AssertionError(f"unhandled effect {effect!r}")  # pragma: no cover

    async def _config(self, effect: d.ApplyConfig) -> _Result:
        results = await self.ports.apply_config(effect.changes)
        parts: list[str] = []
        applied = 0
        for key, value in effect.changes:
            why = results.get(key, "not applied")
            if why is None:
                applied += 1
                parts.append(f"{key}={json.dumps(value)}: applied")
            else:
                parts.append(f"{key}: refused ({why})")
        parts += [f"{key}: refused ({why})" for key, why in effect.refused]
        if applied:
            self._report_config()
        status = OrderStatus.SUCCEEDED if applied else OrderStatus.REJECTED
        return _Result(status, "; ".join(parts), event=bool(applied))

    async def _actuate(self, effect: d.Actuate) -> _Result:
        speed = "unknown" if effect.speed_kmh is None else f"{effect.speed_kmh:.0f}km/h"
        actuator = self.devices.actuators.get(effect.actuator)
        if actuator is None:
            return _Result(OrderStatus.FAILED, f"{effect.label}: Failed! No {effect.actuator} "
                                               f"actuator on this device. Speed: {speed}.")
        try:
            await asyncio.to_thread(actuator.set, effect.target)
        except ActuatorError as exc:
            return _Result(OrderStatus.FAILED, f"{effect.label}: Failed! {exc}. Speed: {speed}.")
        self.ports.actuated(effect.actuator, effect.target)
        return _Result(OrderStatus.SUCCEEDED, f"{effect.label}: Success! Speed: {speed}.")

    async def _reboot(self, order: Order, effect: d.Reboot, now: float) -> _Result:
        await asyncio.to_thread(self.journal.mark_started, order.order_ulid, _ms(now),
                                self.devices.boot_id())
        await asyncio.to_thread(self.journal.update, order.order_ulid, "rebooting", _ms(now))
        self._notify()
        if self._drained is not None:
            await self._drained(REBOOT_DRAIN_S)
        simulated = await asyncio.to_thread(self.devices.reboot.reboot)
        if simulated:
            return _Result(OrderStatus.SUCCEEDED, f"{effect.label}: Success! (simulated)")
        log.warning("order %s: rebooting the device", order.order_ulid)
        return _Result(OrderStatus.RECEIVED, "rebooting", open=True)

    async def _fence(self, effect: d.SetFence | d.DeleteFence | d.SetZones) -> _Result:
        f = self._fences
        if isinstance(effect, d.SetFence):
            fence = effect.fence
            circles = [c for c in f.circles if c.id != fence.id]
            polygons = [p for p in f.polygons if p.id != fence.id]
            if isinstance(fence, CircleGeofence):
                circles.append(fence)
                text = f"geofence {fence.id} set (circle, radius {fence.radius} m)"
            else:
                assert isinstance(fence, PolygonGeofence)
                polygons.append(fence)
                text = f"geofence {fence.id} set (polygon, {len(fence.shape)} points)"
            new = f.model_copy(update={"circles": circles, "polygons": polygons})
        elif isinstance(effect, d.DeleteFence):
            circles = [c for c in f.circles if c.id != effect.fence_id]
            polygons = [p for p in f.polygons if p.id != effect.fence_id]
            found = len(circles) + len(polygons) < len(f.circles) + len(f.polygons)
            text = f"geofence {effect.fence_id} deleted" if found else \
                f"no geofence {effect.fence_id} (nothing to delete)"
            new = f.model_copy(update={"circles": circles, "polygons": polygons})
        else:
            update: dict[str, Any] = {}
            said = []
            if effect.zones is not None:
                update["zones"] = list(effect.zones)
                said.append(f"{len(effect.zones)} speed zone(s)")
            if effect.set_border:
                update["border"] = effect.border
                said.append("network border " + ("set" if effect.border else "removed"))
            new = f.model_copy(update=update)
            text = "; ".join(said)
        if self.fences_file is not None:
            data = new.model_dump_json().encode()
            await asyncio.to_thread(write_secret, self.fences_file, data)
        self._fences = new
        await self.ports.set_geofences(new)
        return _Result(OrderStatus.SUCCEEDED, text)

    async def _restore_fences(self) -> None:
        if self.fences_file is None or not self.fences_file.exists():
            return
        try:
            text = await asyncio.to_thread(self.fences_file.read_text)
            self._fences = GeofenceSet.model_validate_json(text)
        except (OSError, ValidationError, ValueError) as exc:
            log.error("geofences in %s unreadable (%s); starting without", self.fences_file,
                      str(exc)[:200])
            return
        await self.ports.set_geofences(self._fences)

    def _report_config(self) -> None:
        if self._retain is not None:
            try:
                self._retain("config/reported", self.ports.reported_config())
            except Exception:
                log.exception("config/reported not built")

    # --- writing results ---------------------------------------------------------------------

    async def _finish(self, order: Order, result: _Result) -> None:
        now = self._clock()
        action: Action | None = None
        event: Event | None = None
        if result.event and result.status in (OrderStatus.SUCCEEDED, OrderStatus.FAILED):
            event = self.ports.order_event(now, result.detail, order.order_ulid)
            action = self.ports.event_action(event)
            if action is None:  # stored first: a crash before the status re-runs the order
                try:
                    await self.ports.publish_event(event)
                except Exception as exc:
                    log.error("order %s: event not stored: %s", order.order_ulid, exc)
        changes = [Finish(order.order_ulid, result.status, result.detail), *result.extra]
        done = await asyncio.to_thread(self.journal.finish_many, changes, _ms(now), action)
        self._notify()
        if done[0]:
            self.counts[result.status.value] += 1
            log.info("order %s (%s): %s %s", order.order_ulid, order.type, result.status.value,
                     result.detail)

    async def _refuse(self, ulid: str | None, kind: str, status: OrderStatus, reason: str,
                      now: float, *, journal: bool) -> None:
        receipt = await asyncio.to_thread(self.journal.refuse, ulid, kind, status, reason,
                                          _ms(now), journal=journal)
        self._notify()
        if receipt.new:
            self.counts[status.value] += 1
            log.warning("order %s %s: %s", ulid or "(no id)", status.value, reason)

    def status(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "waiting": sorted(self._waiting),
                "running": sorted(self._running),
                "actuators": {k: a.status() for k, a in self.devices.actuators.items()},
                "signed_orders": self._key is not None}


def _ms(t: float) -> int:
    return round(t * 1000)


__all__ = ["Devices", "OrderExecutor", "OrderPorts", "build_devices", "iso"]
