"""``edge-agent selftest [--config FILE] [--json]``: is this box ready? One pass/fail per line.

Checks what a technician would check by hand: the config, the serial ports (present; talking,
as the running agent sees them, or by reading them when no agent runs), the cameras, the
models against their manifest, disk space, the clock, and the cloud with the configured
credentials. Exit status 0 only when every check passes; a check that does not apply (a source
not configured) says so and does not count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.diag.status import add_config_argument, ask, find_config

MIN_FREE_BYTES = 64 * 1024 * 1024
ACTIVITY_FRESH_S = 10.0
EARLIEST_PLAUSIBLE = 1_704_067_200  # 2024-01-01: a clock before this was never set


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    result: str  # "pass", "fail", "skip"
    detail: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    cfg = find_config(args.config)
    status = ask(cfg, {"cmd": "status"})
    checks = [Check("config", "pass", "valid")]
    checks += _ports(cfg, status)
    checks += _cameras(cfg, status)
    checks += [_models(cfg), _disk(cfg), _clock(status), _cloud(cfg), _broker(cfg, status)]
    if args.json:
        print(json.dumps({"checks": [asdict(c) for c in checks],
                          "passed": all(c.result != "fail" for c in checks)}, indent=2))
    else:
        for c in checks:
            print(f"{c.result.upper():<5} {c.name:<14} {c.detail}")
    return 0 if all(c.result != "fail" for c in checks) else 1


def _live(status: dict[str, Any] | None, name: str) -> Check | None:
    """The running agent's view of a component: ok and recently active = talking."""
    if status is None:
        return None
    comp = status["components"].get(name)
    if comp is None:
        return Check(name, "fail", "configured but not running in the agent")
    last = comp.get("last_activity")
    age = time.time() - last if last else None
    if comp["health"] == "ok" and age is not None and age < ACTIVITY_FRESH_S:
        return Check(name, "pass", f"talking ({comp['detail'] or 'ok'}; last data {age:.1f} s ago)")
    why = comp.get("last_error") or comp.get("detail") or comp["health"]
    quiet = "no data yet" if age is None else f"last data {age:.0f} s ago"
    return Check(name, "fail", f"{comp['health']}: {why} ({quiet})")


def _ports(cfg: AgentConfig, status: dict[str, Any] | None) -> list[Check]:
    v = cfg.vehicle
    ports = []
    if v.gnss.backend == "serial":
        ports.append(("gnss", v.gnss.port))
    if v.can.backend == "slcan":
        ports.append(("can", v.can.channel))
    if v.obd.backend == "elm327":
        ports.append(("obd", v.obd.port))
    if not ports:
        return [Check("serial ports", "skip", "no serial source configured")]
    out = []
    for name, port in ports:
        if not Path(port).exists():
            out.append(Check(name, "fail", f"{port} not present"))
            continue
        live = _live(status, name)
        out.append(live or _read_port(name, port))
    return out


def _read_port(name: str, port: str) -> Check:
    """No agent runs: open the port and see whether bytes arrive within 2 s."""
    import serial

    try:
        with serial.Serial(port, timeout=2.0) as s:
            data = s.read(64)
    except (OSError, serial.SerialException) as exc:
        return Check(name, "fail", f"{port}: cannot open: {exc}")
    if not data and name == "gnss":
        return Check(name, "fail", f"{port}: open, but nothing received in 2 s")
    return Check(name, "pass", f"{port}: open" + (f", {len(data)} bytes received" if data else ""))


def _cameras(cfg: AgentConfig, status: dict[str, Any] | None) -> list[Check]:
    v = cfg.vision
    cams = [(n, s) for n, s in (("cam1", v.driver_camera), ("cam0", v.road_camera)) if s]
    if not v.enabled or not cams:
        return [Check("cameras", "skip", "driver monitoring not configured")]
    out = []
    for name, source in cams:
        live = _live(status, name)
        if live is not None:
            out.append(live)
            continue
        import cv2

        cap = cv2.VideoCapture(source)
        try:
            ok = cap.isOpened() and cap.read()[0]
        finally:
            cap.release()
        out.append(Check(name, "pass" if ok else "fail",
                         f"{source}: " + ("a frame read" if ok else "cannot open or read")))
    return out


