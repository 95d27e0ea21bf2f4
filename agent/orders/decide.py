"""The pure decision for one order: ``decide(order, snapshot, now, limits) -> Decision``.

No clock, no I/O: the executor passes the time and a snapshot of what the decision depends on
(the vehicle's speed, the journal's view of a cancel's target), so tests replay it at exact
seconds. A decision is one of

* :class:`Reject` — invalid (unknown type, bad or out-of-range params): ``REJECTED``, nothing
  applied;
* :class:`Expire` — ``expiresAt`` has passed: ``EXPIRED``, nothing applied;
* :class:`Fail` — valid but cannot be done now and will not be later (``FAILED``);
* :class:`Wait` — valid, not yet safe (``RECEIVED`` with the reason); decide again later;
* :class:`Execute` — carry out ``effect`` (one of the effect dataclasses below).

Safety rule (CONTRACT §4): ``RELAY,1`` (stop engine) executes only while the speed is known and
≤ ``limits.relay_max_speed_kmh``; otherwise it waits until the vehicle slows down, the order
expires, or (no ``expiresAt``) ``limits.relay_max_wait_s`` has passed since it was received.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeVar

from pydantic import BaseModel, ValidationError

from agent.events import CameraId
from agent.orders import keys
from agent.orders.model import Order, OrderStatus, OrderType, iso, parse_time
from agent.rules.geofence import CircleGeofence, NetworkBorder, PolygonGeofence, SpeedZone

MAX_CONFIG_ITEMS: Final = 100
MAX_ZONES: Final = 200
_M = TypeVar("_M", bound=BaseModel)


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetView:
    """What the journal knows of the order a ``cancel`` names."""

    status: OrderStatus | None  # None: never received
    started: bool = False  # being carried out right now (cannot be withdrawn)


@dataclass(frozen=True, slots=True)
class Snapshot:
    speed_kmh: float | None = None  # fused speed; None = unknown (no fresh source)
    target: TargetView | None = None  # for ``cancel`` only


@dataclass(frozen=True, slots=True)
class Limits:
    relay_max_speed_kmh: float = 5.0
    relay_max_wait_s: float = 3600.0
    max_video_s: float = 180.0

    @classmethod
    def from_settings(cls, s: Any) -> Limits:
        return cls(s.relay_max_speed_kmh, s.relay_max_wait_s, s.max_video_s)


# --- effects -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApplyConfig:
    changes: tuple[tuple[str, Any], ...]  # (KEY, validated value), in the order given
    refused: tuple[tuple[str, str], ...] = ()  # (key as given, reason)


@dataclass(frozen=True, slots=True)
class ResetConfig:
    pass


# The seed's answer texts (etrack 2.6: "Cut off the fuel supply: Success! Speed: 2km/h.").
COMMANDS: Final[Mapping[str, tuple[str, int, str]]] = {
    "RELAY,1": ("relay", 1, "Cut off the fuel supply"),
    "RELAY,0": ("relay", 0, "Restore the fuel supply"),
    "LOCKDOOR": ("door_lock", 1, "Lock the door"),
    "UNLOCKDOOR": ("door_lock", 0, "Unlock the door"),
}


@dataclass(frozen=True, slots=True)
class Actuate:
    actuator: str  # "relay" | "door_lock"
    target: int
    label: str  # the answer's first words
    command: str
    speed_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class Reboot:
    label: str = "Reboot"


@dataclass(frozen=True, slots=True)
class WifiAdd:
    wifi_ulid: str
    ssid: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class WifiDelete:
    wifi_ulid: str


@dataclass(frozen=True, slots=True)
class ForcePosition:
    pass


@dataclass(frozen=True, slots=True)
class Demand:
    camera: CameraId
    t0: float
    t1: float | None  # None: an image at t0


@dataclass(frozen=True, slots=True)
class SetFence:
    fence: CircleGeofence | PolygonGeofence


@dataclass(frozen=True, slots=True)
class DeleteFence:
    fence_id: str


@dataclass(frozen=True, slots=True)
class SetZones:
    zones: tuple[SpeedZone, ...] | None  # None: leave the zones as they are
    border: NetworkBorder | None
    set_border: bool  # False: leave the border as it is


@dataclass(frozen=True, slots=True)
class Cancel:
    target: str
    known: bool  # False: never received; a tombstone answers it if it ever arrives


Effect = (ApplyConfig | ResetConfig | Actuate | Reboot | WifiAdd | WifiDelete | ForcePosition
          | Demand | SetFence | DeleteFence | SetZones | Cancel)


# --- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Not carried out, for ``reason``: the order ends in :attr:`status` (a subclass's)."""

    reason: str
    status: ClassVar[OrderStatus]


class Reject(Refusal):
    __slots__ = ()
    status = OrderStatus.REJECTED


class Expire(Refusal):
    __slots__ = ()
    status = OrderStatus.EXPIRED


class Fail(Refusal):
    __slots__ = ()
    status = OrderStatus.FAILED


@dataclass(frozen=True, slots=True)
class Wait:
    detail: str


@dataclass(frozen=True, slots=True)
class Execute:
    effect: Effect


Decision = Reject | Expire | Fail | Wait | Execute


class _InvalidError(ValueError):
    pass


def decide(order: Order, snapshot: Snapshot, now: float, limits: Limits = Limits(),
           *, received_at: float | None = None) -> Decision:
    """What to do with ``order`` at ``now`` (epoch s); pure."""
    kind = order.known_type
    if kind is None:
        return Reject(f"unknown order type {order.type[:64]!r}")
    try:
        effect = _validate(kind, order, limits)
    except _InvalidError as exc:
        return Reject(str(exc))
    if order.expired(now):
        return Expire(f"expired at {iso(order.expires_at or 0.0)}")
    if isinstance(effect, Cancel):
        return _cancel(order, effect, snapshot)
    if isinstance(effect, Actuate) and effect.command == "RELAY,1":
        return _engine_stop(effect, snapshot, now, limits, order=order, received_at=received_at)
    if isinstance(effect, Actuate):
        return Execute(_with_speed(effect, snapshot.speed_kmh))
    return Execute(effect)


def _with_speed(effect: Actuate, speed: float | None) -> Actuate:
    return Actuate(effect.actuator, effect.target, effect.label, effect.command, speed)


def _engine_stop(effect: Actuate, snap: Snapshot, now: float, limits: Limits, *, order: Order,
                 received_at: float | None) -> Decision:
    speed = snap.speed_kmh
    if speed is not None and speed <= limits.relay_max_speed_kmh:
        return Execute(_with_speed(effect, speed))
    since = received_at if received_at is not None else now
    if order.expires_at is None and now - since >= limits.relay_max_wait_s:
        shown = "unknown" if speed is None else f"{speed:.0f}km/h"
        return Fail(f"{effect.label}: Failed! The vehicle did not slow down to "
                    f"{limits.relay_max_speed_kmh:g}km/h within {limits.relay_max_wait_s:.0f} s "
                    f"(speed: {shown}).")
    if speed is None:
        return Wait(f"waiting: the engine is stopped only at <= {limits.relay_max_speed_kmh:g} "
                    "km/h and the speed is unknown")
    return Wait(f"waiting: the engine is stopped only at <= {limits.relay_max_speed_kmh:g} km/h; "
                f"speed {speed:.0f} km/h")


def _cancel(order: Order, effect: Cancel, snap: Snapshot) -> Decision:
    target = snap.target or TargetView(None)
    if target.status is None:
        return Execute(Cancel(effect.target, known=False))
    if target.status.terminal:
        return Fail("already executed" if target.status in (OrderStatus.SUCCEEDED,
                                                             OrderStatus.FAILED)
                    else f"already {target.status.value}")
    if target.started:
        return Fail("already started")
    return Execute(Cancel(effect.target, known=True))


# --- parameter validation, per type -------------------------------------------------------------


def _validate(kind: OrderType, order: Order, limits: Limits) -> Effect:
    p = order.params
    match kind:
        case OrderType.CONFIG:
            return _config(p)
        case OrderType.SETTINGS_RESET | OrderType.STATE | OrderType.REBOOT:
            _only(p, ())
            simple: dict[OrderType, Effect] = {
                OrderType.SETTINGS_RESET: ResetConfig(), OrderType.STATE: ForcePosition(),
                OrderType.REBOOT: Reboot()}
            return simple[kind]
        case OrderType.COMMAND:
            _only(p, ("command",))
            cmd = p.get("command")
            if not isinstance(cmd, str):
                raise _InvalidError("command missing")
            cmd = cmd.strip().upper().replace(" ", "")
            if cmd == "RESET":
                return Reboot("Reset the device")
            if cmd not in COMMANDS:
                raise _InvalidError(f"unsupported command {p['command'][:32]!r} "
                               f"(one of {', '.join([*COMMANDS, 'RESET'])})")
            actuator, level, label = COMMANDS[cmd]
            return Actuate(actuator, level, label, cmd)
        case OrderType.WIFI_ADD:
            _only(p, ("wifiUlid", "ssid", "password"))
            ssid = p.get("ssid")
            password = p.get("password", "")
            if not isinstance(ssid, str) or not 1 <= len(ssid.encode()) <= 32:
                raise _InvalidError("ssid must be 1..32 bytes")
            if not isinstance(password, str) or not (
                    password == "" or 8 <= len(password) <= 63) or not password.isprintable():
                raise _InvalidError("password must be empty (open network) or 8..63 printable "
                               "characters (WPA2 passphrase)")
            return WifiAdd(_ident(p, "wifiUlid"), ssid, password)
        case OrderType.WIFI_DELETE:
            _only(p, ("wifiUlid",))
            return WifiDelete(_ident(p, "wifiUlid"))
        case OrderType.DEMAND_IMAGE:
            _only(p, ("timeStamp", "selectedCam"))
            return Demand(_camera(p), _time(p, "timeStamp"), None)
        case OrderType.DEMAND_VIDEO:
            _only(p, ("timeStamp", "finalTimeStamp", "selectedCam"))
            t0, t1 = _time(p, "timeStamp"), _time(p, "finalTimeStamp")
            if t1 <= t0:
                raise _InvalidError("finalTimeStamp must be after timeStamp")
            if t1 - t0 > limits.max_video_s:
                raise _InvalidError(f"video of {t1 - t0:.0f} s asked, at most "
                               f"{limits.max_video_s:.0f} s")
            return Demand(_camera(p), t0, t1)
        case OrderType.DRIVERCOACH:
            _only(p, ("group", "state"))
            group = p.get("group")
            if not isinstance(group, str) or group.lower() not in keys.DRIVERCOACH_KEYS:
                raise _InvalidError(f"group must be one of {', '.join(keys.DRIVERCOACH_KEYS)}")
            return ApplyConfig(((keys.DRIVERCOACH_KEYS[group.lower()], _switch(p, "ON", "OFF")),))
        case OrderType.AUTOMATIC_RECOGNITION:
            _only(p, ("state",))
            return ApplyConfig(((keys.AUTOMATIC_RECOGNITION_KEY, _switch(p, "S", "N")),))
        case OrderType.CANCEL:
            _only(p, ("orderUlid",))
            target = _ident(p, "orderUlid")
            if target == order.order_ulid:
                raise _InvalidError("an order cannot cancel itself")
            return Cancel(target, known=True)
        case OrderType.GEOFENCE_SET:
            model: type[CircleGeofence | PolygonGeofence] = (
                PolygonGeofence if "shape" in p else CircleGeofence)
            return SetFence(_model(model, p))
        case OrderType.GEOFENCE_DELETE:
            _only(p, ("id",))
            return DeleteFence(_ident(p, "id"))
        case OrderType.ZONES_SET:
            return _zones(p)
    raise _InvalidError(f"unknown order type {kind!r}")  # pragma: no cover (match is exhaustive)


