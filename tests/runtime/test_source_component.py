"""A camera's frames are its component's activity (it hands no readings to the rules), so
``status`` and ``selftest`` see a capturing camera as talking."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from agent.runtime.component import SourceComponent
from agent.vision.camera import Camera, CameraOptions
from tests.vision.video_files import write_counting_video


async def test_a_capturing_camera_shows_activity_without_readings(tmp_path: Path) -> None:
    video = write_counting_video(tmp_path / "road.avi", 40, fps=20.0)
    readings: list[object] = []
    component = SourceComponent(Camera("cam0", str(video), CameraOptions(loop=True)),
                                readings.append)
    assert component.health.last_activity is None
    task = asyncio.create_task(component.run())
    try:
        for _ in range(50):
            if component.health.last_activity is not None:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert component.health.last_activity is not None
    assert component.health.state == "ok"
    assert readings == []  # frames went to listeners, not to the rules
