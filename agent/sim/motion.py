"""The simulated motion sensor: an IIO device directory and its buffered records.

:class:`IioDevice` writes what the kernel exposes for a LIS3DH-like accelerometer with a
gyroscope (12-bit accel left-justified in 16 bits, ``le:s12/16>>4``, ±16 g; 16-bit gyro,
±2000 °/s; an s64 ``in_timestamp`` in realtime ns): the ``*_raw`` / ``*_scale`` files for the
sysfs backend, ``scan_elements/`` for the buffered one, and a FIFO standing in for
``/dev/iio:deviceN`` carrying records in exactly that layout. The agent's
:class:`~agent.sources.motion.source.MotionSource` reads it with its real parsing code.
:meth:`IioDevice.unplug` makes the files vanish (a sensor fault); :meth:`IioDevice.plug`
brings them back.

:func:`imu_samples` renders a scenario's truth and its motion incidents (impacts, drops, tilt,
vibration) into sensor-frame accelerations at the sensor's rate.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

from agent.sim.scenario import Scenario
from agent.sim.truth import Truth
from agent.sources.motion import iio

G = 9.80665
ACCEL_SCALE = 32 * G / 4096  # ±16 g over 12 bits, m/s² per LSB
GYRO_SCALE = math.radians(4000 / 65536)  # ±2000 °/s over 16 bits, rad/s per LSB
ACCEL_TYPE = iio.ScanType.parse("le:s12/16>>4")
GYRO_TYPE = iio.ScanType.parse("le:s16/16>>0")
TS_TYPE = iio.ScanType.parse("le:s64/64>>0")
CHANNELS = [
    *(iio.ScanChannel(n, i, ACCEL_TYPE) for i, n in enumerate(iio.ACCEL_AXES)),
    *(iio.ScanChannel(n, 3 + i, GYRO_TYPE) for i, n in enumerate(iio.GYRO_AXES)),
    iio.ScanChannel(iio.TIMESTAMP, 6, TS_TYPE),
]
LAYOUT = iio.RecordLayout(CHANNELS)

Vec = tuple[float, float, float]
Sample = tuple[float, Vec, Vec]  # (epoch s, accel m/s², gyro rad/s), sensor frame


def _clip(v: float, bits: int) -> int:
    hi = (1 << (bits - 1)) - 1
    return max(-hi - 1, min(hi, round(v)))


def encode(samples: list[Sample]) -> bytes:
    """Samples → buffered records (quantised and clipped like the real converter)."""
    rows = []
    for t, a, g in samples:
        row = {n: _clip(v / ACCEL_SCALE, 12) for n, v in zip(iio.ACCEL_AXES, a, strict=True)}
        row.update({n: _clip(v / GYRO_SCALE, 16) for n, v in zip(iio.GYRO_AXES, g, strict=True)})
        row[iio.TIMESTAMP] = round(t * 1e9)
        rows.append(row)
    return LAYOUT.encode(rows)


class IioDevice:
    """The files of ``/sys/bus/iio/devices/iio:deviceN`` and a FIFO for ``/dev/iio:deviceN``."""

    def __init__(self, directory: Path, rate_hz: float = 100.0) -> None:
        self.directory = directory
        self.chardev = directory / "chardev"
        self.rate_hz = rate_hz
        self.plugged = False
        self.dropped_records = 0
        self.written_records = 0
        self._fd: int | None = None
        self.plug()

    def plug(self) -> None:
        d = self.directory
        (d / "scan_elements").mkdir(parents=True, exist_ok=True)
        (d / "buffer").mkdir(exist_ok=True)
        files = {
            "name": "lis3dh-sim",
            "in_accel_scale": f"{ACCEL_SCALE:.9f}",
            "in_anglvel_scale": f"{GYRO_SCALE:.9f}",
            "sampling_frequency": f"{self.rate_hz:g}",
            "current_timestamp_clock": "realtime",
            "buffer/length": "1024",
            "buffer/enable": "1",
        }
        for n in (*iio.ACCEL_AXES, *iio.GYRO_AXES):
            files[f"{n}_raw"] = "0"
        for ch in CHANNELS:
            files[f"scan_elements/{ch.name}_en"] = "1"
            files[f"scan_elements/{ch.name}_index"] = str(ch.index)
            files[f"scan_elements/{ch.name}_type"] = ch.type.format()
        for name, text in files.items():
            _write(d / name, text)
        if not self.chardev.exists():
            os.mkfifo(self.chardev)
        # O_RDWR: holds the FIFO open without waiting for a reader (Linux), never blocks.
        self._fd = os.open(self.chardev, os.O_RDWR | os.O_NONBLOCK)
        self.plugged = True

    def unplug(self) -> None:
        """The device disappears: its files and character device are gone."""
        self.plugged = False
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def write_raw(self, a: Vec, g: Vec) -> None:
        """The latest sample into the ``*_raw`` files (what a sysfs read converts)."""
        if not self.plugged:
            return
        for n, v in zip(iio.ACCEL_AXES, a, strict=True):
            _write(self.directory / f"{n}_raw", str(_clip(v / ACCEL_SCALE, 12)))
        for n, v in zip(iio.GYRO_AXES, g, strict=True):
            _write(self.directory / f"{n}_raw", str(_clip(v / GYRO_SCALE, 16)))

    def write_records(self, samples: list[Sample]) -> None:
        """Records into the FIFO; what does not fit (no reader) is dropped and counted."""
        if not samples or self._fd is None:
            return
        data = encode(samples)
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except OSError:
            return
        whole = n // LAYOUT.size
        self.written_records += whole
        self.dropped_records += len(samples) - whole
        rest = n % LAYOUT.size
        if rest:  # never leave half a record in the pipe
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._fd, data[n : n + LAYOUT.size - rest])
            self.written_records += 1
            self.dropped_records -= 1

    def write_garbage(self, text: str = "garbage") -> None:
        """Unparseable ``*_raw`` files (a sensor fault of another kind)."""
        for n in iio.ACCEL_AXES:
            _write(self.directory / f"{n}_raw", text)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n", encoding="ascii")
    os.replace(tmp, path)


# --- the sensor's view of the scenario ---------------------------------------------------------


def _rot_x(v: Vec, a: float) -> Vec:
    c, s = math.cos(a), math.sin(a)
    return (v[0], c * v[1] - s * v[2], s * v[1] + c * v[2])


def _rot_y(v: Vec, a: float) -> Vec:
    c, s = math.cos(a), math.sin(a)
    return (c * v[0] + s * v[2], v[1], -s * v[0] + c * v[2])


def to_body(v: Vec, pitch_deg: float, roll_deg: float) -> Vec:
    """A world-frame (forward, left, up) vector as a body pitched nose-up / rolled left sees it."""
    return _rot_x(_rot_y(v, math.radians(pitch_deg)), math.radians(roll_deg))


class MotionModel:
    """Sensor-frame samples for a scenario, at its ``motion.rate_hz``, deterministic."""

    def __init__(self, sc: Scenario) -> None:
        assert sc.motion is not None
        self.sc = sc
        self.spec = sc.motion
        self._rng = random.Random(sc.motion.seed)
        self._n = 0  # samples rendered so far: sample k is at k / rate

    def tilt(self, t: float) -> tuple[float, float]:
        """(pitch, roll) of the vehicle at ``t``: each window ramps in from ``start`` and back
        out from ``end`` over ``ramp_s``."""
        pitch = roll = 0.0
        for w in self.sc.tilt:
            if t < w.start:
                continue
            if w.ramp_s > 0:
                f = min(1.0, (t - w.start) / w.ramp_s)
                if t >= w.end:
                    f -= min(1.0, (t - w.end) / w.ramp_s)
            else:
                f = 1.0 if t < w.end else 0.0
            pitch += w.pitch_deg * max(0.0, f)
            roll += w.roll_deg * max(0.0, f)
        return pitch, roll

    def accel(self, t: float, tr: Truth) -> Vec:
        """World-frame specific force at scenario time ``t`` (gravity included, +up)."""
        sc = self.sc
        for d in sc.drop:
            if d.t <= t < d.t + d.duration_s:
                return (0.0, 0.0, 0.0)  # free fall: an accelerometer reads nothing
        fwd, left, up = tr.accel_long, tr.accel_lat, G
        for imp in sc.impact:
            if imp.t <= t < imp.t + imp.duration_s:
                a = imp.ms2 * math.sin(math.pi * (t - imp.t) / imp.duration_s)
                ang = math.radians(imp.direction_deg)
                # direction_deg: where the blow comes from (0 front = a deceleration)
                fwd -= a * math.cos(ang)
                left -= a * math.sin(ang)
        for d in sc.drop:  # the landing: a short bump of ~3 g
            if d.t + d.duration_s <= t < d.t + d.duration_s + 0.05:
                up += 3 * G * math.sin(math.pi * (t - d.t - d.duration_s) / 0.05)
        for v in sc.vibration:
            if v.start <= t < v.end:
                w = 2 * math.pi * v.hz * t
                fwd += v.ms2 * math.sin(w)
                left += v.ms2 * math.sin(1.3 * w + 1.0)
                up += v.ms2 * 0.5 * math.sin(0.7 * w + 2.0)
        return fwd, left, up

    def samples(self, t_end: float, tr: Truth) -> Iterator[tuple[float, Vec, Vec]]:
        """Samples from the last one rendered up to scenario time ``t_end`` (exclusive)."""
        spec = self.spec
        while True:
            t = self._n / spec.rate_hz
            if t >= t_end - 1e-9:
                return
            self._n += 1
            pitch, roll = self.tilt(t)
            world = self.accel(t, tr)
            body = to_body(world, pitch + spec.mount_pitch_deg, roll + spec.mount_roll_deg)
            nz = spec.noise_ms2
            a = (body[0] + self._rng.gauss(0, nz), body[1] + self._rng.gauss(0, nz),
                 body[2] + self._rng.gauss(0, nz))  # fmt: skip
            yaw = tr.accel_lat / tr.speed_mps if tr.speed_mps > 0.5 else 0.0
            g = (self._rng.gauss(0, 0.002), self._rng.gauss(0, 0.002), yaw)
            yield t, a, g
