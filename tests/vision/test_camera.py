"""Cameras against real video files, a missing device and a real HTTP MJPEG stream."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.sources.readings import Reading, SourceHealth
from agent.vision.camera import Camera, CameraOptions, Frame, SourceKind, source_kind

from .video_files import frame_number, write_counting_video


async def collect(cam: Camera, limit_s: float, delay_s: float = 0.0) -> list[Frame]:
    out: list[Frame] = []

    async def consume() -> None:
        async for f in cam.frames():
            out.append(f)
            if delay_s:
                await asyncio.sleep(delay_s)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(consume(), limit_s)
    return out


def test_source_kinds() -> None:
    assert source_kind("0") == SourceKind.DEVICE
    assert source_kind("/dev/video2") == SourceKind.DEVICE
    assert source_kind("rtsp://user:pw@10.0.0.5/stream") == SourceKind.STREAM
    assert source_kind("demo/driver.mp4") == SourceKind.FILE


def test_stream_credentials_never_reach_diagnostics() -> None:
    cam = Camera("cam0", "rtsp://admin:s3cret@10.0.0.5:554/stream1")
    diag = cam.diagnostics()
    assert diag["source"] == "rtsp://***@10.0.0.5:554/stream1"
    assert "s3cret" not in repr(diag)


async def test_video_file_is_paced_at_its_own_fps_and_ends_cleanly(tmp_path: Path) -> None:
    path = write_counting_video(tmp_path / "c.avi", 30, fps=20.0)
    cam = Camera("cam1", str(path))
    health: list[Reading] = []
    seen: list[Frame] = []  # every frame, from the capture thread
    listener_threads: set[int] = set()
    cam.add_listener(lambda f: (listener_threads.add(threading.get_ident()), seen.append(f)))
    task = asyncio.create_task(cam.run(health.append))
    frames = await collect(cam, 5.0)
    await asyncio.wait_for(task, 2.0)  # a non-looping file finishes the camera
    assert [frame_number(f.image, 30) for f in seen] == list(range(30))
    assert [f.index for f in seen] == list(range(30))
    span = seen[-1].t - seen[0].t
    assert span == pytest.approx(29 / 20, abs=0.25)  # paced, not decoded flat out
    # The async consumer saw the newest frames in order (on a loaded machine it may skip).
    assert frames and [f.index for f in frames] == sorted({f.index for f in frames})
    assert frames[-1].index == 29
    st = cam.stats()
    assert st.finished and st.frames == 30
    assert st.dropped_consumer == 30 - len(frames)
    assert st.fps == pytest.approx(20.0, rel=0.25)
    assert [(h.source, h.ok) for h in health if isinstance(h, SourceHealth)] == [("cam1", True)]
    assert threading.get_ident() not in listener_threads and len(listener_threads) == 1


async def test_looping_file_plays_again_for_the_demo(tmp_path: Path) -> None:
    path = write_counting_video(tmp_path / "loop.avi", 10, fps=25.0)
    cam = Camera("cam1", str(path), CameraOptions(loop=True))
    seen: list[Frame] = []
    cam.add_listener(seen.append)
    task = asyncio.create_task(cam.run())
    await asyncio.sleep(1.3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    numbers = [frame_number(f.image, 10) for f in seen]
    assert len(numbers) >= 25
    assert numbers[:21] == [i % 10 for i in range(21)]
    assert not cam.stats().finished


async def test_missing_device_reports_a_fault_once_and_retries_with_backoff() -> None:
    cam = Camera("cam1", "/dev/video99",
                 CameraOptions(backoff_initial_s=0.05, backoff_max_s=0.2))
    health: list[Reading] = []
    task = asyncio.create_task(cam.run(health.append))
    await asyncio.sleep(0.9)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    st = cam.stats()
    # 0.05 + 0.1 + 0.2 + 0.2 ... : at least 4 attempts in 0.9 s, far fewer than a busy loop.
    assert 4 <= st.open_failures <= 10
    assert len(health) == 1
    h = health[0]
    assert isinstance(h, SourceHealth) and h.source == "cam1" and not h.ok
    assert "/dev/video99" in h.detail and not st.connected


async def test_missing_file_is_a_fault_too(tmp_path: Path) -> None:
    cam = Camera("cam0", str(tmp_path / "none.mp4"), CameraOptions(backoff_initial_s=0.05))
    health: list[Reading] = []
    task = asyncio.create_task(cam.run(health.append))
    await asyncio.sleep(0.3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert [h.ok for h in health if isinstance(h, SourceHealth)] == [False]


class MjpegServer:
    """A real HTTP MJPEG camera: each connection gets ``frames`` frames, then ``after``:
    "close" drops the connection, "hang" keeps it open and silent."""

    def __init__(self, frames: int, after: str, fps: float = 20.0) -> None:
        self.frames, self.after, self.fps = frames, after, fps
        self.connections = 0
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                for i in range(server.frames):
                    _ok, buf = cv2.imencode(".jpg", np.full((120, 160, 3), 10 + 5 * i, np.uint8))
                    data = buf.tobytes()
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(data) + data + b"\r\n")
                    self.wfile.flush()
                    time.sleep(1 / server.fps)
                if server.after == "hang":
                    server.release.wait(10)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cam.mjpg"

    @contextlib.contextmanager
    def running(self) -> Iterator[MjpegServer]:
        t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self.release.set()
            self.httpd.shutdown()
            self.httpd.server_close()


async def test_stream_that_disappears_is_faulted_and_reconnected() -> None:
    server = MjpegServer(frames=10, after="close")
    with server.running():
        cam = Camera("cam0", server.url, CameraOptions(backoff_initial_s=0.1, open_timeout_s=2))
        health: list[Reading] = []
        task = asyncio.create_task(cam.run(health.append))
        frames = await collect(cam, 1.6)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    oks = [h.ok for h in health if isinstance(h, SourceHealth)]
    assert oks[:3] == [True, False, True]  # capturing, lost, capturing again
    faults = [h for h in health if isinstance(h, SourceHealth) and not h.ok]
    assert "read failed" in faults[0].detail
    st = cam.stats()
    assert st.reconnects >= 1 and server.connections >= 2
    assert len(frames) > 10  # frames from more than one connection
    assert [f.index for f in frames] == sorted({f.index for f in frames})


async def test_stalled_stream_is_detected_and_reopened() -> None:
    server = MjpegServer(frames=5, after="hang")
    with server.running():
        cam = Camera("cam1", server.url, CameraOptions(stall_timeout_s=0.5, backoff_initial_s=0.1,
                                                      open_timeout_s=2))
        health: list[Reading] = []
        task = asyncio.create_task(cam.run(health.append))
        await asyncio.sleep(2.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    st = cam.stats()
    assert st.stalls >= 1
    faults = [h for h in health if isinstance(h, SourceHealth) and not h.ok]
    assert faults and "stalled" in faults[0].detail
    assert server.connections >= 2  # reopened after the stall


async def test_slow_consumer_gets_the_newest_frame_and_drops_are_counted(tmp_path: Path) -> None:
    path = write_counting_video(tmp_path / "fast.avi", 40, fps=40.0)
    cam = Camera("cam1", str(path))
    task = asyncio.create_task(cam.run())
    frames = await collect(cam, 3.0, delay_s=0.1)
    await asyncio.wait_for(task, 2.0)
    st = cam.stats()
    assert st.frames == 40
    assert 5 <= len(frames) <= 16  # ~1 s of video taken every 0.1 s
    assert st.dropped_consumer == 40 - len(frames)
    numbers = [frame_number(f.image, 40) for f in frames]
    assert numbers == sorted(numbers) and numbers[-1] >= 36  # never stale, never queued
