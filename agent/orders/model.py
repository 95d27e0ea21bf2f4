"""Order and status messages (CONTRACT.md §4): parsing with clear errors, signature, expiry.

An order on the wire::

    {"orderUlid": str, "type": str, "params": {...}, "issuedAt": "2024-03-12T14:52:00Z",
     "expiresAt": "…Z" | null, "signature": hex | absent}

:func:`parse_order` turns bytes into an :class:`Order` or raises :class:`OrderError` whose
``reason`` is the status detail and whose ``order_ulid`` is what could be read of the id (so
the device can still answer ``REJECTED`` to it). The signature, when an order key is
configured, is HMAC-SHA256 over the message without ``signature``, serialised as compact JSON
with sorted keys (:func:`canonical`); ``verified`` says whether it was checked. Type-specific
parameters are validated later, by :mod:`agent.orders.decide`.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import sha256
from pathlib import Path
from typing import Any, Final

from agent.errors import ConfigError

MAX_ORDER_BYTES: Final = 128 * 1024  # CONTRACT §4: payloads <= 128 KB
# Past this an oversize payload is not even parsed for its id (the broker bounds it anyway).
MAX_PARSE_FOR_ID_BYTES: Final = 1024 * 1024
# Lenient: the seed's own example ids are not all valid ULIDs.
ORDER_ULID_RE: Final = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class OrderType(StrEnum):
    CONFIG = "config"
    WIFI_ADD = "wifi.add"
    WIFI_DELETE = "wifi.delete"
    REBOOT = "reboot"
    STATE = "state"
    DEMAND_IMAGE = "demand.image"
    DEMAND_VIDEO = "demand.video"
    DRIVERCOACH = "drivercoach"
    AUTOMATIC_RECOGNITION = "automaticrecognition"
    COMMAND = "command"
    CANCEL = "cancel"
    GEOFENCE_SET = "geofence.set"
    GEOFENCE_DELETE = "geofence.delete"
    ZONES_SET = "zones.set"
    SETTINGS_RESET = "settings.reset"


class OrderStatus(StrEnum):
    RECEIVED = "RECEIVED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        return self is not OrderStatus.RECEIVED


TERMINAL: Final = frozenset(s for s in OrderStatus if s.terminal)


class OrderError(ValueError):
    """An order that cannot be accepted. ``status`` is REJECTED (or EXPIRED)."""

    def __init__(self, reason: str, order_ulid: str | None = None, *,
                 status: OrderStatus = OrderStatus.REJECTED, authentic: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_ulid = order_ulid
        self.status = status
        # True when the message passed the signature check (or none is required): only then
        # may the refusal be journaled under its id (a forged message must not take an id).
        self.authentic = authentic


@dataclass(frozen=True, slots=True)
class Order:
    order_ulid: str
    type: str  # the raw type: an unknown one is refused by decide(), with its name
    params: Mapping[str, Any]
    issued_at: float  # epoch s
    expires_at: float | None  # epoch s
    verified: bool = False  # the signature was checked against the order key
    body: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the message, no signature

    @property
    def known_type(self) -> OrderType | None:
        try:
            return OrderType(self.type)
        except ValueError:
            return None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_json(self) -> str:
        """The order as journaled (without its signature)."""
        return json.dumps(dict(self.body), separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False)

    @classmethod
    def from_journal(cls, text: str, *, verified: bool) -> Order:
        return _build(json.loads(text), verified=verified)


@dataclass(frozen=True, slots=True)
class StatusMessage:
    order_ulid: str | None  # None only for a message whose id could not be read
    status: OrderStatus
    detail: str
    timestamp_ms: int

    def to_wire(self) -> dict[str, Any]:
        return {"orderUlid": self.order_ulid, "status": str(self.status), "detail": self.detail,
                "timestamp": self.timestamp_ms}

    def payload(self) -> bytes:
        return json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()


# --- signing ---------------------------------------------------------------------------------


def canonical(message: Mapping[str, Any]) -> bytes:
    """What is signed: the message without ``signature``, compact JSON, sorted keys, UTF-8."""
    body = {k: v for k, v in message.items() if k != "signature"}
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                      allow_nan=False).encode()


def sign(message: Mapping[str, Any], key: bytes) -> str:
    """The ``signature`` the cloud puts on ``message`` (hex HMAC-SHA256 of :func:`canonical`)."""
    return hmac.new(key, canonical(message), sha256).hexdigest()


def load_order_key(path: Path) -> bytes:
    """Read the order key; refuses a file others can read. Hex text is decoded, else raw bytes.

    The key is never logged; errors name the file only."""
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"orders.order_key_file {path}: cannot read ({exc.strerror})") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"orders.order_key_file {path}: mode {stat.S_IMODE(st.st_mode):o}, "
                          "must be 0600 (readable by the agent only)")
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) < 16:
        raise ConfigError(f"orders.order_key_file {path}: key shorter than 16 bytes")
    return key


def write_secret(path: Path, data: bytes) -> None:
    """Create/replace ``path`` with mode 0600 from the first byte (atomic, fsynced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# --- parsing -------------------------------------------------------------------------------


def parse_time(value: Any, what: str) -> float:
    """ISO-8601 UTC (``2024-03-12T14:52:00Z``, fractions and ``+00:00`` accepted) → epoch s."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be an ISO-8601 UTC time string")
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an ISO-8601 time") from None
    if dt.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone (use Z)")
    return dt.astimezone(UTC).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _peek_ulid(obj: Any) -> str | None:
    if isinstance(obj, dict):
        u = obj.get("orderUlid")
        if isinstance(u, str) and ORDER_ULID_RE.match(u):
            return u
    return None


def parse_order(payload: bytes, key: bytes | None, *, now: float | None = None,
                max_age_s: float | None = None) -> Order:
    """Bytes from the ``orders`` topic → :class:`Order`, or :class:`OrderError`.

    Checks, in order: size, JSON object, ``orderUlid``, signature (when ``key``), the envelope
    fields' types, and (when ``now`` is given) expiry and age. Parameters are not looked at.
    """
    oversize = len(payload) > MAX_ORDER_BYTES
    if oversize and len(payload) > MAX_PARSE_FOR_ID_BYTES:
        raise OrderError(f"order of {len(payload)} bytes, over the {MAX_ORDER_BYTES} byte limit")
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        if oversize:
            raise OrderError(f"order of {len(payload)} bytes, over the {MAX_ORDER_BYTES} "
                             "byte limit") from None
        raise OrderError(f"malformed order: not JSON ({_short(exc)})") from None
    ulid = _peek_ulid(obj)
    if oversize:
        raise OrderError(f"order of {len(payload)} bytes, over the {MAX_ORDER_BYTES} byte limit",
                         ulid)
    if not isinstance(obj, dict):
        raise OrderError("malformed order: not a JSON object")
    if ulid is None:
        raise OrderError("malformed order: orderUlid missing or not 1..64 letters/digits")
    verified = False
    if key is not None:
        sig = obj.get("signature")
        if sig is None:
            raise OrderError("unsigned order: this device requires a signature", ulid)
        if not isinstance(sig, str) or not _signature_matches(sig, obj, key):
            raise OrderError("bad signature", ulid)
        verified = True
    try:
        order = _build(obj, verified=verified)
    except ValueError as exc:
        raise OrderError(f"malformed order: {exc}", ulid, authentic=True) from None
    if now is not None:
        if order.expired(now):
            raise OrderError(f"expired at {iso(order.expires_at or 0)}", ulid,
                             status=OrderStatus.EXPIRED, authentic=True)
        if max_age_s is not None and order.expires_at is None and \
                now - order.issued_at > max_age_s:
            raise OrderError(f"issued at {iso(order.issued_at)}, older than {max_age_s:.0f} s: "
                             "refused as a possible replay", ulid, authentic=True)
    return order


def _build(obj: dict[str, Any], *, verified: bool) -> Order:
    body = {k: v for k, v in obj.items() if k != "signature"}
    extra = set(body) - {"orderUlid", "type", "params", "issuedAt", "expiresAt"}
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(sorted(extra))}")
    ulid = body.get("orderUlid")
    if not isinstance(ulid, str) or not ORDER_ULID_RE.match(ulid):
        raise ValueError("orderUlid missing or not 1..64 letters/digits")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("type missing")
    params = body.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError("params must be an object")
    issued = parse_time(body.get("issuedAt"), "issuedAt")
    raw_exp = body.get("expiresAt")
    expires = None if raw_exp is None else parse_time(raw_exp, "expiresAt")
    return Order(ulid, kind, params, issued, expires, verified, body)


def _signature_matches(sig: str, obj: dict[str, Any], key: bytes) -> bool:
    """Constant-time check of ``sig`` against :func:`sign`, whatever characters either holds.

    ``hmac.compare_digest`` raises ``TypeError`` on non-ASCII ``str``, so bytes are compared;
    a message holding a lone surrogate (JSON ``"\\ud800"``) has no UTF-8 form, so nothing
    can have signed it."""
    try:
        want = sign(obj, key)
    except ValueError:  # UnicodeEncodeError: a lone surrogate in the message
        return False
    return hmac.compare_digest(sig.lower().encode("utf-8", "surrogatepass"), want.encode())


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
