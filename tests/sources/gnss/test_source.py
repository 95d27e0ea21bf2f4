"""The serial source over real pseudo-terminals: fixes flow, unplug/replug, stalls, shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.sources.gnss import read_capture
from agent.sources.gnss.replay import CaptureReplay, NmeaPty
from agent.sources.gnss.source import GnssSerialSource
from agent.sources.gnss.synth import drive
from agent.sources.readings import FixMode, GnssFix, Reading, SourceHealth
from agent.sources.settings import GnssSettings

pytestmark = pytest.mark.timeout(60)

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


class Collector:
    """The ``emit`` callback: keeps what the source emitted, wakes waiters on each reading."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self._arrived = asyncio.Event()

    def __call__(self, reading: Reading) -> None:
        self.readings.append(reading)
        self._arrived.set()

    @property
    def fixes(self) -> list[GnssFix]:
        return [r for r in self.readings if isinstance(r, GnssFix)]

    @property
    def health(self) -> list[SourceHealth]:
        return [r for r in self.readings if isinstance(r, SourceHealth)]

    async def until(self, predicate: Callable[[], bool]) -> None:
        try:
            async with asyncio.timeout(10.0):
                while not predicate():
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"timed out; last readings {self.readings[-5:]}") from None


async def stop(task: asyncio.Task[None]) -> float:
    """Cancel the source and return how long it took to finish."""
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - started


async def opened(source: GnssSerialSource, times: int = 1) -> None:
    """Wait until the source has the port open: pyserial flushes input on open, so bytes
    written earlier would be lost (as with a real receiver)."""
    for _ in range(1000):
        if source.diagnostics()["opens"] >= times:  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("port never opened")


def fast_source(path: Path, stall_timeout_s: float = 1.0) -> GnssSerialSource:
    return GnssSerialSource(str(path), 9600, stall_timeout_s=stall_timeout_s,
                            reconnect_min_s=0.05, reconnect_max_s=0.2)


async def test_capture_bytes_written_to_a_pty_arrive_as_fixes_stamped_with_host_time(
        shared_dir: Path, tmp_path: Path) -> None:
    body = read_capture(shared_dir / "testdata" / "gpsd" / "bu353s4.log").body
    got = Collector()
    with NmeaPty() as pty:
        source = fast_source(pty.path)
        task = asyncio.create_task(source.run(got))
        await opened(source)
        before = time.time()
        replay = CaptureReplay(pty, body, epochs_per_s=50).start()
        assert replay.wait(10)
        last_epoch = int(dt.datetime(2014, 12, 31, 3, 7, 43, tzinfo=dt.UTC).timestamp() * 1000)
        await got.until(lambda: any(f.time_ms == last_epoch for f in got.fixes))
        after = time.time()
        await stop(task)
    assert got.health[0].ok is True and got.health[0].source == "gnss"
    fixes = got.fixes
    assert {f.mode for f in fixes} == {FixMode.FIX_3D}
    assert all(before <= f.t <= after for f in fixes)  # host clock, read in the I/O shell
    last = fixes[-1]
    assert last.time_ms is not None
    assert dt.datetime.fromtimestamp(last.time_ms / 1000, dt.UTC) == dt.datetime(
        2014, 12, 31, 3, 7, 43, tzinfo=dt.UTC)
    assert last.lat == pytest.approx(-37.7848, abs=1e-3)
    assert source.diagnostics()["nmea"]["bad_checksum"] == 0  # type: ignore[index]