def _models(cfg: AgentConfig) -> Check:
    if not cfg.vision.enabled:
        return Check("models", "skip", "driver monitoring not enabled")
    from agent.errors import ModelError
    from agent.vision.models import model_path, read_manifest, resolve_models_dir

    models_dir = resolve_models_dir(cfg.vision.models_dir)
    try:
        manifest = read_manifest(models_dir)
        names = []
        for key in manifest["models"]:
            path = model_path(models_dir, manifest, key, verify=True)
            import onnxruntime as ort

            ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            names.append(key)
    except ModelError as exc:
        return Check("models", "fail", str(exc))
    except Exception as exc:  # onnxruntime refusing the file
        return Check("models", "fail", f"cannot load: {exc}")
    return Check("models", "pass", f"{', '.join(names)} load and match the manifest")


def _disk(cfg: AgentConfig) -> Check:
    path = cfg.storage.data_dir
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("/"))
    usage = shutil.disk_usage(probe)
    detail = f"{usage.free / 2**20:.0f} MiB free of {usage.total / 2**20:.0f} MiB at {probe}"
    if not os.access(probe, os.W_OK):
        return Check("disk", "fail", f"{probe} not writable; {detail}")
    return Check("disk", "pass" if usage.free >= MIN_FREE_BYTES else "fail", detail)


def _clock(status: dict[str, Any] | None) -> Check:
    now = time.time()
    if now < EARLIEST_PLAUSIBLE:
        return Check("clock", "fail", f"host clock reads {time.ctime(now)}: never set")
    gnss = ((status or {}).get("vehicle") or {}).get("gnss")
    if gnss and gnss.get("fixed"):
        return Check("clock", "pass", f"{time.ctime(now)}; GNSS fix {gnss['age_s']} s old")
    return Check("clock", "pass", f"{time.ctime(now)} (plausible; no GNSS time to compare)")


def _broker(cfg: AgentConfig, status: dict[str, Any] | None) -> Check:
    if not cfg.orders.enabled:
        return Check("broker", "skip", "orders over MQTT not enabled")
    live = (status or {}).get("components", {}).get("orders.link")
    if live is not None:  # the agent holds the session: its view, not a second login
        st = live.get("status", {})
        if live["health"] == "ok":
            return Check("broker", "pass", f"{st.get('broker')}: connected")
        why = live.get("last_error") or live["detail"]
        return Check("broker", "fail", f"{st.get('broker')}: {why}")
    from agent.orders.link import probe

    try:
        where = asyncio.run(probe(cfg.orders, cfg.device.device_source))
    except ConnectionError as exc:
        return Check("broker", "fail", f"{cfg.orders.broker_url}: {exc}")
    return Check("broker", "pass", f"{where}: connected with the configured credentials")


def _cloud(cfg: AgentConfig) -> Check:
    from agent.errors import UplinkError
    from agent.uplink.client import CloudClient, tls_context

    c = cfg.cloud

    async def token() -> None:
        verify = tls_context(c.verify_tls, c.ca_file)
        client = CloudClient(c.url, c.client_id, c.client_secret.get_secret_value(),
                             timeout_s=min(c.timeout_s, 10.0), verify=verify)
        try:
            await client._access_token()
        finally:
            await client.aclose()

    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    if not httpx_log.isEnabledFor(logging.DEBUG):
        httpx_log.setLevel(logging.WARNING)  # not one INFO line per request amid the results
    try:
        asyncio.run(token())
    except (UplinkError, OSError, ValueError) as exc:
        return Check("cloud", "fail", f"{c.url}: {exc}")
    finally:
        httpx_log.setLevel(level)
    return Check("cloud", "pass", f"{c.url}: credentials of {c.client_id} accepted")
