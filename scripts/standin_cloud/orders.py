"""The seed's Order API (seed 000, L2898-L3600) over REST, and the order book it shares with the
MQTT side (:mod:`.mqtt`).

Every order is stored in the cloud's SQLite with the cloud's statuses — ``PENDING`` (stored, not
yet taken by the broker) and ``SENT`` (published, PUBACKed) — then the device's (``RECEIVED``,
``SUCCEEDED``, ``FAILED``, ``REJECTED``, ``EXPIRED``) with their ``detail``. The message is
CONTRACT.md §4's: ``{"orderUlid", "type", "params", "issuedAt", "expiresAt"}`` (+ ``signature``
when the cloud has an order key). A body is refused (400) when the device would refuse the
order (``agent.orders.decide``: same rules, so an invalid order never leaves the cloud).
``DELETE`` withdraws an order by publishing a ``cancel`` order naming it. docs/cloud.md.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import Response

from agent.orders import keys
from agent.orders.decide import Limits, Reject, Snapshot, decide
from agent.orders.model import ORDER_ULID_RE, OrderError, iso, parse_order, sign
from agent.ulid import new_ulid

from .api import ApiError, JSONResponse, bad_request
from .store import DEVICE_STATUSES, PENDING, OrderRow
from .validate import _bad_strings

if TYPE_CHECKING:
    from .app import Cloud

log = logging.getLogger("standin_cloud.orders")

DEVICE_RE: Final = re.compile(r"^[0-9A-Za-z]{1,64}$")  # an IMEI; safe as an MQTT topic level
MAX_DEVICES: Final = 1000  # per batch request
MAX_LISTED: Final = 1000  # GET /order/devices/{ds}: the newest this many
MAX_EXPIRES_IN_S: Final = 30 * 86400
MAX_DETAIL: Final = 2000
MAX_DOCUMENT_BYTES: Final = 128 * 1024
DOCUMENTS: Final = ("presence", "state", "config/reported")

Handler = Callable[[Request], Any]


def _now() -> float:
    return time.time()


class OrderBook:
    """The stored orders, for the REST handlers and the MQTT side (all through the DB thread)."""

    def __init__(self, cloud: Cloud, key: bytes | None) -> None:
        self.cloud = cloud
        self.key = key
        self.wake: Callable[[], None] = lambda: None  # set by the MQTT side: publish now

    # --- building ------------------------------------------------------------------------------
    def new(
        self,
        device: str,
        kind: str,
        params: Mapping[str, Any],
        expires_in: float | None,
        now: float | None = None,
    ) -> OrderRow:
        """A checked order for ``device`` (400 when the device would refuse it)."""
        t = _now() if now is None else now
        ulid = new_ulid(int(t * 1000))
        message = {
            "orderUlid": ulid,
            "type": kind,
            "params": dict(params),
            "issuedAt": iso(t),
            "expiresAt": None if expires_in is None else iso(t + expires_in),
        }
        check(message, t)
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        ms = int(t * 1000)
        return OrderRow(ulid, device, kind, text, PENDING, "", ms, ms, None)

    def wire(self, row: OrderRow) -> bytes:
        """The payload published on ``v3/devices/{ds}/orders`` (signed with the order key)."""
        message = json.loads(row.message)
        if self.key is not None:
            message["signature"] = sign(message, self.key)
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()

    # --- storing -------------------------------------------------------------------------------
    async def add(self, rows: Sequence[OrderRow]) -> None:
        await self.cloud.db(lambda: self.cloud.store.insert_orders(rows))
        for row in rows:
            log.info("order %s %s for %s: PENDING", row.order_ulid, row.type, row.device_source)
        self.wake()

    async def unsent(self, limit: int = 100) -> list[OrderRow]:
        return await self.cloud.db(lambda: self.cloud.store.unsent_orders(limit))

    async def open_orders(self, device: str) -> list[OrderRow]:
        return await self.cloud.db(lambda: self.cloud.store.open_orders(device))

    async def sent(self, order_ulid: str) -> None:
        ms = int(_now() * 1000)
        await self.cloud.db(lambda: self.cloud.store.mark_sent(order_ulid, ms))

    async def apply_status(self, device: str, payload: bytes) -> str:
        """A device's ``orders/status`` message; returns what was done (for logs and counts)."""
        try:
            msg = json.loads(payload)
        except ValueError:
            return "status: not JSON"
        if not isinstance(msg, dict):
            return "status: not an object"
        ulid, status, detail = msg.get("orderUlid"), msg.get("status"), msg.get("detail", "")
        if not isinstance(ulid, str) or not ORDER_ULID_RE.match(ulid):
            return "status: no orderUlid"  # the device could not read the order's id
        if status not in DEVICE_STATUSES or not isinstance(detail, str):
            return "status: bad status or detail"
        text = detail[:MAX_DETAIL]
        ms = int(_now() * 1000)
        row = await self.cloud.db(
            lambda: self.cloud.store.set_status(ulid, device, str(status), text, ms)
        )
        if row is None:
            return "status: unknown or final order"
        log.info("order %s %s: %s %s", ulid, row.type, status, text)
        return "status applied"

    async def document(self, device: str, kind: str, payload: bytes) -> str:
        """The retained ``presence``/``state``/``config/reported`` of a device (empty: cleared)."""
        text: str | None = None
        if payload:
            if len(payload) > MAX_DOCUMENT_BYTES:
                return f"{kind}: too large"
            try:
                doc = json.loads(payload)
            except ValueError:
                return f"{kind}: not JSON"
            if not isinstance(doc, dict):
                return f"{kind}: not an object"
            text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        ms = int(_now() * 1000)
        await self.cloud.db(lambda: self.cloud.store.put_document(device, kind, text, ms))
        return f"{kind} stored"


