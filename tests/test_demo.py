"""The README's main command: ``scripts/demo --duration S`` brings the system up and stops.

Runs the real thing (stand-in cloud, simulator on ptys, agent, driver video when the models
are built) for a short while and checks the interface acceptance relies on: the ``cloud:``,
``device:`` and ``client:`` lines, events that the cloud really received, and a clean stop;
with mosquitto installed, the ``mqtt:`` line and the two orders' ``order`` lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_prints_its_endpoints_shows_received_events_and_stops_cleanly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO / "scripts" / "demo"), "--duration", "25", "--work", str(tmp_path)],
        capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
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
    if shutil.which("mosquitto") is None and not os.access("/usr/sbin/mosquitto", os.X_OK):
        assert "orders off" in out
        return
    # Orders: its own broker, a config and a state order through the cloud's Order API.
    mqtt = re.search(r"^mqtt: mqtt://127\.0\.0\.1:(\d+)$", out, re.M)
    assert mqtt and mqtt.group(1) != "1883"
    orders = [line.split(" ", 4) for line in out.splitlines() if line.startswith("order ")]
    kinds = {o[2] for o in orders}
    assert kinds == {"config", "state"}, orders
    for kind in kinds:
        seen = [o[3] for o in orders if o[2] == kind]
        assert seen == ["PENDING", "SENT", "RECEIVED", "SUCCEEDED"], orders
    config_done = [o for o in orders if o[2] == "config" and o[3] == "SUCCEEDED"]
    assert config_done[0][4] == "MAX_SPEED_KMH=100: applied"
    assert any("FORCED_POSITION" in line for line in received)
