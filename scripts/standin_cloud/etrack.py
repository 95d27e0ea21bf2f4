"""etrack's open API (seed 004) for commands and geofences, on the stand-in cloud.

The calls a Teltonika/etrack-style fleet tool makes, with the seed's parameters and answers
(``{"record": {...}, "code": 0}``; errors ``{"code": N, "message": "<the seed's text>"}`` with
HTTP 200, plus a ``detail`` saying what exactly was wrong):

* ``GET /api/authorization?time&account&signature`` — ``signature = md5(md5(password) + time)``,
  32 lower-case hex; an account and password from the credentials file (``[[etrack]]``). The
  token is valid ``expires_in`` = 7200 s; a new one makes the account's older ones invalid.
* ``POST /api/command/send?access_token&imei&command`` — ``RELAY,1``, ``RELAY,0``, ``LOCKDOOR``,
  ``UNLOCKDOOR``, ``RESET`` → a ``command`` order (CONTRACT.md §4) published to the device at
  once; ``record.commandid`` is this cloud's command number in upper-case hex (the seed's
  ``"1B454"``). Only to a device that is online (its retained ``presence``): an etrack client
  gives up after 30 s, so a command is not queued for a device that cannot answer (20017).
* ``POST /api/command/query?access_token&commandid`` — ``commandstatus`` 0 until the device
  finished (``response`` empty, or the device's waiting reason, e.g. ``RELAY,1`` above 5 km/h),
  then 1 with the device's answer text, e.g. "Cut off the fuel supply: Success! Speed: 2km/h."
* ``POST /api/geofence/create?access_token&imei&efencename&alarmtype&longitude&latitude&radius``
  — a circle (the seed has no polygon and no delete) → a ``geofence.set`` order; queued like
  any order when the device is offline. The answer is the seed's ``{"code": 0}`` plus
  ``record.efenceid`` (the fence's id on the device, which the seed leaves out) and
  ``record.orderUlid``.

Parameters may come in the query string (the seed's examples), a form body or a JSON object
body. Both GET and POST are served on each path (the seed's examples are plain URLs).
docs/cloud.md, "etrack".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from .api import ApiError, JSONResponse
from .body import loads
from .orders import DEVICE_RE, OrderBook
from .store import OrderRow
from .validate import valid_text

if TYPE_CHECKING:
    from .app import Cloud

log = logging.getLogger("standin_cloud.etrack")

# Chapter 3 of seed 004 (the ones this stand-in answers).
ERRORS: Final[Mapping[int, str]] = {
    10000: "System error",
    10001: "Unknown request",
    10004: "Parameter error",
    10005: "Missing required parameter",
    10006: "The parameter is out of range",
    10010: "Access token doesn't exist",
    10011: "Access token is invalid",
    10012: "Access token is out of date",
    10013: "IMEI is not authorized",
    10014: "Request time error",
    20001: "Account or password error",
    20017: "Device is offline.",
    20018: "Send command fail.",
    20048: "Unsupported command.",
}
COMMANDS: Final = ("RELAY,1", "RELAY,0", "LOCKDOOR", "UNLOCKDOOR", "RESET")
TOKEN_TTL_S: Final = 7200  # seed 004 2.1
TIME_WINDOW_S: Final = 300  # |time - the cloud's clock| beyond this: 10014 Request time error
MAX_BODY: Final = 64 * 1024
COMMAND_ID_RE: Final = re.compile(r"^[0-9A-Fa-f]{1,12}$")
INT_RE: Final = re.compile(r"^[+-]?[0-9]{1,12}$")
MAX_FENCE_NAME: Final = 128  # the device's limit (agent.rules.geofence)


@dataclass(frozen=True, slots=True)
class EtrackAccount:
    account: str
    password: str = field(repr=False)
    imeis: frozenset[str] | None = None  # None: every device; else only these (10013)


def signature(password: str, when: str) -> str:
    """The seed's ``md5(md5(password) + time)``, 32 lower-case hex."""
    inner = hashlib.md5(password.encode()).hexdigest()
    return hashlib.md5((inner + when).encode()).hexdigest()


