"""``edge-agent status [--config FILE] [--json]``: what the running agent is doing, in seconds.

Asks the running agent over its control socket (``[runtime] control_socket``). When no agent
answers, reads the outbox database directly (read-only) and says the agent is not running.
Exit status: 0 every component healthy, 1 a component is degraded or down, 3 no agent runs
(as ``systemctl status`` does for an inactive unit).

Which agent: ``--config``, else ``$EDGE_AGENT_CONFIG``, else ``/etc/edge-agent/agent.toml``,
else the config of the ``scripts/demo`` running from this checkout (``var/demo/agent.toml``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, load_config
from agent.runtime.control import request, socket_path

EXIT_UNHEALTHY = 1
EXIT_NOT_RUNNING = 3
SYSTEM_CONFIG = Path("/etc/edge-agent/agent.toml")
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "var" / "demo" / "agent.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document for scripts")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="the agent's TOML config (default: $EDGE_AGENT_CONFIG, "
                             "/etc/edge-agent/agent.toml, or a running scripts/demo)")


def config_path(path: Path | None) -> Path | None:
    """The file ``find_config`` loads (None: defaults and environment only)."""
    if path is None and not os.environ.get("EDGE_AGENT_CONFIG"):
        for candidate in (SYSTEM_CONFIG, DEMO_CONFIG):
            if candidate.is_file():
                return candidate
    return path


def find_config(path: Path | None) -> AgentConfig:
    return load_config(config_path(path))


BOX_SOCKET = Path("/run/edge-agent/control.sock")  # systemd/edge-agent.service


def agent_socket(cfg: AgentConfig) -> Path:
    """The config's socket; on a box whose unit sets it by environment, the unit's."""
    path = socket_path(cfg)
    if not path.exists() and cfg.runtime.control_socket is None and BOX_SOCKET.exists():
        return BOX_SOCKET
    return path


def ask(cfg: AgentConfig, doc: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any] | None:
    """The running agent's answer, or None when no agent listens on the socket."""
    try:
        return asyncio.run(request(agent_socket(cfg), doc, timeout_s))
    except (FileNotFoundError, ConnectionRefusedError):
        return None


def run(args: argparse.Namespace) -> int:
    cfg = find_config(args.config)
    doc = ask(cfg, {"cmd": "status"})
    if doc is None:
        doc = offline_status(cfg)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(render(doc))
    if not doc["agent"]["running"]:
        return EXIT_NOT_RUNNING
    return 0 if doc["healthy"] else EXIT_UNHEALTHY


def offline_status(cfg: AgentConfig) -> dict[str, Any]:
    """No agent answers: what the database says (read-only, changes nothing)."""
    from agent.diag.outbox import read_outbox

    outbox: dict[str, Any] | None
    try:
        outbox = read_outbox(cfg)
    except Exception as exc:
        outbox = {"error": str(exc)}
    return {
        "agent": {"running": False, "socket": str(agent_socket(cfg)),
                  "device": cfg.device.device_source},
        "healthy": False, "unhealthy": [], "components": {}, "vehicle": None, "outbox": outbox,
    }


def _clock(t: float | None) -> str:
    return "-" if not t else time.strftime("%H:%M:%S", time.localtime(t))


def _duration(s: float) -> str:
    s = int(s)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d" if d else "") + (f"{h}h" if h or d else "") + f"{m:02d}m{s:02d}s"


def render(doc: dict[str, Any]) -> str:
    a = doc["agent"]
    if not a["running"]:
        lines = [f"edge-agent: NOT RUNNING (no answer on {a['socket']})"]
    else:
        lines = [f"edge-agent {a['version']}  device {a['device']}  pid {a['pid']}  "
                 f"up {_duration(a['uptime_s'])}  config v{a.get('config_version', 0)}  "
                 f"{a['status']}", ""]
        width = max([len("COMPONENT"), *map(len, doc["components"])])
        lines.append(f"{'COMPONENT':<{width}} {'HEALTH':<9} {'SINCE':<8} {'RESTARTS':>8}  DETAIL")
        for name, c in doc["components"].items():
            mark = "!" if c["health"] in ("down", "degraded") else " "
            detail = c["detail"] or ""
            if c.get("last_error") and c["health"] in ("down", "degraded"):
                detail = c["last_error"]
            lines.append(f"{name:<{width}} {c['health']:<8}{mark} {_clock(c['since']):<8} "
                         f"{c['restarts']:>8}  {detail[:80]}")
        lines += ["", *_vehicle_lines(doc.get("vehicle")), *_extra_lines(doc["components"])]
    ob = doc.get("outbox")
    if ob:
        lines.append(_outbox_line(ob))
    return "\n".join(lines)


def _vehicle_lines(v: dict[str, Any] | None) -> list[str]:
    if not v:
        return []
    ign = {True: "on", False: "off", None: "unknown"}[v["ignition"]]
    out = [f"vehicle: {v['speed_kmh']:.0f} km/h ({v['speed_source']}), ignition {ign}, "
           f"odometer {v['odometer_m'] / 1000:.1f} km"]
    g = v.get("gnss")
    if g:
        out.append(f"gnss: mode {g['mode']} {'fixed' if g['fixed'] else 'no fix'}, "
                   f"{g['satellites_used']} satellites, hdop {g['hdop']}, age {g['age_s']} s")
    else:
        out.append("gnss: no fix received yet")
    return out


def _extra_lines(components: dict[str, Any]) -> list[str]:
    out = []
    up = components.get("uplink", {}).get("status", {})
    if up:
        out.append(f"uplink: {up.get('state')}, {up.get('sent_events', 0)} events sent, "
                   f"last success {_clock(up.get('last_success_at'))}")
    for cam in ("cam0", "cam1"):
        st = components.get(cam, {}).get("status", {})
        if st:
            last = _clock(st.get("last_frame_t"))
            out.append(f"{cam}: {st.get('fps') or 0:.1f} fps, last frame {last}")
    dms = components.get("dms", {}).get("status", {})
    if dms:
        out.append(f"dms: {dms.get('fps')} fps, face {dms.get('faceFound')}, "
                   f"calibrated {dms.get('calibrated')}, PERCLOS {dms.get('perclos')}")
    return out


def _outbox_line(ob: dict[str, Any]) -> str:
    if "error" in ob:
        return f"outbox: unreadable: {ob['error']}"
    pending = ob.get("pending", {})
    lanes = ", ".join(f"{k}={v}" for k, v in pending.items()) or "empty"
    return (f"outbox: pending {lanes}; in flight {ob.get('in_flight', 0)}; "
            f"{ob.get('used_bytes', 0) / 1e6:.1f} MB used; dead letters {ob.get('dead_letters', 0)}"
            + ("; DISK FULL" if ob.get("disk_full") else ""))