async def test_steady_receiver_yields_one_fix_per_epoch(tmp_path: Path) -> None:
    bursts = drive(T0, 48.1, 11.5, epochs=40, rate_hz=10, speed_mps=20.0)
    got = Collector()
    with NmeaPty() as pty:
        source = fast_source(pty.path)
        task = asyncio.create_task(source.run(got))
        await opened(source)
        CaptureReplay(pty, bursts, epochs_per_s=40).start().wait(10)
        await got.until(lambda: any(f.time_ms == int(T0.timestamp() * 1000) + 3900
                                    for f in got.fixes))
        await stop(task)
    times = [f.time_ms or 0 for f in got.fixes]
    assert times == sorted(times)
    # the first epoch is reported as it builds up (RMC; GGA adds the altitude; GSA the
    # satellites), before the receiver's cycle is known; after that exactly one update per
    # epoch, although gpsd's logic reports after GGA, GSA and GSV
    first = times[0]
    assert 1 <= times.count(first) <= 3
    later = [t for t in times if t != first]
    assert len(later) == len(set(later)) == 39
    assert got.fixes[-1].pdop == pytest.approx(1.4)  # GSA's, carried across the epoch start


async def test_unplug_emits_a_fault_and_replug_recovers_through_a_stable_symlink(
        tmp_path: Path) -> None:
    link = tmp_path / "gnss-by-id"
    got = Collector()
    bursts = drive(T0, 48.1, 11.5, epochs=200, rate_hz=10)
    with NmeaPty(link=link) as pty:
        source = fast_source(link)
        task = asyncio.create_task(source.run(got))
        await opened(source)
        replay = CaptureReplay(pty, bursts, epochs_per_s=20, repeat=True).start()
        await got.until(lambda: len(got.fixes) >= 5)
        first_slave = pty.slave_path
        pty.unplug()  # the device node disappears: EIO on the open port, ENOENT on reopen
        await got.until(lambda: any(not h.ok for h in got.health))
        fault = next(h for h in got.health if not h.ok)
        assert fault.source == "gnss"
        assert "lost" in fault.detail
        fixes_while_out = len(got.fixes)
        await asyncio.sleep(0.5)  # several reopen attempts fail meanwhile
        assert len(got.fixes) == fixes_while_out
        assert source.diagnostics()["open_failures"] >= 2  # type: ignore[operator]
        pty.replug()  # a new pty behind the same link, as udev does on replug
        assert pty.slave_path != first_slave or link.resolve() == Path(pty.slave_path)
        await got.until(lambda: got.health[-1].ok and len(got.fixes) > fixes_while_out + 3)
        replay.stop()
        await stop(task)
    oks = [h.ok for h in got.health]
    assert oks == [True, False, True]  # each transition once, not once per retry
    diagnostics = source.diagnostics()
    assert diagnostics["opens"] == 2
    assert diagnostics["disconnects"] == 1


async def test_a_port_that_goes_quiet_is_reported_stalled_then_recovers(tmp_path: Path) -> None:
    got = Collector()
    bursts = drive(T0, 48.1, 11.5, epochs=200, rate_hz=10)
    with NmeaPty() as pty:
        source = fast_source(pty.path, stall_timeout_s=0.6)
        task = asyncio.create_task(source.run(got))
        await opened(source)
        for burst in bursts[:5]:
            pty.write(burst)
        await got.until(lambda: len(got.health) == 1)
        quiet_from = time.monotonic()
        await got.until(lambda: len(got.health) == 2)
        quiet_for = time.monotonic() - quiet_from
        stalled = got.health[1]
        assert not stalled.ok and stalled.detail.startswith("no NMEA sentence for")
        assert 0.5 <= quiet_for < 3.0
        pty.write(bursts[5])
        await got.until(lambda: len(got.health) == 3)
        await stop(task)
    assert [h.ok for h in got.health] == [True, False, True]


async def test_missing_port_at_start_retries_until_it_appears(tmp_path: Path) -> None:
    link = tmp_path / "late-receiver"
    got = Collector()
    source = fast_source(link)
    task = asyncio.create_task(source.run(got))
    await got.until(lambda: len(got.health) == 1)
    assert not got.health[0].ok and "cannot open" in got.health[0].detail
    with NmeaPty(link=link) as pty:
        await opened(source)
        for burst in drive(T0, 48.1, 11.5, epochs=3):
            pty.write(burst)
        await got.until(lambda: len(got.fixes) >= 2)
        elapsed = await stop(task)
    assert [h.ok for h in got.health] == [False, True]
    assert elapsed < 1.0  # a blocked read is interrupted, not waited out


