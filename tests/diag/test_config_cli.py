"""``edge-agent config``: every effective value with its origin, secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_each_value_says_whether_it_came_from_default_file_or_environment(
    tmp_path: Path,
) -> None:
    f = tmp_path / "agent.toml"
    f.write_text(f'[cloud]\nclient_secret = "s3cr3t-value"\nbatch_size = 100\n'
                 f'[storage]\ndata_dir = "{tmp_path}/data"\n'
                 f'[vehicle.gnss]\nbackend = "serial"\nport = "/dev/ttyACM7"\n')
    env = {**os.environ, "EDGE_AGENT_CLOUD__BATCH_SIZE": "250",
           "EDGE_AGENT_RULES__MAX_SPEED_KMH": "70"}
    proc = subprocess.run([sys.executable, "-m", "agent", "config", "--json", "--config", str(f)],
                          capture_output=True, text=True, check=True, env=env)
    doc = json.loads(proc.stdout)
    assert doc["cloud.batch_size"] == {"value": 250, "origin": "environment"}
    assert doc["rules.max_speed_kmh"] == {"value": 70, "origin": "environment"}
    assert doc["vehicle.gnss.port"] == {"value": "/dev/ttyACM7", "origin": "file"}
    assert doc["cloud.client_secret"] == {"value": "**********", "origin": "file"}
    assert doc["cloud.timeout_s"]["origin"] == "default"
    assert "s3cr3t-value" not in proc.stdout

    table = subprocess.run([sys.executable, "-m", "agent", "diag", "config", "--config", str(f)],
                           capture_output=True, text=True, check=True, env=env).stdout
    line = next(x for x in table.splitlines() if x.startswith("vehicle.gnss.port "))
    assert line.split()[1:] == ["file", '"/dev/ttyACM7"']