def _config(p: Mapping[str, Any]) -> ApplyConfig:
    _only(p, ("orders",))
    items = p.get("orders")
    if not isinstance(items, list) or not items:
        raise _InvalidError('params.orders must be a non-empty list of {"config", "value"}')
    if len(items) > MAX_CONFIG_ITEMS:
        raise _InvalidError(f"at most {MAX_CONFIG_ITEMS} keys per order")
    accepted: list[tuple[str, Any]] = []
    refused: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or set(item) != {"config", "value"}:
            refused.append((str(item)[:40], 'each item must be {"config": KEY, "value": v}'))
            continue
        name = item["config"]
        try:
            spec, value = keys.check(name, item["value"])
        except keys.KeyRefusedError as exc:
            refused.append((str(name)[:64], str(exc)))
            continue
        if spec.key in seen:
            refused.append((spec.key, "given twice"))
            continue
        seen.add(spec.key)
        accepted.append((spec.key, value))
    if not accepted:
        raise _InvalidError("; ".join(f"{k}: refused ({why})" for k, why in refused))
    return ApplyConfig(tuple(accepted), tuple(refused))


def _zones(p: Mapping[str, Any]) -> SetZones:
    _only(p, ("zones", "border"))
    if "zones" not in p and "border" not in p:
        raise _InvalidError("zones.set needs zones and/or border")
    zones: tuple[SpeedZone, ...] | None = None
    if "zones" in p:
        raw = p["zones"]
        if not isinstance(raw, list) or len(raw) > MAX_ZONES:
            raise _InvalidError(f"zones must be a list of at most {MAX_ZONES} speed zones")
        zones = tuple(_model(SpeedZone, z, f"zones[{i}]") for i, z in enumerate(raw))
        ids = [z.id for z in zones]
        if len(set(ids)) != len(ids):
            raise _InvalidError("zones: duplicate id")
    border = None
    if p.get("border") is not None:
        border = _model(NetworkBorder, p["border"], "border")
    return SetZones(zones, border, "border" in p)


def _model(model: type[_M], raw: Any, where: str = "params") -> _M:
    if not isinstance(raw, dict):
        raise _InvalidError(f"{where} must be an object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
        raise _InvalidError(f"{where}.{loc}: {msg}") from None


def _only(p: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = set(p) - set(allowed)
    if extra:
        raise _InvalidError(f"unknown parameter(s) {', '.join(sorted(extra))[:120]}")


def _ident(p: Mapping[str, Any], name: str) -> str:
    v = p.get(name)
    if not isinstance(v, str) or not 1 <= len(v) <= 64 or not v.isprintable():
        raise _InvalidError(f"{name} must be a string of 1..64 characters")
    return v


def _time(p: Mapping[str, Any], name: str) -> float:
    try:
        return parse_time(p.get(name), name)
    except ValueError as exc:
        raise _InvalidError(str(exc)) from None


def _camera(p: Mapping[str, Any]) -> CameraId:
    cam = p.get("selectedCam")
    if cam == "driver":
        return CameraId.DRIVER
    if cam == "road":
        return CameraId.ROAD
    raise _InvalidError('selectedCam must be "driver" or "road"')


def _switch(p: Mapping[str, Any], on: str, off: str) -> bool:
    v = p.get("state")
    if not isinstance(v, str) or v.upper() not in (on, off):
        raise _InvalidError(f"state must be {on!r} or {off!r}")
    return v.upper() == on