async def test_cancel_while_waiting_for_data_returns_promptly() -> None:
    with NmeaPty() as pty:
        task = asyncio.create_task(fast_source(pty.path).run(Collector()))
        await asyncio.sleep(0.3)
        assert await stop(task) < 1.0


def test_settings_build_the_source_or_none() -> None:
    assert GnssSerialSource.from_settings(GnssSettings()) is None  # backend "none" by default
    source = GnssSerialSource.from_settings(GnssSettings(
        backend="serial", port="/dev/serial/by-id/usb-u-blox_GNSS", baudrate=38400,
        stall_timeout_s=3.0, reconnect_min_s=1.0, reconnect_max_s=10.0))
    assert source is not None
    assert (source.port, source.baudrate) == ("/dev/serial/by-id/usb-u-blox_GNSS", 38400)
    assert (source.reconnect_min_s, source.reconnect_max_s) == (1.0, 10.0)
    with pytest.raises(ValueError, match="reconnect_max_s"):
        GnssSettings(backend="serial", reconnect_min_s=5.0, reconnect_max_s=1.0)
    with pytest.raises(ValueError, match="baudrate"):
        GnssSettings(baudrate=0)


async def test_a_crashed_reader_restarts_and_reports_the_receiver_back_up(
        tmp_path: Path) -> None:
    # The template reports a crash as a fault; the restarted reader must report the data
    # flowing again, or the GNSS fault would never be cleared.
    bursts = drive(T0, 48.1, 11.5, epochs=60, rate_hz=10, speed_mps=20.0)
    got = Collector()
    with NmeaPty() as pty:
        source = fast_source(pty.path)
        source.restart_after_crash_s = 0.05
        parser = source._parser
        real = parser.feed
        calls = 0

        def feed_with_one_bug(data: bytes, t: float) -> list[GnssFix]:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("bug in the parser")
            return real(data, t)

        parser.feed = feed_with_one_bug  # type: ignore[method-assign]
        task = asyncio.create_task(source.run(got))
        await opened(source)
        replay = CaptureReplay(pty, bursts, epochs_per_s=20).start()
        await got.until(lambda: [h.ok for h in got.health][:2] == [True, False])
        await opened(source, times=2)
        await got.until(lambda: len(got.health) >= 3)
        replay.wait(10)
        await stop(task)
    assert [h.ok for h in got.health] == [True, False, True]


async def test_well_formed_nonsense_never_reaches_readings_and_is_counted() -> None:
    """Valid checksums, absurd contents (issue 9): altitude 1e308, negative speed, a 639°
    track. The fixes carry none of it and diagnostics() counts every refusal."""
    from agent.sources.gnss.replay import nmea

    got = Collector()
    with NmeaPty() as pty:
        source = fast_source(pty.path)
        task = asyncio.create_task(source.run(got))
        await opened(source)
        for i in range(5):
            t = f"1200{i:02d}.00"
            pty.write(nmea(f"GPRMC,{t},A,4807.038,N,01131.000,E,-12.5,639.0,010524,,,A"))
            pty.write(nmea(f"GPGGA,{t},4807.038,N,01131.000,E,1,08,0.9,1e308,M,46.9,M,,"))
        for _ in range(1000):  # every sentence through the parser (counted by the thread)
            if source.diagnostics()["nmea"]["sentences"] >= 10:  # type: ignore[index]
                break
            await asyncio.sleep(0.01)
        await got.until(lambda: len(got.fixes) >= 5)
        await stop(task)
    fixes = got.fixes
    assert fixes
    assert all(f.alt is None for f in fixes)
    assert all(f.track is None for f in fixes)
    assert all(f.speed_mps is None or f.speed_mps >= 0 for f in fixes)
    assert fixes[-1].lat == pytest.approx(48.1173)
    diag = source.diagnostics()
    assert diag["implausible"] == {"gnss.alt": 5, "gnss.speed_mps": 5, "gnss.track": 5}
    assert diag["nmea"]["implausible"] == 15  # type: ignore[index]