def check(message: Mapping[str, Any], now: float) -> None:
    """400 unless the device would accept ``message`` (its parser, then its decision)."""
    raw = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        order = parse_order(raw, None, now=now)
    except OrderError as exc:
        raise bad_request(exc.reason) from None
    decision = decide(order, Snapshot(), now, Limits())
    if isinstance(decision, Reject):
        raise bad_request(decision.reason)


# --- the REST side ---------------------------------------------------------------------------


def _device(request: Request, name: str = "deviceSource") -> str:
    value = request.path_params[name]
    if not isinstance(value, str) or not DEVICE_RE.match(value):
        raise bad_request(f"{name} must be 1..64 letters and digits")
    return value


def _order_ulid(value: Any) -> str:
    if not isinstance(value, str) or not ORDER_ULID_RE.match(value):
        raise bad_request("orderUlid must be 1..64 letters, digits, '_' or '-'")
    return value


def _expires_in(request: Request) -> float | None:
    raw = request.query_params.get("expiresIn")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad_request("expiresIn must be a number of seconds") from None
    if not 1 <= value <= MAX_EXPIRES_IN_S:
        raise bad_request(f"expiresIn must be 1..{MAX_EXPIRES_IN_S} s")
    return value


def _object(body: Any, shape: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"body must be {shape}")
    if _bad_strings(body):  # "\ud800" parses to a lone surrogate: no order can carry it
        raise bad_request("body: strings must be valid Unicode (lone surrogate)")
    return body


def _listed(row: OrderRow) -> dict[str, Any]:
    """One order as the seed lists it (``orderUlid``, ``status``) plus what we add."""
    out: dict[str, Any] = {
        "orderUlid": row.order_ulid,
        "status": row.status,
        "detail": row.detail,
        "type": row.type,
        "deviceSource": row.device_source,
        "updatedAt": iso(row.updated_ms / 1000),
    }
    if row.withdrawn_by is not None:
        out["withdrawnBy"] = row.withdrawn_by
    return out


class OrderApi:
    def __init__(self, cloud: Cloud, book: OrderBook) -> None:
        self.cloud = cloud
        self.book = book

    def routes(self) -> list[tuple[str, Handler, list[str]]]:
        dev = "/order/devices/{deviceSource}"
        cmd = dev + "/command"
        return [
            ("/order/devices/config", self.config, ["POST"]),  # O1
            ("/order/devices/batch/wifi", self.batch_wifi, ["POST"]),  # O7
            (dev, self.list_orders, ["GET"]),  # O2, O3
            (dev, self.delete_device_orders, ["DELETE"]),  # O4
            (dev, self.generic, ["POST"]),  # addition: any type
            ("/order/{orderUlid}", self.get_order, ["GET"]),  # O3 (the seed has no path)
            ("/order/{orderUlid}", self.delete_order, ["DELETE"]),  # O5
            (dev + "/wifi", self.wifi_add, ["POST"]),  # O6
            (dev + "/wifi/{wifiUlid}", self.wifi_delete, ["DELETE"]),  # O8
            ("/order/device/{deviceSource}/command/reboot", self.reboot, ["POST"]),  # O9
            (cmd + "/reboot", self.reboot, ["POST"]),  # O9, plural like every other path
            (cmd + "/state", self.state, ["POST"]),  # O10
            (cmd + "/demand/image", self.demand_image, ["POST"]),  # O11
            (cmd + "/demand/video", self.demand_video, ["POST"]),  # O12
            (cmd + "/drivercoach/{group}/{state}", self.drivercoach, ["POST"]),  # O13-O15
            (cmd, self.command, ["POST"]),  # addition: etrack's send command
            (dev + "/geofence", self.geofence_set, ["POST"]),  # addition: etrack geofence
            (dev + "/geofence/{id}", self.geofence_delete, ["DELETE"]),  # addition
            (dev + "/zones", self.zones_set, ["POST"]),  # addition: dashboard speed zones
            (dev + "/settings/reset", self.settings_reset, ["POST"]),  # addition: dashboard
            (dev + "/config", self.device_config, ["GET"]),  # "retrieve the configuration"
            (
                "/management/devices/{deviceSource}/automaticrecognition/{state}",
                self.automatic_recognition,
                ["PUT"],
            ),  # the seed's Management API, carried out as an order
        ]

    # --- helpers -------------------------------------------------------------------------------
    async def _one(
        self,
        request: Request,
        kind: str,
        params: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
    ) -> Response:
        self.cloud.authorise_read(request)
        device = _device(request)
        row = self.book.new(device, kind, params, _expires_in(request))
        await self.book.add([row])
        return JSONResponse({"orderUlid": row.order_ulid, **(extra or {})}, status_code=201)

    async def _body(self, request: Request, shape: str) -> dict[str, Any]:
        self.cloud.authorise_read(request)
        return _object(await self.cloud.body_json(request), shape)

    # --- the seed's endpoints ------------------------------------------------------------------
    async def config(self, request: Request) -> Response:
        """O1: ``{"devices": [...], "orders": [{"config", "value"}]}`` → one order per device
        with the keys the device accepts; refused keys in ``failedOrders``."""
        body = await self._body(request, '{"devices": [...], "orders": [...]}')
        devices, items = body.get("devices"), body.get("orders")
        if set(body) - {"devices", "orders"}:
            raise bad_request('body must be {"devices": [...], "orders": [...]} only')
        if not isinstance(devices, list) or not 1 <= len(devices) <= MAX_DEVICES:
            raise bad_request(f"devices must be a list of 1..{MAX_DEVICES} deviceSources")
        for d in devices:
            if not isinstance(d, str) or not DEVICE_RE.match(d):
                raise bad_request("each device must be 1..64 letters and digits")
        if not isinstance(items, list) or not items:
            raise bad_request('orders must be a non-empty list of {"config": KEY, "value": v}')
        accepted: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, dict) or set(item) != {"config", "value"}:
                raise bad_request('each order must be {"config": KEY, "value": v}')
            name = item["config"]
            try:
                spec, _ = keys.check(name, item["value"])
                if spec.key in seen:
                    raise keys.KeyRefusedError("given twice")
            except keys.KeyRefusedError as exc:
                failed.append({"config": [str(name)[:64]], "Error": str(exc)})
                continue
            seen.add(spec.key)
            accepted.append({"config": name, "value": item["value"]})
        if not accepted:
            reasons = "; ".join(f"{f['config'][0]}: {f['Error']}" for f in failed)
            raise bad_request(f"no valid config: {reasons}")
        expires = _expires_in(request)
        now = _now()
        rows = [
            self.book.new(d, "config", {"orders": accepted}, expires, now)
            for d in dict.fromkeys(devices)
        ]
        await self.book.add(rows)
        names = [str(a["config"]) for a in accepted]
        out = [
            {
                "deviceSource": row.device_source,
                "successfulOrders": [{"orderUlid": row.order_ulid, "config": names}],
                "failedOrders": failed,
            }
            for row in rows
        ]
        return JSONResponse({"devices": out}, status_code=201)

    async def list_orders(self, request: Request) -> Response:
        """O2: the device's orders (newest 1000, oldest first) with status and detail."""
        self.cloud.authorise_read(request)
        device = _device(request)
        rows = await self.cloud.db(lambda: self.cloud.store.device_orders(device, MAX_LISTED))
        return JSONResponse([_listed(r) for r in rows])

    async def get_order(self, request: Request) -> Response:
        """O3: one order's status, as a one-item list like the seed's example, with the order
        message and every status it went through (``history``)."""
        self.cloud.authorise_read(request)
        ulid = _order_ulid(request.path_params["orderUlid"])
        row, history = await self.cloud.db(
            lambda: (self.cloud.store.order(ulid), self.cloud.store.history(ulid))
        )
        if row is None:
            raise ApiError(404, f"order {ulid} not found")
        item = _listed(row)
        item["message"] = json.loads(row.message)
        item["history"] = [{"status": s, "detail": d, "at": iso(ms / 1000)} for s, d, ms in history]
        return JSONResponse([item])

    async def _withdraw(self, row: OrderRow, expires_in: float | None) -> OrderRow:
        cancel = self.book.new(
            row.device_source, "cancel", {"orderUlid": row.order_ulid}, expires_in
        )
        await self.cloud.db(lambda: self.cloud.store.withdraw(row.order_ulid, cancel))
        log.info("order %s withdrawn by cancel %s", row.order_ulid, cancel.order_ulid)
        self.book.wake()
        return cancel

    async def delete_order(self, request: Request) -> Response:
        """O5: withdraw one order not final yet: a ``cancel`` order naming it is published."""
        self.cloud.authorise_read(request)
        ulid = _order_ulid(request.path_params["orderUlid"])
        row = await self.cloud.db(lambda: self.cloud.store.order(ulid))
        if row is None:
            raise ApiError(404, f"order {ulid} not found")
        if row.type == "cancel":
            raise bad_request("a cancel order cannot be withdrawn")
        if row.withdrawn_by is not None:
            raise bad_request(f"order {ulid} is already withdrawn by {row.withdrawn_by}")
        if row.terminal:
            raise bad_request(f"order {ulid} is {row.status}: nothing to withdraw")
        cancel = await self._withdraw(row, _expires_in(request))
        return JSONResponse({"orderUlid": ulid, "cancelOrderUlid": cancel.order_ulid})

    async def delete_device_orders(self, request: Request) -> Response:
        """O4: withdraw every order of the device that is not final (one cancel each)."""
        self.cloud.authorise_read(request)
        device = _device(request)
        expires = _expires_in(request)
        rows = await self.cloud.db(lambda: self.cloud.store.open_orders(device, True))
        cancels = [await self._withdraw(r, expires) for r in rows]
        return JSONResponse(
            {
                "orderUlids": [r.order_ulid for r in rows],
                "cancelOrderUlids": [c.order_ulid for c in cancels],
            }
        )

    async def wifi_add(self, request: Request) -> Response:
        """O6: add a Wi-Fi network; the answer carries the ``wifiUlid`` that O8 deletes."""
        body = await self._body(request, '{"ssid": ..., "password": ...}')
        if set(body) - {"ssid", "password"}:
            raise bad_request('body must be {"ssid": ..., "password": ...} only')
        wifi = new_ulid(int(_now() * 1000))
        params = {"wifiUlid": wifi, **body}
        return await self._one(request, "wifi.add", params, {"wifiUlid": wifi})

    async def batch_wifi(self, request: Request) -> Response:
        """O7: ``{"wifis": [{"deviceSource", "ssid", "password"}, ...]}``, one order each."""
        body = await self._body(request, '{"wifis": [...]}')
        wifis = body.get("wifis")
        if not isinstance(wifis, list) or not 1 <= len(wifis) <= MAX_DEVICES:
            raise bad_request(f'body must be {{"wifis": [...]}} with 1..{MAX_DEVICES} items')
        now = _now()
        expires = _expires_in(request)
        rows: list[OrderRow] = []
        out: list[dict[str, str]] = []
        for i, item in enumerate(wifis):
            if not isinstance(item, dict) or set(item) - {"deviceSource", "ssid", "password"}:
                raise bad_request(f'wifis[{i}] must be {{"deviceSource", "ssid", "password"}}')
            device = item.get("deviceSource")
            if not isinstance(device, str) or not DEVICE_RE.match(device):
                raise bad_request(f"wifis[{i}].deviceSource must be 1..64 letters and digits")
            wifi = new_ulid(int(now * 1000))
            params = {"wifiUlid": wifi, "ssid": item.get("ssid"),
                      "password": item.get("password", "")}  # fmt: skip
            try:
                rows.append(self.book.new(device, "wifi.add", params, expires, now))
            except ApiError as exc:
                why = exc.message.removesuffix("(error Aplication)")
                raise bad_request(f"wifis[{i}]: {why}") from None
            out.append({"deviceSource": device, "orderUlid": rows[-1].order_ulid,
                        "wifiUlid": wifi})  # fmt: skip
        await self.book.add(rows)
        return JSONResponse({"orderUlid": rows[0].order_ulid, "orders": out}, status_code=201)

    async def wifi_delete(self, request: Request) -> Response:
        """O8."""
        return await self._one(request, "wifi.delete",
                               {"wifiUlid": request.path_params["wifiUlid"]})  # fmt: skip

    async def reboot(self, request: Request) -> Response:
        """O9 (``/order/device/...`` as in the seed, and the plural form)."""
        return await self._one(request, "reboot", {})

    async def state(self, request: Request) -> Response:
        """O10: force a position report now."""
        return await self._one(request, "state", {})

    async def demand_image(self, request: Request) -> Response:
        """O11: ``{"timeStamp", "selectedCam"}``."""
        body = await self._body(request, '{"timeStamp": ..., "selectedCam": ...}')
        return await self._one(request, "demand.image", body)

    async def demand_video(self, request: Request) -> Response:
        """O12: ``{"timeStamp", "finalTimeStamp", "selectedCam"}``, at most 3 minutes."""
        body = await self._body(request, '{"timeStamp", "finalTimeStamp", "selectedCam"}')
        return await self._one(request, "demand.video", body)

    async def drivercoach(self, request: Request) -> Response:
        """O13-O15: ``drivercoach/{telemetry|inertial|tracking}/{ON|OFF}``; the answer also has
        the seed's ``orderUlids`` (a comma-separated string)."""
        group, state = request.path_params["group"], request.path_params["state"]
        self.cloud.authorise_read(request)
        device = _device(request)
        row = self.book.new(
            device, "drivercoach", {"group": group, "state": state}, _expires_in(request)
        )
        await self.book.add([row])
        return JSONResponse({"orderUlid": row.order_ulid, "orderUlids": row.order_ulid},
                            status_code=201)  # fmt: skip

    async def automatic_recognition(self, request: Request) -> Response:
        """The seed's ``PUT /management/devices/{ds}/automaticrecognition/{S|N}``."""
        return await self._one(request, "automaticrecognition",
                               {"state": request.path_params["state"]})  # fmt: skip

    # --- additions -----------------------------------------------------------------------------
    async def command(self, request: Request) -> Response:
        """etrack's send command: ``{"command": "RELAY,1"|"RELAY,0"|"LOCKDOOR"|"UNLOCKDOOR"|
        "RESET"}``."""
        body = await self._body(request, '{"command": ...}')
        return await self._one(request, "command", body)

    async def geofence_set(self, request: Request) -> Response:
        """A circle ``{id, name, latitude, longitude, radius, alarmtype}`` or a polygon
        ``{id, name, shape, alarmtype}``; replaces the fence of that id."""
        body = await self._body(request, "a circle or polygon geofence")
        return await self._one(request, "geofence.set", body)

    async def geofence_delete(self, request: Request) -> Response:
        return await self._one(request, "geofence.delete", {"id": request.path_params["id"]})

    async def zones_set(self, request: Request) -> Response:
        """``{"zones": [...], "border": {...} | null}`` (either key optional)."""
        body = await self._body(request, '{"zones": [...], "border": ...}')
        return await self._one(request, "zones.set", body)

    async def settings_reset(self, request: Request) -> Response:
        return await self._one(request, "settings.reset", {})

    async def generic(self, request: Request) -> Response:
        """Any order type: ``{"type": ..., "params": {...}}`` (not ``cancel``: use DELETE)."""
        body = await self._body(request, '{"type": ..., "params": {...}}')
        kind, params = body.get("type"), body.get("params", {})
        if set(body) - {"type", "params"}:
            raise bad_request('body must be {"type": ..., "params": {...}} only')
        if not isinstance(kind, str) or not kind:
            raise bad_request("type must be an order type")
        if kind == "cancel":
            raise bad_request("withdraw an order with DELETE /order/{orderUlid}")
        return await self._one(request, kind, _object(params, '{"params": {...}}'))

    async def device_config(self, request: Request) -> Response:
        """The device's latest retained ``config/reported``, ``presence`` and ``state``."""
        self.cloud.authorise_read(request)
        device = _device(request)
        docs = await self.cloud.db(lambda: self.cloud.store.documents(device))
        out: dict[str, Any] = {"deviceSource": device}
        received: dict[str, str | None] = {}
        for kind in DOCUMENTS:
            name = kind.split("/")[0]
            text, ms = docs.get(kind, ("null", 0))
            out[name] = json.loads(text)
            received[name] = iso(ms / 1000) if ms else None
        presence = out["presence"]
        out["online"] = presence.get("online") if isinstance(presence, dict) else None
        out["receivedAt"] = received
        return JSONResponse(out)
