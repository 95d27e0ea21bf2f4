"""The status document ``edge-agent status`` prints: every component, the vehicle, the outbox.

Built from what the running agent already holds (component health and ``status()``, the
vehicle state, outbox statistics read in a thread). Never holds a secret: components'
``status()`` are diagnostics that mask credentials, and config values are not included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from typing import TYPE_CHECKING, Any

from agent.health import HealthState

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.store.outbox import Outbox


def _plain(value: Any) -> Any:
    """JSON-safe: dataclasses to dicts, enums to their values, other objects to strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class StatusBuilder:
    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    def components(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, c in self._agent.supervisor.components.items():
            entry = c.health.to_dict()
            entry["critical"] = c.critical
            entry["heartbeat_age_s"] = round(c.heartbeat.age(), 2)
            try:
                entry["status"] = _plain(c.status())
            except Exception as exc:  # a status must never take the control socket down
                entry["status"] = {"error": f"{type(exc).__name__}: {exc}"}
            out[name] = entry
        return out

    def vehicle(self) -> dict[str, Any]:
        s = self._agent.engine.state
        fix = s.last_fix
        return {
            "speed_kmh": round(s.speed_kmh, 1),
            "speed_source": s.speed_source,
            "ignition": s.ignition,
            "odometer_m": round(s.odometer_m, 1),
            "vehicle_battery_v": s.vehicle_battery_v,
            "gnss": None if fix is None else {
                "mode": int(fix.mode), "fixed": s.fixed, "lat": fix.lat, "lon": fix.lon,
                "satellites_used": fix.satellites_used, "hdop": fix.hdop,
                "age_s": round(time.time() - fix.t, 1),
            },
        }

    @property
    def outbox(self) -> Outbox | None:
        return self._agent.outbox

    def wake_uplink(self) -> None:
        if self._agent.uplink is not None:
            self._agent.uplink.notify()

    def config(self) -> dict[str, Any]:
        """The running snapshot (SecretStr dumps masked) and the keys orders changed."""
        agent = self._agent
        return {"values": agent.config.model_dump(mode="json"),
                "by_order": sorted(agent.keys_by_order)}

    # --- live views (``edge-agent watch``) ------------------------------------------------

    def events_seen(self) -> int:
        pub = self._agent.publisher
        return pub.stored_count if pub is not None else 0

    def events_since(self, seen: int) -> list[dict[str, Any]]:
        pub = self._agent.publisher
        return [] if pub is None else [e for n, e in pub.recent if n > seen]

    def topic(self, topic: str) -> dict[str, Any]:
        comps = self.components()
        if topic == "gnss":
            return {"vehicle": self.vehicle(), "gnss": comps.get("gnss")}
        if topic == "can":
            s = self._agent.engine.state
            return {"can": comps.get("can"), "obd": comps.get("obd"),
                    "signals": _plain(s.diagnostics())}
        return {"dms": comps.get("dms"), "cam1": comps.get("cam1"), "cam0": comps.get("cam0")}

    async def snapshot_png(self, camera: str) -> bytes:
        cam = self._agent.cameras.get(camera)
        if cam is None:
            raise ValueError(f"no camera {camera!r} in this agent")
        frame = cam.latest()
        if frame is None:
            raise ValueError(f"{camera} has not delivered a frame yet")
        import cv2

        def encode() -> bytes:
            ok, buf = cv2.imencode(".png", frame.image)
            if not ok:
                raise ValueError("PNG encoding failed")
            return bytes(buf)

        return await asyncio.to_thread(encode)

    async def build(self) -> dict[str, Any]:
        agent = self._agent
        components = self.components()
        outbox: dict[str, Any] | None = None
        if agent.outbox is not None:
            try:
                from agent.diag.outbox import stats_doc

                outbox = stats_doc(await asyncio.to_thread(agent.outbox.stats))
            except Exception as exc:
                outbox = {"error": str(exc)}
        unhealthy = sorted(n for n, c in components.items()
                           if c["health"] in (HealthState.DOWN, HealthState.DEGRADED)
                           and c["detail"] != "finished")
        return {
            "agent": {
                "pid": os.getpid(),
                "running": True,
                "device": agent.identity.device_source,
                "version": agent.identity.firmware_version,
                "started_at": agent.started_at,
                "uptime_s": round(time.time() - agent.started_at, 1),
                "status": agent.supervisor.status_line(),
                "config_version": agent.config_version,
                "watchdog_sent": agent.supervisor.watchdog_sent,
            },
            "healthy": not unhealthy,
            "unhealthy": unhealthy,
            "components": components,
            "vehicle": self.vehicle(),
            "outbox": outbox,
        }
