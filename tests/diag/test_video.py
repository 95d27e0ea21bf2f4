"""``edge-agent diag video`` end to end on a known-truth video (real face, real ONNX models).

The video is the bench's real-face clip with the eyes inpainted shut at known frames
(:mod:`tests.diag.eyes_shut_video`): five 200 ms blinks, a 2 s microsleep and a slow PERCLOS
rise. Closure times, blink counts, PERCLOS and event timing printed by the command must match
the schedule.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .eyes_shut_video import (
    FPS,
    closed_frames,
    n_frames,
    truth_closures,
    truth_perclos,
)

REPO = Path(__file__).resolve().parents[2]
FRAME = 1 / FPS


def diag_video(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "diag", "video", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def output(shut_video: Path) -> list[dict[str, Any]]:
    done = diag_video(str(shut_video), "--json", "--speed-kmh", "50")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def metrics(output: list[dict[str, Any]]) -> dict[float, dict[str, Any]]:
    return {m["t"]: m for m in output if "t" in m}


def events(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o["event"] for o in output if "event" in o]


@pytest.mark.slow
def test_summary_counts_every_frame_and_only_the_expected_events(
        output: list[dict[str, Any]]) -> None:
    summary = output[-1]["summary"]
    assert summary["frames"] == n_frames() == 1200
    assert summary["faceFoundRatio"] == 1.0
    assert summary["fps"] > 5  # measured on one thread; the figure itself is in docs/dms.md
    assert summary["events"] == {"MICROSLEEP": 1, "DROWSINESS": 1}
    assert len([m for m in output if "t" in m]) == 80  # one metrics line per video second


@pytest.mark.slow
def test_every_second_the_eye_state_matches_the_painted_truth(
        output: list[dict[str, Any]]) -> None:
    shut = closed_frames()
    by_t = metrics(output)
    valid_from = min(t for t, m in by_t.items() if m["eyeOpenness"][0] is not None)
    assert valid_from <= 6.0  # the open-eye baseline needs 5 s of samples
    checked = 0
    for t, m in by_t.items():
        if t < valid_from:
            assert m["eyeState"] == "unknown"  # no baseline yet: never "closed"
            continue
        truth = "closed" if round(t * FPS) in shut else "open"
        assert m["eyeState"] == truth, (t, m["eyeOpenness"])
        checked += 1
    assert checked >= 74
    assert sum(m["eyeState"] == "closed" for m in by_t.values()) >= 12


@pytest.mark.slow
def test_closure_times_and_blink_counts(output: list[dict[str, Any]]) -> None:
    by_t = metrics(output)
    m = by_t[27.0]  # one second into the 26-28 s microsleep
    for key in ("closureS", "leftClosureS", "rightClosureS"):
        assert m[key] == pytest.approx(1.0, abs=FRAME + 1e-3)
    assert by_t[29.0]["closureS"] == 0.0
    closures = truth_closures()
    blinks = [c for c in closures if c.duration_s < 1.5]
    assert by_t[24.0]["blinks"] == len([c for c in blinks if c.end <= 24.0]) == 5
    assert by_t[29.0]["blinks"] == 5  # the microsleep is not a blink
    assert by_t[24.0]["longBlinks"] == 0
    # 5 blinks in 19 s of valid eye time (5 s baseline warm-up): 15.8 per minute
    assert by_t[24.0]["blinksPerMin"] == pytest.approx(5 * 60 / 19.0, abs=0.5)
    last = by_t[79.0]
    assert last["blinks"] == len(blinks) == 21
    assert last["longBlinks"] == len([c for c in blinks if c.duration_s > 0.5]) == 14


@pytest.mark.slow
def test_perclos_follows_the_painted_closures(output: list[dict[str, Any]]) -> None:
    by_t = metrics(output)
    valid_from = min(t for t, m in by_t.items() if m["eyeOpenness"][0] is not None)
    reported = {t: m["perclos"] for t, m in by_t.items() if m["perclos"] is not None}
    # PERCLOS needs 80 % of the 60 s window valid: 48 s after the baseline is ready.
    assert min(reported) == pytest.approx(valid_from + 48, abs=1.0)
    assert len(reported) >= 25
    for t, value in reported.items():
        assert value == pytest.approx(truth_perclos(t, valid_from - FRAME), abs=0.01), t
    assert reported[79.0] > 0.24  # the slow rise, from ~0.145 to ~0.25


@pytest.mark.slow
def test_microsleep_and_drowsiness_fire_at_the_truth_times(
        output: list[dict[str, Any]]) -> None:
    by_type = {e["type"]: e for e in events(output)}
    micro = by_type["MICROSLEEP"]
    assert micro["visionEventType"] == 2
    assert micro["since"] == pytest.approx(26.0, abs=FRAME + 1e-3)
    assert 1.5 <= micro["t"] - micro["since"] <= 1.5 + FRAME + 1e-3
    assert micro["visionEvent"]["LeftEyeClosureTime"] >= 1.5
    # Drowsiness: 3 s after the truth PERCLOS (once 80 % covered) first exceeds 0.15.
    by_t = metrics(output)
    valid_from = min(t for t, m in by_t.items() if m["eyeOpenness"][0] is not None)
    covered = valid_from + 48 - FRAME
    cross = next(j / FPS for j in range(n_frames()) if j / FPS >= covered
                 and truth_perclos(j / FPS, valid_from - FRAME) > 0.15)
    drowsy = by_type["DROWSINESS"]
    assert drowsy["visionEventType"] == 1
    assert drowsy["since"] == pytest.approx(cross, abs=2 * FRAME + 1e-3)
    assert drowsy["t"] - drowsy["since"] == pytest.approx(3.0, abs=FRAME + 1e-3)
    assert drowsy["visionEvent"]["Perclos"] > 0.15


@pytest.mark.slow
def test_speed_gate_and_text_output(shut_video: Path) -> None:
    done = diag_video(str(shut_video), "--speed-kmh", "10", "--max-frames", "420")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 29  # 28 metric lines + the summary
    assert "EVENT" not in done.stdout  # the 26-28 s microsleep, but parked: no alert
    assert "420 frames" in lines[-1] and "fps" in lines[-1]


def test_bad_setting_is_a_config_error(tmp_path: Path) -> None:
    done = diag_video(str(tmp_path / "x.mp4"), "--set", "closed_fraction=2")
    assert done.returncode == 78
    assert "closed_fraction" in done.stderr


def test_unreadable_video_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video")
    done = diag_video(str(bad), "--json")
    assert done.returncode == 2
    assert "cannot open video" in done.stderr
