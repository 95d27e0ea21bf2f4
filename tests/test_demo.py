"""The README's main command: ``scripts/demo --duration S`` brings the system up and stops.

Runs the real thing (stand-in cloud, simulator on ptys, agent, driver video when the models
are built) for a short while and checks the interface acceptance relies on: the ``cloud:``,
``device:`` and ``client:`` lines, events that the cloud really received, and a clean stop;
with mosquitto installed, the ``broker:`` and ``etrack:`` lines, the two orders' ``order`` lines
and etrack's LOCKDOOR, all with order signing on; ``--broker`` with a broker already running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.orders.broker import Broker

REPO = Path(__file__).resolve().parent.parent
HAVE_MOSQUITTO = shutil.which("mosquitto") is not None or os.access("/usr/sbin/mosquitto", os.X_OK)


def run_demo(work: Path, *extra: str, duration: float = 25) -> str:
    proc = subprocess.run(
        [str(REPO / "scripts" / "demo"), "--duration", str(duration), "--work", str(work),
         *extra],
        capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return proc.stdout


def check_orders(out: str, work: Path) -> None:
    """The config and state orders and etrack's LOCKDOOR, signed, succeeded."""
    assert re.search(r"^etrack: demo Abc@34590$", out, re.M)  # config/cloud-demo.toml
    orders = [line.split(" ", 4) for line in out.splitlines() if line.startswith("order ")]
    kinds = {o[2] for o in orders}
    assert kinds == {"config", "state"}, orders
    for kind in kinds:
        seen = [o[3] for o in orders if o[2] == kind]
        assert seen == ["PENDING", "SENT", "RECEIVED", "SUCCEEDED"], orders
    config_done = [o for o in orders if o[2] == "config" and o[3] == "SUCCEEDED"]
    assert config_done[0][4] == "MAX_SPEED_KMH=100: applied"
    assert re.search(r"^etrack command ([0-9A-F]+) LOCKDOOR commandstatus 1: "
                     r"Lock the door: Success! Speed: \d+km/h\.$", out, re.M), out  # fmt: skip
    # Signing on, as on a production box: one 0600 key for the cloud and the agent.
    key = work / "order.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert f'order_key_file = "{key}"' in (work / "agent.toml").read_text()


HAVE_MODELS = (REPO / "models" / "manifest.json").is_file()


def test_demo_prints_its_endpoints_shows_received_events_and_stops_cleanly(tmp_path: Path) -> None:
    # Long enough for the scenario's harsh braking (25 s into the drive) and its clip's 5 s.
    out = run_demo(tmp_path, duration=50)
    assert re.search(r"^cloud: http://127\.0\.0\.1:\d+$", out, re.M)
    assert re.search(r"^device: 862798050833538$", out, re.M)
    assert re.search(r"^client: demo-device demo-secret$", out, re.M)
    received = [line for line in out.splitlines() if line.startswith("received ")]
    assert "AGENT_STARTED" in received[0]
    assert any("PERIODIC_POSITION" in line for line in received)
    assert any("IGNITION_ON" in line for line in received)
    assert "AGENT_STOPPING" in received[-1]
    summary = json.loads(out.strip().splitlines()[-1])["summary"]
    assert summary["eventsReceived"] == len(received)
    if HAVE_MODELS:  # road and driver cameras: the alarm carries both images and clips
        braking = [line for line in received if "HARSH_BRAKING" in line]
        assert braking and braking[0].endswith("files=4"), received
    if not HAVE_MOSQUITTO:
        assert "orders off" in out
        return
    # Orders: its own broker, a config and a state order through the cloud's Order API and a
    # LOCKDOOR through etrack's, signed.
    broker = re.search(r"^broker: mqtt://127\.0\.0\.1:(\d+)$", out, re.M)
    assert broker and broker.group(1) != "1883"
    assert (tmp_path / "mqtt" / "mosquitto.conf").is_file()
    check_orders(out, tmp_path)
    assert any("FORCED_POSITION" in line for line in received)


@pytest.mark.skipif(not HAVE_MOSQUITTO, reason="needs mosquitto")
def test_demo_uses_a_running_broker_given_with_broker(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker")
    broker.start()
    try:
        out = run_demo(tmp_path / "work", "--broker", broker.url)
    finally:
        broker.stop()
    assert re.search(rf"^broker: {re.escape(broker.url)}$", out, re.M)
    assert not (tmp_path / "work" / "mqtt").exists()  # started no broker of its own
    check_orders(out, tmp_path / "work")
