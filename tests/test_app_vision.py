"""Done-when of driver monitoring, end to end: a driver video given to the agent becomes V3
vision events whose images, thumbnails, face crop and clips are in the stand-in cloud.

The real agent (``agent.app.Agent``) runs with a moving GNSS receiver on a pty (speed gates the
DMS alerts), the known-truth video as driver camera (eyes shut 26-28 s: a microsleep) and a
road camera, and the real outbox/uplink into the stand-in cloud. The cloud is then read with
the seed's own API (``events/latest``, ``events/files``) and every URL is fetched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_cloud import CloudServer  # scripts/ is on sys.path (tests/conftest.py)

from agent.app import Agent
from agent.events import EventType, HardwareEventType, VisionEventType
from agent.sources.gnss.replay import NmeaPty
from tests.test_app import Receiver, agent_config
from tests.uplink.backbone_factory import cloud_config

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(240)


def _config(tmp_path: Path, cloud_url: str, gnss: Path, driver: Path, models: Path) -> Any:
    return agent_config(tmp_path, cloud_url, gnss, f"""
[vision]
enabled = true
models_dir = "{models}"
driver_camera = "{driver}"
road_camera = "{driver}"
""")


async def _run_until(config: Any, cloud: CloudServer, want: VisionEventType) -> list[Any]:
    stop = asyncio.Event()
    task = asyncio.create_task(Agent(config).run(stop))
    events: list[Any] = []
    async with httpx.AsyncClient(base_url=cloud.url, timeout=10) as http:
        for _ in range(120):
            await asyncio.sleep(1.0)
            r = await http.post("/events/latest", headers={"maxkeys": "1000"},
                                json={"items": ["862798050833538"]})  # fmt: skip
            events = r.json()["Events"]
            if any(e["visionEvent"].get("VisionEventType") == want for e in events):
                break
    stop.set()
    await task
    return events


def test_driver_video_becomes_vision_events_with_all_evidence_in_the_cloud(
    tmp_path: Path, shut_video: Path
) -> None:
    pty = NmeaPty(link=tmp_path / "gnss")
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud, Receiver(pty):
        config = _config(tmp_path, cloud.url, pty.path, shut_video, REPO / "models")
        events = asyncio.run(_run_until(config, cloud, VisionEventType.MICROSLEEP))
        vision = [e for e in events if e["eventType"] == EventType.VISION]
        assert [v["visionEvent"]["VisionEventType"] for v in vision] == [VisionEventType.MICROSLEEP]
        ev = vision[0]
        detail = ev["visionEvent"]
        assert detail["LeftEyeClosureTime"] >= 1.5 and detail["RightEyeClosureTime"] >= 1.5
        assert detail["FaceConfidence"] > 0.5
        box = detail["BoundingBox"]
        assert 0 < box["X"] < 1 and 0 < box["Width"] < 1 and box["IsDriver"] is True
        assert ev["speed"] >= 60  # the GNSS receiver's 72 km/h: the speed gate was open
        assert not any(e["hardwareEvent"].get("HardwareEventType")
                       in (HardwareEventType.MODEL_FAULT, HardwareEventType.CAMERA_FAULT)
                       for e in events)  # fmt: skip

        files = {(f["bucket"], f["filename"].rsplit("_", 1)[1]): f for f in ev["files"]}
        assert set(files) == {
            ("v3-device-images", "cam0.png"), ("v3-device-faces", "cam1.png"),
            ("v3-device-videos", "cam0.mp4"), ("v3-device-videos", "cam1.mp4"),
        }
        assert files[("v3-device-images", "cam0.png")]["feature"] == "event"
        assert files[("v3-device-faces", "cam1.png")]["feature"] == "face"
        assert files[("v3-device-videos", "cam1.mp4")]["type"] == "video"

        # The fleet user's side: the seed's /events/files gives working URLs for every file,
        # its thumbnail and (driver image) the face crop.
        body = {"files": [{"BucketName": f["bucket"], "FileName": f["filename"]}
                          for f in ev["files"]]}  # fmt: skip
        r = httpx.post(f"{cloud.url}/events/files", json=body)
        assert r.status_code == 200
        urls = {u["filename"]: u for u in r.json()["files"]}
        for f in ev["files"]:
            u = urls[f["filename"]]
            blob = httpx.get(u["urlfile"]).content
            if f["type"] == "video":
                assert blob[4:8] == b"ftyp", "an mp4 clip"
                continue
            assert blob[:8] == b"\x89PNG\r\n\x1a\n"
            thumb = httpx.get(u["urlfilethumb"])
            assert thumb.status_code == 200 and thumb.content[:4] == b"\x89PNG"
            if f["feature"] == "face":
                crop = httpx.get(u["urlfilecrop"])
                assert crop.status_code == 200 and crop.content[:4] == b"\x89PNG"
    pty.close()


def test_missing_models_are_a_hardware_event_and_the_agent_keeps_running(
    tmp_path: Path, shut_video: Path
) -> None:
    pty = NmeaPty(link=tmp_path / "gnss")
    empty = tmp_path / "no-models"
    empty.mkdir()
    with CloudServer(cloud_config(tmp_path / "cloud")) as cloud, Receiver(pty):
        config = _config(tmp_path, cloud.url, pty.path, shut_video, empty)

        async def run() -> None:
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(4.0, stop.set)
            await Agent(config).run(stop)

        asyncio.run(run())
        r = httpx.post(f"{cloud.url}/events/latest", headers={"maxkeys": "1000"},
                       json={"items": ["862798050833538"]})  # fmt: skip
        events = r.json()["Events"]
    pty.close()
    faults = [e["hardwareEvent"] for e in events
              if e["hardwareEvent"].get("HardwareEventType") == HardwareEventType.MODEL_FAULT]
    assert len(faults) == 1
    assert "models" in faults[0]["Details"].lower() or "model" in faults[0]["Details"].lower()
    assert any(e["eventType"] == EventType.TELEMETRY for e in events), "telemetry goes on"
    assert any(e["hardwareEvent"].get("HardwareEventType") == HardwareEventType.AGENT_STOPPING
               for e in events)  # fmt: skip
