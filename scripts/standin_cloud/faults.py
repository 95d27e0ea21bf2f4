"""Fault injection: the next N matching requests fail in a chosen way, so tests can storm the agent.

Kinds:

- ``500``        answer ``500 {"Error": "Internal Server Error"}`` without doing anything;
- ``429``        answer ``429 {"Error": "Quota Exceeded"}`` with ``Retry-After: retry_after``;
- ``slow``       wait ``delay_s`` then handle the request normally;
- ``drop``       read the request, then close the socket without answering (nothing done);
- ``drop_after`` handle the request (its effect is committed), then close the socket instead of
  sending the answer: the client cannot know it succeeded and must retry (tests de-duplication).

A rule matches a request by path (and ``methods`` when given); with no ``paths`` it matches the
device-facing upload calls (``POST /auth/token``, ``POST /events``, ``POST /events/files/upload``,
``PUT /s3/...``). Rules are consumed in the order they were added. ``parse_rule`` reads the CLI
form ``kind=500,count=3,path=/s3/,method=PUT,retry_after=2,delay=1.5``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

KINDS = ("500", "429", "slow", "drop", "drop_after")
TRANSPORT_EXT = "standin.transport"  # scope["extensions"] key set by server._TransportH11

_DEVICE_SIDE = (
    ("POST", "/auth/token"),
    ("POST", "/events"),
    ("POST", "/events/files/upload"),
    ("PUT", "/s3/"),
)


@dataclass(slots=True)
class FaultRule:
    kind: str
    count: int = 1
    paths: tuple[str, ...] = ()  # exact paths, or prefixes ending in "/"; empty = device side
    retry_after: float = 1.0
    delay_s: float = 0.0
    methods: tuple[str, ...] = ()  # with paths: only these methods (empty = any)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        if self.count < 0 or self.retry_after < 0 or self.delay_s < 0:
            raise ValueError("count, retry_after and delay must be >= 0")

    def matches(self, method: str, path: str) -> bool:
        if self.paths:
            if self.methods and method not in self.methods:
                return False
            return any(_path_match(p, path) for p in self.paths)
        return any(method == m and _path_match(p, path) for m, p in _DEVICE_SIDE)

    @classmethod
    def from_json(cls, obj: Any) -> FaultRule:
        if not isinstance(obj, dict):
            raise ValueError("a fault is an object")
        kind = obj.get("kind", "")
        if not isinstance(kind, str):
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        return cls(
            kind=kind,
            count=_number(obj, "count", 1, MAX_COUNT, integer=True),
            paths=_strings(obj, "paths"),
            retry_after=_number(obj, "retry_after", 1.0, MAX_SECONDS),
            delay_s=_number(obj, "delay_s", 0.0, MAX_SECONDS),
            methods=tuple(m.upper() for m in _strings(obj, "methods")),
        )


MAX_COUNT = 1_000_000_000
MAX_SECONDS = 3600.0  # a longer Retry-After or delay is a typo; inf would never answer


def _number(
    obj: dict[str, Any], name: str, default: float, top: float, integer: bool = False
) -> Any:
    """``obj[name]`` as a finite number in 0..top (int when ``integer``); strings from the CLI."""
    value = obj.get(name, default)
    if isinstance(value, str):
        value = int(value) if integer else float(value)  # ValueError: not a number
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if integer and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{name} must be an integer")
        value = int(value)  # json gives 3.0 for 3e0; is_integer() is False for inf and NaN
    if not 0 <= value <= top:  # False for NaN
        raise ValueError(f"{name} must be 0..{top:g}")
    return value


def _strings(obj: dict[str, Any], name: str) -> tuple[str, ...]:
    value = obj.get(name, ())
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a string or a list of strings")
    return tuple(value)


def _path_match(pattern: str, path: str) -> bool:
    return path.startswith(pattern) if pattern.endswith("/") else path == pattern


def parse_rule(spec: str) -> FaultRule:
    """``kind=429,count=2,retry_after=1,path=/events`` (``path``, ``method`` may repeat)."""
    fields: dict[str, Any] = {"paths": [], "methods": []}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"fault spec item {part!r} is not name=value")
        if name == "path":
            fields["paths"].append(value.strip())
        elif name == "method":
            fields["methods"].append(value.strip())
        elif name == "delay":
            fields["delay_s"] = value
        elif name in ("kind", "count", "retry_after", "delay_s"):
            fields[name] = value
        else:
            raise ValueError(f"unknown fault field {name!r}")
    return FaultRule.from_json(fields)


@dataclass
class FaultPlan:
    """The pending rules and what was injected; shared by the app thread and the admin API."""

    rules: list[FaultRule] = field(default_factory=list)
    injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.count > 0 and rule.matches(method, path):
                    rule.count -= 1
                    self.injected[rule.kind] += 1
                    if rule.count == 0:
                        self.rules.remove(rule)
                    return rule
        return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"pending": [asdict(r) for r in self.rules], "injected": dict(self.injected)}


class FaultMiddleware:
    """ASGI middleware applying the plan before the app sees a request."""

    def __init__(self, app: ASGIApp, plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/admin/"):
            await self.app(scope, receive, send)
            return
        rule = self.plan.take(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay_s)
            await self.app(scope, receive, send)
        elif rule.kind in ("500", "429"):
            await _drain(receive)
            status, text = (500, "Internal Server Error")
            if rule.kind == "429":
                status, text = 429, "Quota Exceeded"
            headers = [(b"content-type", b"application/json")]
            if rule.kind == "429":
                headers.append((b"retry-after", _retry_after(rule.retry_after)))
            body = json.dumps({"Error": text}).encode()
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif rule.kind == "drop":
            await _drain(receive)
            await _drop(scope, receive, send)
        else:  # drop_after: do the work, lose the answer

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await _drop(scope, receive, send)


def _retry_after(seconds: float) -> bytes:
    # Retry-After is whole seconds by RFC 9110; fractions are sent as-is for fast tests.
    return (str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}").encode()


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _drop(scope: Scope, receive: Receive, send: Send) -> None:
    transport = (scope.get("extensions") or {}).get(TRANSPORT_EXT)
    if transport is None:
        # Not served by server._TransportH11: start a response and fail, uvicorn then closes.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ConnectionAbortedError("fault injection: dropped connection")
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass
