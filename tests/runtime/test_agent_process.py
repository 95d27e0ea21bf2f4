"""The real agent process under its supervisor, seen the way systemd and a technician see it.

One agent (``python -m agent run``) with a GNSS receiver on a pty, the stand-in cloud, a real
``NOTIFY_SOCKET`` with ``WATCHDOG_USEC`` and the control socket, driven through faults:
a crash, a hang of a critical component, an unplugged receiver and a stopped cloud. Each shows
in ``edge-agent status`` and recovers while the agent keeps running; SIGTERM then stops it
within the systemd timeout with every event delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_cloud import CloudServer

from agent.events import HardwareEventType
from agent.runtime.control import request
from agent.sources.gnss.replay import NmeaPty
from tests.test_app import Receiver
from tests.uplink.backbone_factory import CLIENT_ID, CLIENT_SECRET, cloud_config

pytestmark = pytest.mark.slow
WATCHDOG_USEC = 2_000_000  # the agent feeds every 1 s
RULES_HEARTBEAT_S = 10.0  # agent/app.py: the rules tick component


class UnpluggablePty(NmeaPty):
    """A receiver that can be pulled out while the simulated receiver keeps talking."""

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            super().write(data)


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket recording (monotonic time, message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                data = self.sock.recv(4096).decode()
                now = time.monotonic()
                self.messages.extend((now, line) for line in data.split("\n") if line)

    def watchdog_times(self) -> list[float]:
        return [t for t, m in self.messages if m == "WATCHDOG=1"]

    def has(self, prefix: str) -> bool:
        return any(m.startswith(prefix) for _, m in self.messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def wait_until(cond: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not cond():
        assert time.monotonic() < deadline, f"not within {within_s} s: {what}"
        time.sleep(0.1)


def status(config: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "agent", "status", "--json", "--config",
                           str(config)], check=False, capture_output=True, text=True,
                          timeout=30)
    return proc.returncode, json.loads(proc.stdout)


def health(config: Path, component: str) -> str:
    return str(status(config)[1]["components"][component]["health"])


def hook(sock: Path, doc: dict[str, Any]) -> None:
    assert asyncio.run(request(sock, doc)) == {"ok": True}


def received(cloud: CloudServer) -> list[dict[str, Any]]:
    r = httpx.post(f"{cloud.url}/events/latest", headers={"maxkeys": "1000"},
                   json={"items": ["862798050833538"]})
    r.raise_for_status()
    return sorted(r.json()["Events"], key=lambda e: e["sequenceNumber"])


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay under 108 bytes: pytest's tmp_path can be longer."""
    d = Path(tempfile.mkdtemp(prefix="ea-", dir="/tmp"))
    yield d
    with contextlib.suppress(OSError):
        for p in d.iterdir():
            p.unlink()
        d.rmdir()


def test_components_fail_hang_and_recover_without_taking_the_agent_down(
    tmp_path: Path, short_dir: Path
) -> None:
    pty = UnpluggablePty(link=tmp_path / "gnss")
    control = short_dir / "control.sock"
    notify = NotifySocket(short_dir / "notify")
    cloud = CloudServer(cloud_config(tmp_path / "cloud")).start()
    port = cloud.port
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[cloud]
url = "{cloud.url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
backoff_initial_s = 0.1
backoff_max_s = 0.5
[storage]
data_dir = "{tmp_path / 'data'}"
[vehicle.gnss]
backend = "serial"
port = "{pty.path}"
stall_timeout_s = 2.0
reconnect_min_s = 0.2
reconnect_max_s = 0.5
[runtime]
control_socket = "{control}"
test_hooks = true
shutdown_deliver_s = 5.0
""")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    env.pop("WATCHDOG_PID", None)
    log = (tmp_path / "agent.log").open("w")
    agent = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)],
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with Receiver(pty):
            wait_until(lambda: notify.has("READY=1"), 30, "READY=1")
            wait_until(lambda: status(config)[0] == 0, 20, "every component healthy")
            code, doc = status(config)
            assert doc["agent"]["running"] and doc["healthy"]
            assert {"gnss", "publisher", "uplink", "rules", "odometer", "control"} <= \
                set(doc["components"])
            assert doc["components"]["gnss"]["detail"] == "NMEA data flowing"
            assert doc["vehicle"]["gnss"]["fixed"] is True

            # A crash restarts that component alone; events keep flowing meanwhile.
            before = len(received(cloud))
            hook(control, {"cmd": "crash", "component": "rules"})
            wait_until(lambda: status(config)[1]["components"]["rules"]["restarts"] == 1, 10,
                       "rules restarted")
            comps = status(config)[1]["components"]
            assert comps["rules"]["last_error"].startswith("crashed: RuntimeError: test hook")
            assert comps["gnss"]["restarts"] == 0 and comps["uplink"]["restarts"] == 0
            wait_until(lambda: health(config, "rules") == "ok", 10, "rules ok again")
            wait_until(lambda: len(received(cloud)) > before + 2, 15, "events keep flowing")

            # A critical component that hangs: shown, watchdog held, restarted, fed again.
            hook(control, {"cmd": "hang", "component": "rules", "seconds": 14})
            hung_at = time.monotonic()
            wait_until(lambda: health(config, "rules") == "down", 20, "rules hung")
            code, doc = status(config)
            assert code == 1 and doc["unhealthy"] == ["rules"]
            assert doc["components"]["rules"]["detail"].startswith("hung: no heartbeat for")
            assert notify.has("STATUS=watchdog held: rules hung")
            wait_until(lambda: health(config, "rules") == "ok" and
                       status(config)[1]["components"]["rules"]["heartbeat_age_s"] < 3,
                       30, "rules back")
            time.sleep(3)
            dogs = notify.watchdog_times()
            during = [t for t in dogs if hung_at + RULES_HEARTBEAT_S + 1 < t < hung_at + 14]
            assert during == [], "WATCHDOG=1 sent while a critical component was hung"
            assert [t for t in dogs if t > hung_at + 15], "the watchdog is fed again"
            assert [t for t in dogs if t < hung_at], "the watchdog was fed before"

            # The cloud goes away; then the receiver is unplugged (its fault event has to wait in
            # the outbox) and plugged back; then the cloud comes back on the same address.
            cloud.stop()
            pty.unplug()
            wait_until(lambda: health(config, "gnss") == "down", 15, "gnss down")
            wait_until(lambda: health(config, "uplink") == "degraded", 20, "uplink degraded")
            code, doc = status(config)
            assert code == 1 and set(doc["unhealthy"]) == {"gnss", "uplink"}
            assert "cloud unreachable" in doc["components"]["uplink"]["detail"]
            assert doc["outbox"]["pending"], "events wait in the outbox"
            pty.replug()
            wait_until(lambda: health(config, "gnss") == "ok", 15, "gnss back")
            cloud = CloudServer(cloud_config(tmp_path / "cloud"), port=port).start()
            wait_until(lambda: health(config, "uplink") == "ok", 20, "uplink ok again")

            # SIGTERM: stops within systemd's timeout (20 s), nothing lost.
            agent.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            assert agent.wait(timeout=20) == 0
            stop_s = time.monotonic() - t0
        assert notify.has("STOPPING=1")
        events = received(cloud)
        seqs = [e["sequenceNumber"] for e in events]
        assert seqs == list(range(1, len(events) + 1)), "every stored event reached the cloud"
        hw = [e["hardwareEvent"].get("HardwareEventType") for e in events]
        assert hw[-1] == HardwareEventType.AGENT_STOPPING
        faults = [e["hardwareEvent"]["Details"] for e in events
                  if e["hardwareEvent"].get("HardwareEventType") == HardwareEventType.GNSS_FAULT]
        assert faults[0].startswith("gnss: fault") and faults[-1] == "gnss: restored"
        code, doc = status(config)
        assert code == 3 and doc["agent"]["running"] is False
        assert sum(doc["outbox"]["pending"].values()) == 0
        assert stop_s < 10
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        cloud.stop()
        notify.close()
        pty.close()
        log.close()
