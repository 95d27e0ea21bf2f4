"""The composition root end to end: a GNSS receiver on a pty, the real agent, the stand-in cloud.

Proves the wiring of ``agent/app.py``: boot and stop hardware events, telemetry from a real
serial source, the outbox and the uplink, sequence numbers that continue across a restart, and
nothing lost or duplicated at the cloud.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import httpx
from standin_cloud import CloudServer  # scripts/ is on sys.path (tests/conftest.py)

from agent.app import Agent
from agent.config import load_config
from agent.events import EventType, HardwareEventType, TelemetryEventType
from agent.sources.gnss.replay import NmeaPty
from agent.sources.gnss.synth import EpochSpec, epoch_sentences
from tests.uplink.backbone_factory import CLIENT_ID, CLIENT_SECRET, cloud_config


class Receiver:
    """A 5 Hz receiver driving north at 20 m/s, written into the pty by a thread."""

    def __init__(self, pty: NmeaPty, speed_mps: float = 20.0) -> None:
        self.pty = pty
        self.speed_mps = speed_mps  # change it while running: the vehicle slows down
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        lat, lon = 43.2389, 76.8897
        while not self.stop.wait(0.2):
            now = dt.datetime.now(dt.UTC)
            spec = EpochSpec(now, lat, lon, speed_mps=self.speed_mps, track=0.0)
            for sentence in epoch_sentences(spec, gsv=False):
                self.pty.write(sentence)
            lat += self.speed_mps * 0.2 / 111_320.0

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def agent_config(tmp_path: Path, cloud_url: str, gnss: Path, extra: str = "") -> Any:
    """The agent against the stand-in cloud with a GNSS receiver on ``gnss``; ``extra`` TOML."""
    f = tmp_path / "agent.toml"
    f.write_text(
        f"""
[cloud]
url = "{cloud_url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
backoff_initial_s = 0.05
backoff_max_s = 0.5

[storage]
data_dir = "{tmp_path / 'data'}"

[vehicle.gnss]
backend = "serial"
port = "{gnss}"
{extra}"""
    )
    return load_config(f)


async def _run_for(config: Any, seconds: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    await Agent(config).run(stop)


def _received(cloud: CloudServer) -> list[dict[str, Any]]:
    r = httpx.post(f"{cloud.url}/events/latest", headers={"maxkeys": "1000"},
                   json={"items": ["862798050833538"]})  # fmt: skip
    r.raise_for_status()
    return sorted(r.json()["Events"], key=lambda e: e["sequenceNumber"])


def test_agent_runs_a_gnss_source_into_the_cloud_and_continues_after_a_restart(
    tmp_path: Path,
) -> None:
    pty = NmeaPty(link=tmp_path / "gnss")
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud, Receiver(pty):
        config = agent_config(tmp_path, cloud.url, pty.path)
        asyncio.run(_run_for(config, 4.0))
        first = _received(cloud)
        asyncio.run(_run_for(config, 3.0))
        events = _received(cloud)
    pty.close()

    kinds = [(e["eventType"], e["hardwareEvent"].get("HardwareEventType")) for e in first]
    assert kinds[0] == (EventType.HARDWARE, HardwareEventType.AGENT_STARTED)
    assert kinds[-1] == (EventType.HARDWARE, HardwareEventType.AGENT_STOPPING)
    positions = [e for e in first if e["telemetryEvent"].get("telemetryEventType")
                 == TelemetryEventType.PERIODIC_POSITION]  # fmt: skip
    assert positions, "the moving receiver gives at least one tracking position"
    assert positions[-1]["fixed"] is True
    assert abs(positions[-1]["latitude"] - 43.2389) < 0.01
    assert 60 <= positions[-1]["speed"] <= 85  # 20 m/s = 72 km/h from GNSS

    # Exactly once, in order, and the sequence continues across the restart with no reuse.
    seqs = [e["sequenceNumber"] for e in events]
    assert seqs == list(range(1, len(events) + 1))
    assert len({e["ulid"] for e in events}) == len(events)
    starts = [e for e in events if e["hardwareEvent"].get("HardwareEventType")
              == HardwareEventType.AGENT_STARTED]  # fmt: skip
    assert len(starts) == 2
    assert starts[1]["sequenceNumber"] > first[-1]["sequenceNumber"]


def test_an_odometer_that_cannot_be_saved_does_not_stop_the_agent(
    tmp_path: Path, monkeypatch: Any
) -> None:
    # The odometer file lives on the outbox's disk; when it cannot be written (disk full, a
    # bad SD card; here a directory in its place) the agent must keep recording and uploading,
    # not crash every save period.
    monkeypatch.setattr("agent.app.ODOMETER_SAVE_S", 0.3)
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud:
        f = tmp_path / "agent.toml"
        f.write_text(f'[cloud]\nurl = "{cloud.url}"\nclient_id = "{CLIENT_ID}"\n'
                     f'client_secret = "{CLIENT_SECRET}"\n'
                     f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')  # fmt: skip
        (tmp_path / "data" / "odometer.json").mkdir(parents=True)
        asyncio.run(_run_for(load_config(f), 2.5))
        events = _received(cloud)
    kinds = [e["hardwareEvent"].get("HardwareEventType") for e in events]
    assert kinds[0] == HardwareEventType.AGENT_STARTED
    assert kinds[-1] == HardwareEventType.AGENT_STOPPING
