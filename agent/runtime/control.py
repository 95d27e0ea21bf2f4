"""The control socket: how the technician CLI talks to the running agent.

A Unix stream socket (mode 0660, group ``[runtime] control_group``), one JSON request per line,
JSON lines back. Requests (``{"cmd": ...}``):

* ``status`` → the status document (:mod:`agent.runtime.status`);
* ``watch`` ``{"topic": "gnss"|"can"|"dms"|"events"}`` → one document per ``interval_s`` until
  the client hangs up;
* ``requeue`` ``{"id"}`` → a dead letter back in line (``{"requeued": bool}``);
* ``config`` → the effective settings snapshot (secrets masked) and the keys set by orders;
* ``snapshot`` ``{"camera": "cam1"}`` → the newest frame as base64 PNG;
* ``hang`` ``{"component", "seconds"}`` / ``crash`` ``{"component"}`` → test hooks (the
  component's loop really sticks or raises), refused unless ``[runtime] test_hooks``.

Errors are ``{"error": text}``. Nothing here can stop the agent: a bad client is dropped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import grp
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.runtime.component import Component

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.runtime.status import StatusBuilder
    from agent.runtime.supervisor import Supervisor

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
SOCKET_NAME = "control.sock"
WATCH_TOPICS = ("gnss", "can", "dms", "events")


def socket_path(config: AgentConfig) -> Path:
    return config.runtime.control_socket or config.storage.data_dir / SOCKET_NAME


class ControlServer(Component):
    def __init__(self, config: AgentConfig, status: StatusBuilder,
                 supervisor: Supervisor) -> None:
        super().__init__("control")
        self._config = config
        self._status = status
        self._supervisor = supervisor
        self.path = socket_path(config)
        self.requests = 0
        self.clients = 0

    async def run(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket from a previous run (the outbox lock guards twins)
        server = await asyncio.start_unix_server(self._client, path=str(path),
                                                 limit=MAX_REQUEST)
        try:
            os.chmod(path, 0o660)
            group = self._config.runtime.control_group
            if group:
                try:
                    os.chown(path, -1, grp.getgrnam(group).gr_gid)
                except (KeyError, PermissionError) as exc:
                    self.tracker.degraded(f"cannot give the socket to group {group}: {exc}")
            if self.health.state != "degraded":
                self.tracker.ok(f"listening on {path}")
            async with server:
                await server.serve_forever()
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    def status(self) -> dict[str, Any]:
        return {"socket": str(self.path), "requests": self.requests, "clients": self.clients}

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients += 1
        try:
            while line := await reader.readline():
                self.requests += 1
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("a request is a JSON object")
                    await self._handle(request, writer)
                except (ValueError, KeyError, TypeError) as exc:
                    await _send(writer, {"error": str(exc)})
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away or sent garbage: drop it
        except Exception:
            log.exception("control socket: request failed")
        finally:
            self.clients -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        cmd = request.get("cmd")
        if cmd == "status":
            await _send(writer, await self._status.build())
        elif cmd == "watch":
            await self._watch(request, writer)
        elif cmd == "requeue":
            outbox = self._status.outbox
            if outbox is None:
                raise ValueError("the outbox is not open")
            done = await asyncio.to_thread(outbox.requeue_dead_letter, int(request["id"]))
            self._status.wake_uplink()
            await _send(writer, {"requeued": done})
        elif cmd == "config":
            await _send(writer, self._status.config())
        elif cmd == "snapshot":
            await _send(writer, await self._snapshot(str(request.get("camera", "cam1"))))
        elif cmd in ("hang", "crash"):
            if not self._config.runtime.test_hooks:
                raise ValueError("test hooks are off ([runtime] test_hooks)")
            name = str(request["component"])
            component = self._supervisor.components.get(name)
            if component is None:
                raise ValueError(f"no component {name!r}")
            if cmd == "hang":
                component.heartbeat.hang_for(float(request["seconds"]))
            else:
                component.heartbeat.crash_next()
            await _send(writer, {"ok": True})
        else:
            raise ValueError(f"unknown command {cmd!r}")

    async def _watch(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        topic = request.get("topic")
        if topic not in WATCH_TOPICS:
            raise ValueError(f"topic must be one of {', '.join(WATCH_TOPICS)}")
        interval = min(max(float(request.get("interval_s", 1.0)), 0.1), 60.0)
        seen = self._status.events_seen()
        while True:
            if topic == "events":
                doc: dict[str, Any] = {"events": self._status.events_since(seen)}
                seen = self._status.events_seen()
            else:
                doc = self._status.topic(topic)
            await _send(writer, doc)
            await asyncio.sleep(interval)

    async def _snapshot(self, camera: str) -> dict[str, Any]:
        png = await self._status.snapshot_png(camera)
        return {"camera": camera, "png_base64": base64.b64encode(png).decode("ascii")}


async def _send(writer: asyncio.StreamWriter, doc: dict[str, Any]) -> None:
    writer.write(json.dumps(doc, default=str).encode() + b"\n")
    await writer.drain()


async def request(path: Path, doc: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """One request, one answer (the CLI's side)."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path),
                                                                        limit=1 << 26), timeout_s)
    try:
        writer.write(json.dumps(doc).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout_s)
        answer: dict[str, Any] = json.loads(line)
        return answer
    finally:
        writer.close()