class EtrackError(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(f"{code} {detail}")
        self.code = code
        self.detail = detail


def answer(record: Mapping[str, Any] | None = None, code: int = 0, detail: str = "") -> Response:
    body: dict[str, Any] = {"code": code, "message": ERRORS.get(code, "")}
    if record is not None:
        body["record"] = dict(record)
    if detail:
        body["detail"] = detail
    return JSONResponse(body)


Handler = Callable[[Request], Awaitable[Response]]


def _etrack(fn: Handler) -> Handler:
    """Every refusal in the seed's shape (HTTP 200, ``code`` != 0)."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except EtrackError as exc:
            return answer(code=exc.code, detail=exc.detail)

    return wrapped


class Params:
    """The request's parameters, typed and checked, each refusal an :class:`EtrackError`."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def _raw(self, name: str) -> Any:
        value = self.values.get(name)
        if value is None or value == "":
            raise EtrackError(10005, f"{name} is required")
        return value

    def text(self, name: str, max_len: int) -> str:
        value = self._raw(name)
        if isinstance(value, int | float):  # bool too
            value = str(value)
        if not isinstance(value, str):
            raise EtrackError(10004, f"{name} must be a string")
        if len(value) > max_len:
            raise EtrackError(10006, f"{name} is longer than {max_len} characters")
        return value

    def integer(self, name: str) -> int:
        value = self._raw(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and INT_RE.match(value.strip()):
            return int(value)
        raise EtrackError(10004, f"{name} must be an integer")

    def number(self, name: str) -> float:
        value = self._raw(name)
        out: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            out = float(value)
        elif isinstance(value, str) and len(value) <= 32:
            try:
                out = float(value)
            except ValueError:
                out = None
        if out is None or not math.isfinite(out):
            raise EtrackError(10004, f"{name} must be a number")
        return out


async def read_params(request: Request) -> Params:
    """Query string, then the body (form or JSON object); a name given twice with two values
    is refused."""
    from .app import read_capped  # the app module imports this one

    values: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if isinstance(value, str) and not valid_text(value):
            raise EtrackError(10004, f"{name[:32]} is not valid text")
        if name in values and values[name] != value and str(values[name]) != str(value):
            raise EtrackError(10004, f"{name[:32]} given twice with different values")
        values[name] = value

    for name, value in request.query_params.multi_items():
        put(name, value)
    if request.method == "POST":
        try:
            raw = await read_capped(request, MAX_BODY)
        except ApiError:
            raise EtrackError(10004, f"body larger than {MAX_BODY} bytes") from None
        if raw.strip():
            for name, value in _body(request, raw).items():
                put(name, value)
    return Params(values)


def _body(request: Request, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EtrackError(10004, "body is not UTF-8") from None
    if "json" in request.headers.get("content-type", "") or text.lstrip().startswith("{"):
        try:
            body = loads(text)
        except ValueError:
            raise EtrackError(10004, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise EtrackError(10004, "a JSON body must be an object of parameters")
        for name, value in body.items():
            if value is not None and not isinstance(value, str | int | float):
                raise EtrackError(10004, f"{name[:32]} must be a string or a number")
        return body
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise EtrackError(10004, "body is not name=value&... form data") from None
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out and out[name] != value:
            raise EtrackError(10004, f"{name[:32]} given twice with different values")
        out[name] = value
    return out


def _online(documents: Mapping[str, tuple[str, int]]) -> bool | None:
    text, _ = documents.get("presence", ("null", 0))
    presence = json.loads(text)
    return presence.get("online") is True if isinstance(presence, dict) else None


class EtrackApi:
    def __init__(self, cloud: Cloud, book: OrderBook) -> None:
        self.cloud = cloud
        self.book = book

    def routes(self) -> list[tuple[str, Handler, list[str]]]:
        both = ["GET", "POST"]
        return [
            ("/api/authorization", _etrack(self.authorization), both),  # 2.1 (GET)
            ("/api/command/send", _etrack(self.send), both),  # 2.5 (POST)
            ("/api/command/query", _etrack(self.query), both),  # 2.6 (POST)
            ("/api/geofence/create", _etrack(self.geofence_create), both),  # 2.4 (POST)
            ("/api/{rest:path}", _etrack(self.unknown), ["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ]

    @property
    def accounts(self) -> Mapping[str, EtrackAccount]:
        return self.cloud.config.etrack_accounts

    # --- helpers -------------------------------------------------------------------------------
    async def _account(self, p: Params) -> EtrackAccount:
        token = p.text("access_token", 128)
        found = await self.cloud.db(lambda: self.cloud.store.etrack_token(token))
        if found is None:
            raise EtrackError(10010)
        name, expires_ms, revoked = found
        account = self.accounts.get(name)
        if revoked or account is None:
            raise EtrackError(10011, "a newer access token was issued for this account"
                              if revoked else "the account no longer exists")  # fmt: skip
        if time.time() * 1000 >= expires_ms:
            raise EtrackError(10012, "get a new one from /api/authorization")
        return account

    def _imei(self, p: Params, account: EtrackAccount) -> str:
        imei = p.text("imei", 64)
        if not DEVICE_RE.match(imei):
            raise EtrackError(10004, "imei must be 1..64 letters and digits")
        if account.imeis is not None and imei not in account.imeis:
            raise EtrackError(10013)
        return imei

    # --- 2.1 -----------------------------------------------------------------------------------
    async def authorization(self, request: Request) -> Response:
        p = await read_params(request)
        when = p.text("time", 20)
        name = p.text("account", 128)
        given = p.text("signature", 64)
        if not when.isdigit() or not when.isascii():
            raise EtrackError(10004, "time must be a Unix time in seconds")
        now = time.time()
        if abs(int(when) - now) > TIME_WINDOW_S:
            raise EtrackError(10014, f"time is more than {TIME_WINDOW_S} s off the server's "
                                     f"clock ({int(now)})")  # fmt: skip
        account = self.accounts.get(name)
        expected = signature(account.password if account else secrets.token_hex(8), when)
        ok = hmac.compare_digest(given.lower().encode("utf-8", "replace"), expected.encode())
        if account is None or not ok:
            raise EtrackError(20001)
        token = secrets.token_hex(16)
        ttl = self.cloud.config.etrack_token_ttl_s
        now_ms = int(now * 1000)
        await self.cloud.db(lambda: self.cloud.store.etrack_issue_token(
            name, token, now_ms, now_ms + ttl * 1000))  # fmt: skip
        log.info("etrack: access token issued for %s", name)
        return answer({"access_token": token, "expires_in": ttl})

    # --- 2.5 / 2.6 -----------------------------------------------------------------------------
    async def send(self, request: Request) -> Response:
        p = await read_params(request)
        account = await self._account(p)
        imei = self._imei(p, account)
        given = p.text("command", 64)
        command = given.strip().upper().replace(" ", "")
        if command not in COMMANDS:
            raise EtrackError(20048, f"one of {', '.join(COMMANDS)}")
        if self.cloud.config.mqtt_url is None:
            raise EtrackError(20018, "this cloud has no broker (scripts/cloud --mqtt)")
        docs = await self.cloud.db(lambda: self.cloud.store.documents(imei))
        online = _online(docs)
        if online is not True:
            raise EtrackError(20017, "never connected" if online is None else "")
        try:
            row = self.book.new(imei, "command", {"command": command},
                                self.cloud.config.etrack_command_ttl_s)  # fmt: skip
        except ApiError as exc:  # the device would refuse it (cannot happen for COMMANDS)
            raise EtrackError(20048, exc.message) from None
        number = await self.cloud.db(
            lambda: self.cloud.store.etrack_add_command(account.account, imei, command, row)
        )
        self.book.wake()
        commandid = f"{number:X}"
        log.info("etrack: %s sent %s to %s: command %s = order %s", account.account, command,
                 imei, commandid, row.order_ulid)  # fmt: skip
        return answer({"commandid": commandid})

    async def query(self, request: Request) -> Response:
        p = await read_params(request)
        account = await self._account(p)
        given = p.text("commandid", 16)
        if not COMMAND_ID_RE.match(given):
            raise EtrackError(10004, "commandid is the id /api/command/send returned")
        found = await self.cloud.db(
            lambda: self.cloud.store.etrack_command(int(given, 16), account.account)
        )
        if found is None:
            raise EtrackError(10004, f"no command {given} of this account")
        command, row = found
        # RESET: the device answers "rebooting" before it goes; that is its response.
        answered = row.terminal or (command == "RESET" and row.detail == "rebooting")
        response = row.detail if row.status not in ("PENDING", "SENT") else ""
        return answer({"response": response, "commandstatus": 1 if answered else 0})

    # --- 2.4 -----------------------------------------------------------------------------------
    async def geofence_create(self, request: Request) -> Response:
        p = await read_params(request)
        account = await self._account(p)
        imei = self._imei(p, account)
        name = p.text("efencename", MAX_FENCE_NAME)
        alarmtype = p.integer("alarmtype")
        longitude, latitude = p.number("longitude"), p.number("latitude")
        radius = p.integer("radius")
        if alarmtype not in (0, 1, 2):
            raise EtrackError(10006, "alarmtype must be 0 (out), 1 (in) or 2 (in/out)")
        if not -180 <= longitude <= 180 or not -90 <= latitude <= 90:
            raise EtrackError(10006, "longitude must be -180..180 and latitude -90..90")
        if not 100 <= radius <= 5000:
            raise EtrackError(10006, "radius must be 100..5000 (meter)")
        params = {"name": name, "latitude": latitude, "longitude": longitude,
                  "radius": radius, "alarmtype": alarmtype}  # fmt: skip

        def make(number: int) -> OrderRow:
            return self.book.new(imei, "geofence.set", {"id": str(number), **params}, None)

        try:
            row = await self.cloud.db(
                lambda: self.cloud.store.etrack_add_fence(account.account, imei, name, make)
            )
        except ApiError as exc:  # what the device would refuse
            raise EtrackError(10006, exc.message.removesuffix("(error Aplication)")) from None
        self.book.wake()
        fence = json.loads(row.message)["params"]["id"]
        log.info("etrack: %s created geofence %s (%s) on %s: order %s", account.account, fence,
                 name, imei, row.order_ulid)  # fmt: skip
        return answer({"efenceid": fence, "orderUlid": row.order_ulid})

    async def unknown(self, request: Request) -> Response:
        raise EtrackError(10001, f"{request.method} {request.url.path[:100]}")
