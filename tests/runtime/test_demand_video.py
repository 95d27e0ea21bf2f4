"""`demand.video` end to end: an order for a past stretch of the driver camera gives vision
event 11 whose mp4 the stand-in cloud serves through the seed's ``POST /events/files``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_cloud import CloudServer

from agent.app import Agent
from agent.events import VisionEventType
from agent.orders.model import iso
from agent.sources.gnss.replay import NmeaPty
from agent.ulid import new_ulid
from tests.orders.broker import Broker
from tests.orders.harness import Cloud
from tests.orders.helpers import order_dict, orders_toml
from tests.test_app import Receiver, agent_config
from tests.uplink.backbone_factory import cloud_config

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_demand_video_of_a_past_stretch_is_event_11_with_its_mp4_in_the_cloud(
    tmp_path: Path, shut_video: Path, request: pytest.FixtureRequest
) -> None:
    broker = Broker(tmp_path / "mqtt")
    broker.start()
    request.addfinalizer(broker.stop)
    pty = NmeaPty(link=tmp_path / "gnss")
    request.addfinalizer(pty.close)
    with CloudServer(cloud_config(tmp_path / "cloud")) as http, Receiver(pty):
        config = agent_config(tmp_path, http.url, pty.path, f"""
[vision]
enabled = true
models_dir = "{REPO / 'models'}"
driver_camera = "{shut_video}"
camera_loop = true
{orders_toml(tmp_path, broker.url)}
""")

        async def scenario() -> list[tuple[str, str]]:
            stop = asyncio.Event()
            agent = asyncio.create_task(Agent(config).run(stop))
            try:
                async with Cloud(broker.port) as cloud:
                    await cloud.wait_for(lambda: cloud.of("presence")
                                         and cloud.of("presence")[-1]["online"], 60)
                    await asyncio.sleep(8)  # footage in the ring
                    now = time.time()
                    msg = order_dict(new_ulid(int(now * 1000)), "demand.video",
                                     {"timeStamp": iso(now - 6), "finalTimeStamp": iso(now - 2),
                                      "selectedCam": "driver"},
                                     issued=now, expires=now + 600)
                    await cloud.send(msg)
                    await cloud.wait_for(lambda: any(
                        s in ("SUCCEEDED", "FAILED") for s, _ in
                        cloud.statuses(msg["orderUlid"])), 60)
                    return cloud.statuses(msg["orderUlid"])
            finally:
                stop.set()
                await agent

        statuses = asyncio.run(scenario())
        assert statuses[-1][0] == "SUCCEEDED", statuses
        r = httpx.post(f"{http.url}/events/latest", headers={"maxkeys": "1000"},
                       json={"items": ["862798050833538"]})
        events: list[dict[str, Any]] = r.json()["Events"]
        videos = [e for e in events
                  if e["visionEvent"].get("VisionEventType") == VisionEventType.DEMAND_VIDEO]
        assert len(videos) == 1
        files = videos[0]["files"]
        assert [f["type"] for f in files] == ["video"]
        assert files[0]["filename"].endswith("_cam1.mp4")
        body = {"files": [{"BucketName": f["bucket"], "FileName": f["filename"]} for f in files]}
        served = httpx.post(f"{http.url}/events/files", json=body).json()["files"]
        blob = httpx.get(served[0]["urlfile"]).content
        assert blob[4:8] == b"ftyp", "an mp4 clip"
