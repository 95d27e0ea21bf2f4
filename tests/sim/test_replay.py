"""gpsd captures replayed on a pty at their recorded rate, read by the real GNSS source."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.sim.replay import recorded_rate, replay_capture
from agent.sources.gnss import NmeaParser, read_capture
from agent.sources.gnss.replay import split_epochs
from agent.sources.gnss.source import GnssSerialSource
from agent.sources.readings import GnssFix, Reading


@pytest.mark.parametrize(
    ("name", "rate"), [("nmea-rtk.log", 10.0), ("quectel-l76k-nmea.log", 5.0),
                       ("ublox-neo-m9n-nmea.log", 1.0), ("cat-ms352.log", 2.0)],
)  # fmt: skip
def test_recorded_rate_of_real_captures(shared_dir: Path, name: str, rate: float) -> None:
    epochs = split_epochs(read_capture(shared_dir / "testdata" / "gpsd" / name).body)
    assert recorded_rate(epochs) == pytest.approx(rate)


async def test_a_10_hz_capture_plays_at_its_rate_into_the_gnss_source(
    shared_dir: Path, tmp_path: Path
) -> None:
    capture = shared_dir / "testdata" / "gpsd" / "nmea-rtk.log"
    offline = [f for f in NmeaParser().feed(read_capture(capture).body, 0.0)
               if f.lat is not None]  # fmt: skip
    got: list[GnssFix] = []
    arrivals: list[float] = []

    def emit(r: Reading) -> None:
        if isinstance(r, GnssFix) and r.lat is not None:
            got.append(r)
            arrivals.append(time.monotonic())

    source = GnssSerialSource(str(tmp_path / "gnss"), reconnect_min_s=0.01, reconnect_max_s=0.05)
    pty, player, rate = replay_capture(capture, tmp_path / "gnss", speedup=5.0)
    task = asyncio.create_task(source.run(emit))
    try:
        assert await asyncio.to_thread(player.wait, 30.0)
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        player.stop()
        pty.close()
    assert rate == pytest.approx(10.0)
    # The source opened the pty while the first epochs were already being written: compare
    # a contiguous run, and the pace (122 epochs at 50 per second = 2.4 s).
    live_pos, all_pos = _positions(got), _positions(offline)
    assert len(live_pos) >= len(all_pos) * 0.8
    start = all_pos.index(live_pos[0])  # the source opened while the first epochs were written
    assert live_pos == all_pos[start : start + len(live_pos)]
    span = arrivals[-1] - arrivals[0]
    assert span == pytest.approx((len(live_pos) - 1) / 50, rel=0.25)


def _positions(fixes: list[GnssFix]) -> list[tuple[float | None, float | None]]:
    """Distinct consecutive positions (gpsd reports an epoch's fix more than once)."""
    out: list[tuple[float | None, float | None]] = []
    for f in fixes:
        if not out or out[-1] != (f.lat, f.lon):
            out.append((f.lat, f.lon))
    return out
