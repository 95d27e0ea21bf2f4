"""The motion sensor source on real files: IIO scan-element parsing, buffered records through a
FIFO, sysfs polling, the axis map, and faults (files vanish, garbage) that are counted and
survived."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.sim.motion import ACCEL_SCALE, LAYOUT, IioDevice
from agent.sources.factory import build_sources
from agent.sources.motion import iio
from agent.sources.motion.source import MotionSource, axis_map
from agent.sources.readings import MotionSample, Reading, SourceHealth
from agent.sources.settings import MotionSettings, VehicleSettings

G = 9.80665

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("text", "want"),
    [("le:s12/16>>4", (False, True, 12, 16, 1, 4)), ("be:u16/16>>0", (True, False, 16, 16, 1, 0)),
     ("le:s64/64>>0", (False, True, 64, 64, 1, 0)), ("le:s14/16X1>>2", (False, True, 14, 16, 1, 2))],
)  # fmt: skip
def test_scan_type_parses_the_kernel_format(text: str, want: tuple[object, ...]) -> None:
    st = iio.ScanType.parse(text)
    assert (st.big_endian, st.signed, st.realbits, st.storagebits, st.repeat, st.shift) == want


@pytest.mark.parametrize("bad", ["le:s12/16", "xx:s12/16>>0", "le:s20/16>>0", "le:s12/16>>6",
                                 "le:s12/24>>0", ""])  # fmt: skip
def test_scan_type_refuses_what_it_cannot_decode(bad: str) -> None:
    with pytest.raises(iio.IioError):
        iio.ScanType.parse(bad)


def test_record_layout_aligns_each_element_and_pads_the_record() -> None:
    # 3 x s12/16 accel + 3 x s16 gyro = 12 bytes; the s64 timestamp aligns to 16; record 24.
    assert LAYOUT.offsets == [0, 2, 4, 6, 8, 10, 16]
    assert LAYOUT.size == 24
    odd = iio.RecordLayout([iio.ScanChannel("in_accel_x", 0, iio.ScanType.parse("le:s16/16>>0")),
                            iio.ScanChannel("in_timestamp", 1, iio.ScanType.parse("le:s64/64>>0"))])  # fmt: skip
    assert odd.offsets == [0, 8]
    assert odd.size == 16


def test_records_decode_with_shift_sign_and_endianness() -> None:
    # Hand-built LIS3DH record: x = -1 g as s12 left-justified (<<4), little-endian.
    raw_x = round(-G / ACCEL_SCALE)
    rec = (((raw_x & 0xFFF) << 4).to_bytes(2, "little") + (0).to_bytes(2, "little")
           + ((100 & 0xFFF) << 4).to_bytes(2, "little") + b"\x00" * 6 + b"\x00" * 4
           + (1_700_000_000_123_456_789).to_bytes(8, "little", signed=True))  # fmt: skip
    vals = LAYOUT.decode(rec + rec[:5])  # a partial record at the end is left alone
    assert vals["in_accel_x"].tolist() == [raw_x]
    assert vals["in_accel_z"].tolist() == [100]
    assert vals["in_timestamp"].tolist() == [1_700_000_000_123_456_789]
    be = iio.RecordLayout([iio.ScanChannel("a", 0, iio.ScanType.parse("be:s10/16>>6"))])
    assert be.decode(((-3 & 0x3FF) << 6).to_bytes(2, "big"))["a"].tolist() == [-3]
    assert be.decode(be.encode([{"a": -300}, {"a": 511}]))["a"].tolist() == [-300, 511]


def test_axis_map_and_plausibility() -> None:
    src = MotionSource(MotionSettings(backend="iio_sysfs", axes=("-y", "x", "z")))
    assert axis_map(("-y", "x", "z")) == ((1, -1.0), (0, 1.0), (2, 1.0))
    s = src.to_sample(1.0, (1.0, 2.0, 9.8), (0.1, 0.2, 0.3))
    assert s == MotionSample(1.0, -2.0, 1.0, 9.8, -0.2, 0.1, 0.3)
    assert src.to_sample(1.0, (1.0, 500.0, 9.8), None) is None  # garbage: dropped, counted
    assert src.diagnostics()["implausible"] == {"imu.accel": 1}


def test_settings_refuse_an_axis_twice() -> None:
    with pytest.raises(ValueError, match="once each"):
        MotionSettings(axes=("x", "-x", "z"))
    vs = VehicleSettings.model_validate({"motion": {"backend": "iio_sysfs", "device": "/nope"}})
    assert [s.name for s in build_sources(vs)] == ["motion"]


# --- through the running source ------------------------------------------------------------------


async def collect(src: MotionSource, seconds: float, during: object = None) -> list[Reading]:
    got: list[Reading] = []
    task = asyncio.create_task(src.run(got.append))
    try:
        if callable(during):
            await during(got)
        else:
            await asyncio.sleep(seconds)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return got


def samples(got: list[Reading]) -> list[MotionSample]:
    return [r for r in got if isinstance(r, MotionSample)]


def health(got: list[Reading]) -> list[bool]:
    return [r.ok for r in got if isinstance(r, SourceHealth)]


async def wait_for(pred: Callable[[], bool], limit_s: float = 5.0) -> None:
    """Poll ``pred`` (the source's readings arrive on the loop) until it holds."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.01)  # polling a list: there is no event to wait on
    raise AssertionError("condition not reached")


async def test_buffered_records_through_a_fifo_keep_their_timestamps(tmp_path: Path) -> None:
    dev = IioDevice(tmp_path / "iio", rate_hz=400)
    src = MotionSource(MotionSettings(backend="iio_buffer", device=tmp_path / "iio",
                                      chardev=dev.chardev, flush_interval_s=0.01))  # fmt: skip
    t0 = time.time()
    pitch = math.radians(10)
    block = [(t0 + i / 400, (G * math.sin(pitch), 0.5, G * math.cos(pitch)), (0.0, 0.0, 0.25))
             for i in range(400)]  # fmt: skip

    async def during(got: list[Reading]) -> None:
        await asyncio.sleep(0.2)
        for k in range(0, 400, 50):  # in chunks, as a driver's FIFO fills
            dev.write_records(block[k : k + 50])
            await asyncio.sleep(0.01)
        await wait_for(lambda: len(samples(got)) >= 400)

    got = await collect(src, 0, during)
    ss = samples(got)
    assert len(ss) == 400
    assert health(got) == [True]
    assert [round(s.t - t0, 4) for s in ss[:3]] == [0.0, 0.0025, 0.005]
    assert ss[0].ax == pytest.approx(G * math.sin(pitch), abs=ACCEL_SCALE)
    assert ss[0].ay == pytest.approx(0.5, abs=ACCEL_SCALE)
    assert ss[0].gz == pytest.approx(0.25, abs=0.002)
    d = src.diagnostics()
    assert d["layout"].startswith("buffer: 24 B: in_accel_x@0:le:s12/16>>4")  # type: ignore[union-attr]
    assert d["gyroscope"] is True
    dev.close()


async def test_sysfs_polling_reads_raw_times_scale(tmp_path: Path) -> None:
    dev = IioDevice(tmp_path / "iio")
    dev.write_raw((0.0, -1.0, G), (0.0, 0.0, 0.0))
    src = MotionSource(MotionSettings(backend="iio_sysfs", device=tmp_path / "iio", rate_hz=200,
                                      flush_interval_s=0.01))  # fmt: skip
    got = await collect(src, 0.3)
    ss = samples(got)
    assert len(ss) >= 20  # 200 Hz for 0.3 s, allowing for a slow CI box
    assert ss[-1].ay == pytest.approx(-1.0, abs=ACCEL_SCALE)
    assert ss[-1].az == pytest.approx(G, abs=ACCEL_SCALE)
    assert health(got) == [True]
    dev.close()


async def test_vanished_files_are_a_fault_then_recover(tmp_path: Path) -> None:
    dev = IioDevice(tmp_path / "iio")
    dev.write_raw((0.0, 0.0, G), (0.0, 0.0, 0.0))
    src = MotionSource(MotionSettings(backend="iio_sysfs", device=tmp_path / "iio", rate_hz=100,
                                      stall_timeout_s=0.2, reconnect_s=0.05,
                                      flush_interval_s=0.01))  # fmt: skip

    async def during(got: list[Reading]) -> None:
        await wait_for(lambda: health(got) == [True])
        dev.unplug()
        await wait_for(lambda: health(got) == [True, False])
        n = len(samples(got))
        dev.plug()
        dev.write_raw((0.0, 0.0, G), (0.0, 0.0, 0.0))
        await wait_for(lambda: health(got) == [True, False, True])
        await wait_for(lambda: len(samples(got)) > n + 5)

    got = await collect(src, 0, during)
    d = src.diagnostics()
    assert d["read_errors"] >= 1  # type: ignore[operator]
    assert d["reopens"] >= 1  # type: ignore[operator]
    fault = next(r for r in got if isinstance(r, SourceHealth) and not r.ok)
    assert "in_accel" in fault.detail or "gone" in fault.detail or "iio" in fault.detail
    dev.close()


async def test_garbage_is_counted_and_survived(tmp_path: Path) -> None:
    dev = IioDevice(tmp_path / "iio")
    dev.write_raw((0.0, 0.0, G), (0.0, 0.0, 0.0))
    src = MotionSource(MotionSettings(backend="iio_sysfs", device=tmp_path / "iio", rate_hz=100,
                                      stall_timeout_s=0.2, reconnect_s=0.05,
                                      flush_interval_s=0.01))  # fmt: skip

    async def during(got: list[Reading]) -> None:
        await wait_for(lambda: health(got) == [True])
        dev.write_garbage("zz\x01")
        await wait_for(lambda: health(got) == [True, False])
        dev.write_raw((0.0, 0.0, G), (0.0, 0.0, 0.0))
        await wait_for(lambda: health(got) == [True, False, True])

    await collect(src, 0, during)
    assert src.diagnostics()["read_errors"] >= 5  # type: ignore[operator]


async def test_buffered_garbage_bytes_are_dropped_and_the_device_going_away_is_a_fault(
    tmp_path: Path,
) -> None:
    dev = IioDevice(tmp_path / "iio", rate_hz=100)
    src = MotionSource(MotionSettings(backend="iio_buffer", device=tmp_path / "iio",
                                      chardev=dev.chardev, stall_timeout_s=0.3, reconnect_s=0.05,
                                      flush_interval_s=0.01))  # fmt: skip
    t0 = time.time()
    good = [(t0 + i / 100, (0.0, 0.0, G), (0.0, 0.0, 0.0)) for i in range(10)]

    async def during(got: list[Reading]) -> None:
        await asyncio.sleep(0.2)
        dev.write_records(good)
        await wait_for(lambda: len(samples(got)) == 10)
        # Garbage bytes: all-ones records decode to a plausible -1 LSB but a timestamp of
        # -1 ns (1970): refused and counted.
        assert dev._fd is not None
        os.write(dev._fd, b"\xff" * LAYOUT.size * 3)
        await asyncio.sleep(0.2)
        dev.unplug()
        await wait_for(lambda: health(got)[-1:] == [False], limit_s=5)
        dev.plug()
        dev.write_records([(time.time(), (0.0, 0.0, G), (0.0, 0.0, 0.0))] * 3)
        await wait_for(lambda: health(got)[-1:] == [True], limit_s=5)

    got = await collect(src, 0, during)
    assert health(got) == [True, False, True]
    assert len(samples(got)) == 13
    assert src.diagnostics()["implausible"] == {"imu.timestamp": 3}
    dev.close()
