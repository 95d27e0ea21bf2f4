"""The per-camera JPEG ring buffer: decimation, time and byte bounds, lookups."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.vision.camera import Frame
from agent.vision.ring import FrameRing, RingFrame

from .video_files import write_face_video

T0 = 1_700_000_000.0


def flat(level: int, w: int = 64, h: int = 48) -> np.ndarray:
    return np.full((h, w, 3), level, np.uint8)


def test_thirty_fps_camera_is_kept_at_ten_fps() -> None:
    ring = FrameRing("cam1", fps=10.0)
    for i in range(300):  # 10 s at 30 fps, with a little timestamp jitter
        ring.push(Frame("cam1", i, T0 + i / 30 + (0.002 if i % 2 else -0.002), flat(i % 200)))
    st = ring.stats()
    assert st.pushed == 300
    assert st.kept == pytest.approx(100, abs=2)
    assert st.frames == st.kept and st.encode_ms_avg > 0


def test_ring_keeps_at_least_three_minutes_and_no_more_than_its_seconds() -> None:
    ring = FrameRing("cam0", seconds=190.0, fps=10.0)
    jpeg = cv2.imencode(".jpg", flat(90))[1].tobytes()
    for i in range(2500):  # 250 s at 10 fps
        ring.add(RingFrame(T0 + i / 10, jpeg, 64, 48))
    st = ring.stats()
    assert st.newest_t == pytest.approx(T0 + 249.9)
    assert st.oldest_t is not None and st.newest_t - st.oldest_t == pytest.approx(190.0, abs=0.11)
    assert st.frames == pytest.approx(1901, abs=1)
    assert st.bytes == st.frames * len(jpeg)
    assert st.evicted_for_bytes == 0
    assert len(ring.between(T0 + 249.9 - 180, T0 + 249.9)) == 1801  # a full demand.video


def test_byte_cap_bounds_memory_whatever_the_scene() -> None:
    rng = np.random.default_rng(1)
    ring = FrameRing("cam0", seconds=190.0, fps=10.0, max_bytes=1024 * 1024)
    for i in range(60):  # noise compresses badly: ~150 kB per 640x480 JPEG
        ring.push(Frame("cam0", i, T0 + i / 10, rng.integers(0, 255, (480, 640, 3), np.uint8)))
    st = ring.stats()
    assert st.bytes <= 1024 * 1024
    assert st.evicted_for_bytes > 40 and st.frames == st.kept - st.evicted_for_bytes
    assert st.newest_t == pytest.approx(T0 + 5.9)  # the newest are the ones kept


def test_nearest_and_between() -> None:
    ring = FrameRing("cam1", fps=10.0)
    for i in range(20):
        ring.add(RingFrame(T0 + i / 10, bytes([i]), 1, 1))
    near = ring.nearest(T0 + 0.73, 0.5)
    assert near is not None and near.jpeg == bytes([7])
    assert ring.nearest(T0 + 5.0, 1.0) is None  # beyond what is held
    assert [f.jpeg[0] for f in ring.between(T0 + 0.3, T0 + 0.6)] == [3, 4, 5, 6]
    ring.add(RingFrame(T0 + 0.05, b"late", 1, 1))  # out of order: ignored
    assert ring.stats().frames == 20


def test_quality_adapts_so_the_full_span_fits_the_byte_cap(tmp_path: Path) -> None:
    cap = cv2.VideoCapture(str(write_face_video(tmp_path / "f.avi", n=20)))
    images = [cap.read()[1] for _ in range(20)]
    q80 = len(cv2.imencode(".jpg", images[0], [cv2.IMWRITE_JPEG_QUALITY, 80])[1])
    # Room for 20 s at 10 fps of frames ~30 % smaller than quality 80 makes them.
    cap_bytes = int(200 * q80 * 0.7)
    ring = FrameRing("cam1", seconds=20.0, fps=10.0, max_bytes=cap_bytes, jpeg_quality=80)
    for i in range(400):  # 40 s
        ring.push(Frame("cam1", i, T0 + i / 10, images[i % 20]))
    st = ring.stats()
    assert st.quality < 80
    assert st.quality >= FrameRing.MIN_QUALITY
    assert st.bytes <= cap_bytes
    assert st.newest_t is not None and st.oldest_t is not None
    assert st.newest_t - st.oldest_t == pytest.approx(20.0, abs=0.11)  # the whole span kept


def test_evicted_frames_release_their_jpeg_at_once() -> None:
    """Memory is bounded by the live frames: evicted JPEGs are not kept until compaction."""
    ring = FrameRing("cam1", seconds=10.0, fps=10.0)
    for i in range(1000):  # 100 s at 10 fps, every JPEG its own 10 kB object
        ring.add(RingFrame(T0 + i / 10, bytes([i % 256]) * 10_000, 64, 48))
        held = sum(len(f.jpeg) for f in ring._frames)  # what the ring references
        assert held == ring.stats().bytes <= 101 * 10_000
