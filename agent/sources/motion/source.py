"""The motion sensor source: an IIO accelerometer (+ gyroscope) → :class:`MotionSample` readings.

Two backends behind one :class:`~agent.sources.threaded.ThreadedSource`:

* ``iio_sysfs``: polls ``in_accel_{x,y,z}_raw`` (and ``in_anglvel_*`` when present) at
  ``rate_hz``, each sample stamped with the host time of its read;
* ``iio_buffer``: reads records from the character device, decodes them with the layout the
  scan elements give (:class:`~agent.sources.motion.iio.RecordLayout`), stamps each record with
  its ``in_timestamp`` (converted from ``current_timestamp_clock`` to epoch) or, without one,
  spreads the records of a read back from the read time at ``1 / rate_hz``.

Both apply the installer's axis map (``axes``) and hand samples over in batches every
``flush_interval_s``. A sample with an axis outside :data:`~agent.sources.plausibility.LIMITS`
(garbage, a wrong scale) is dropped and counted; a file that is missing or unparseable is
counted as a read error. No valid sample for ``stall_timeout_s`` → ``SourceHealth(ok=False)``
(the runtime turns it into hardware event 8), the device is reopened every ``reconnect_s``,
and the first valid sample after that → ``ok=True``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.sources.motion import iio
from agent.sources.plausibility import Refusals
from agent.sources.readings import MotionSample, Reading
from agent.sources.settings import MotionSettings
from agent.sources.threaded import HandOver, ThreadedSource

log = logging.getLogger(__name__)

Vec = tuple[float, float, float]
# Scan elements the buffered backend enables when it configures the device itself.
SCAN_CHANNELS = (*iio.ACCEL_AXES, *iio.GYRO_AXES, iio.TIMESTAMP)
# A record whose timestamp is this far from the time it was read is garbage (the buffer holds
# ~10 s at 100 Hz with the default length of 1024).
TIMESTAMP_TOLERANCE_S = 30.0
_READ_TIMEOUT_S = 0.2  # how long one wait for data blocks (the stop flag is seen this often)


_File = tuple[Path, float, float]  # a *_raw file, its scale and offset


@dataclass(frozen=True, slots=True)
class BufferSpec:
    """What the scan elements said: how to turn a block of records into samples."""

    layout: iio.RecordLayout
    scales: dict[str, tuple[float, float]]
    gyro: bool
    has_ts: bool
    ts_offset: float


def axis_map(axes: tuple[str, str, str]) -> tuple[tuple[int, float], ...]:
    """``("-y", "x", "z")`` → ((sensor index, sign) for forward, left, up)."""
    return tuple(("xyz".index(a[-1]), -1.0 if a.startswith("-") else 1.0) for a in axes)


class MotionSource(ThreadedSource):
    name = "motion"

    def __init__(self, settings: MotionSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._map = axis_map(settings.axes)
        self.samples = 0
        self.reads = 0
        self.read_errors = 0
        self.reopens = 0
        self.short_reads = 0  # bytes left over that did not make a whole record (buffer)
        self.refusals = Refusals()
        self.gyro = False
        self.layout: str = ""
        self._last: MotionSample | None = None
        self._last_good = 0.0  # host time of the last valid sample (stall detection)
        self._wake_r, self._wake_w = os.pipe()

    @classmethod
    def from_settings(cls, settings: MotionSettings) -> MotionSource | None:
        return None if settings.backend == "none" else cls(settings)

    # --- shared -------------------------------------------------------------------------------

    def to_sample(self, t: float, acc: Vec, gyr: Vec | None) -> MotionSample | None:
        """Axis map + plausibility; None (counted) for garbage."""
        for v in acc:
            if not self.refusals.accept("imu.accel", v):
                return None
        if gyr is not None:
            for v in gyr:
                if not self.refusals.accept("imu.gyro", v):
                    return None
        (i0, s0), (i1, s1), (i2, s2) = self._map
        if gyr is None:
            return MotionSample(t, s0 * acc[i0], s1 * acc[i1], s2 * acc[i2])
        return MotionSample(t, s0 * acc[i0], s1 * acc[i1], s2 * acc[i2],
                            s0 * gyr[i0], s1 * gyr[i1], s2 * gyr[i2])  # fmt: skip

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        s = self.settings
        self._last_good = self._clock()
        first = True
        while not stop.is_set():
            if not first:
                self.reopens += 1
            first = False
            try:
                if s.backend == "iio_buffer":
                    self._buffer_loop(stop, hand_over)
                else:
                    self._sysfs_loop(stop, hand_over)
            except iio.IioError as exc:
                self.read_errors += 1
                self._stalled(str(exc), hand_over)
            if not stop.is_set():
                stop.wait(s.reconnect_s)

    def _stalled(self, why: str, hand_over: HandOver) -> None:
        if self._up is False or self._clock() - self._last_good >= self.settings.stall_timeout_s:
            self.report_health(False, why, hand_over)
        else:
            self._last_error = why

    def _deliver(self, batch: list[Reading], hand_over: HandOver) -> None:
        if batch:
            if self._up is not True:
                self.report_health(True, "samples flowing", hand_over)
            self.samples += len(batch)
            last = batch[-1]
            if isinstance(last, MotionSample):
                self._last = last
            hand_over(batch)

    # --- sysfs polling --------------------------------------------------------------------------

    def _sysfs_setup(self) -> tuple[list[_File], list[_File]]:
        dev = self.settings.device
        acc = []
        for ch in iio.ACCEL_AXES:
            scale, offset = iio.channel_scale(dev, ch)
            acc.append((dev / f"{ch}_raw", scale, offset))
        gyr = []
        if iio.has_gyro(dev):
            for ch in iio.GYRO_AXES:
                scale, offset = iio.channel_scale(dev, ch)
                gyr.append((dev / f"{ch}_raw", scale, offset))
        self.gyro = bool(gyr)
        self.layout = "sysfs: " + ", ".join(p.name for p, _, _ in acc + gyr)
        return acc, gyr

    def _sysfs_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        s = self.settings
        acc_files, gyr_files = self._sysfs_setup()
        period = 1.0 / s.rate_hz
        batch: list[Reading] = []
        next_flush = next_t = time.monotonic()
        while not stop.is_set():
            t = self._clock()
            self.reads += 1
            try:
                acc = [(iio.read_number(p) + off) * sc for p, sc, off in acc_files]
                gyr = [(iio.read_number(p) + off) * sc for p, sc, off in gyr_files]
            except iio.IioError as exc:
                self.read_errors += 1
                self._deliver(batch, hand_over)
                batch = []
                self._stalled(str(exc), hand_over)
                if not s.device.exists():
                    return  # the device went away: reopen after reconnect_s
                acc = []
            if acc:
                sample = self.to_sample(t, (acc[0], acc[1], acc[2]),
                                        (gyr[0], gyr[1], gyr[2]) if gyr else None)  # fmt: skip
                if sample is not None:
                    batch.append(sample)
                    self._last_good = t
                elif t - self._last_good >= s.stall_timeout_s:
                    self.report_health(False, "implausible samples", hand_over)
            now = time.monotonic()
            if now >= next_flush:
                self._deliver(batch, hand_over)
                batch = []
                next_flush = now + s.flush_interval_s
            next_t = max(next_t + period, now)  # fell behind: no catching up in a burst
            stop.wait(next_t - now)
        self._deliver(batch, hand_over)

    # --- buffered character device ------------------------------------------------------------

    def _configure(self) -> None:
        dev = self.settings.device
        with contextlib.suppress(OSError):
            (dev / "buffer" / "enable").write_text("0")
        for ch in SCAN_CHANNELS:
            p = dev / "scan_elements" / f"{ch}_en"
            if p.exists():
                p.write_text("1")
        freq = dev / "sampling_frequency"
        if freq.exists():
            freq.write_text(f"{self.settings.rate_hz:g}")
        (dev / "buffer" / "length").write_text("1024")
        (dev / "buffer" / "enable").write_text("1")

    def _buffer_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        s = self.settings
        dev = s.device
        if s.configure:
            try:
                self._configure()
            except OSError as exc:
                raise iio.IioError(f"configure {dev}: {exc}") from None
        layout = iio.RecordLayout(iio.scan_channels(dev))
        names = layout.names()
        if not all(a in names for a in iio.ACCEL_AXES):
            raise iio.IioError(f"{dev}: the accel x/y/z scan elements are not enabled")
        has_ts = iio.TIMESTAMP in names
        spec = BufferSpec(
            layout=layout,
            scales={n: iio.channel_scale(dev, n) for n in names if n != iio.TIMESTAMP},
            gyro=all(g in names for g in iio.GYRO_AXES),
            has_ts=has_ts,
            ts_offset=iio.timestamp_offset(dev) if has_ts else 0.0,
        )
        self.gyro = spec.gyro
        self.layout = f"buffer: {layout.size} B: " + ", ".join(
            f"{c.name}@{o}:{c.type.format()}" for c, o in zip(layout.channels, layout.offsets,
                                                              strict=True))  # fmt: skip
        path = s.chardev or iio.chardev_for(dev)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise iio.IioError(f"{path}: {exc.strerror or exc}") from None
        pending = b""
        batch: list[Reading] = []
        next_flush = time.monotonic()
        chunk = layout.size * 256
        try:
            while not stop.is_set():
                ready, _, _ = select.select([fd, self._wake_r], [], [], _READ_TIMEOUT_S)
                if self._wake_r in ready:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 64)
                data = b""
                if fd in ready:
                    try:
                        data = os.read(fd, chunk)
                    except BlockingIOError:
                        data = b""
                    except OSError as exc:
                        raise iio.IioError(f"{path}: {exc.strerror or exc}") from None
                    if not data:  # a FIFO whose writer went away (the real device never EOFs)
                        if not path.exists():
                            raise iio.IioError(f"{path}: gone")
                        stop.wait(0.01)
                t_read = self._clock()
                if data:
                    self.reads += 1
                    pending += data
                    n = len(pending) // layout.size
                    if n:
                        block, pending = pending[: n * layout.size], pending[n * layout.size :]
                        got = self.decode(block, spec, t_read)
                        if got:
                            batch += got
                            self._last_good = t_read
                if t_read - self._last_good >= s.stall_timeout_s:
                    if pending:
                        self.short_reads += 1
                        pending = b""
                    self._deliver(batch, hand_over)
                    batch = []
                    if not dev.exists() or not path.exists():
                        raise iio.IioError(f"{dev}: gone")
                    self.report_health(False, f"no samples for {s.stall_timeout_s:g} s",
                                       hand_over)  # fmt: skip
                now = time.monotonic()
                if now >= next_flush:
                    self._deliver(batch, hand_over)
                    batch = []
                    next_flush = now + s.flush_interval_s
        finally:
            os.close(fd)
            self._deliver(batch, hand_over)

    def decode(self, block: bytes, spec: BufferSpec, t_read: float) -> list[Reading]:
        """Whole records → samples (garbage dropped and counted)."""
        vals = spec.layout.decode(block)
        gyro = spec.gyro

        def scaled(name: str) -> list[float]:
            sc, off = spec.scales[name]
            return ((vals[name].astype(np.float64) + off) * sc).tolist()  # type: ignore[no-any-return]

        ax, ay, az = (scaled(n) for n in iio.ACCEL_AXES)
        n = len(ax)
        if gyro:
            gx, gy, gz = (scaled(g) for g in iio.GYRO_AXES)
        if spec.has_ts:
            ts = (vals[iio.TIMESTAMP].astype(np.float64) / 1e9 + spec.ts_offset).tolist()
        else:
            step = 1.0 / self.settings.rate_hz
            ts = [t_read - (n - 1 - i) * step for i in range(n)]
        out: list[Reading] = []
        for i in range(n):
            if spec.has_ts and abs(ts[i] - t_read) > TIMESTAMP_TOLERANCE_S:
                self.refusals.counts["imu.timestamp"] += 1  # garbage, or a clock not converted
                continue
            g = (gx[i], gy[i], gz[i]) if gyro else None
            sample = self.to_sample(ts[i], (ax[i], ay[i], az[i]), g)
            if sample is not None:
                out.append(sample)
        return out

    # --- diagnostics -----------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, object]:
        last = self._last
        return {
            "backend": self.settings.backend,
            "device": str(self.settings.device),
            "ok": self._up,
            "last_error": self._last_error,
            "layout": self.layout,
            "gyroscope": self.gyro,
            "samples": self.samples,
            "reads": self.reads,
            "read_errors": self.read_errors,
            "reopens": self.reopens,
            "short_reads": self.short_reads,
            "implausible": self.refusals.as_dict(),
            "last": None if last is None else {
                "t": last.t, "ax": round(last.ax, 3), "ay": round(last.ay, 3),
                "az": round(last.az, 3),
            },
        }  # fmt: skip
