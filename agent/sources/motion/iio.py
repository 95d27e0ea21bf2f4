"""Linux IIO, the parts a motion sensor needs: channel files, scan elements, buffered records.

The kernel's Industrial I/O subsystem exposes an accelerometer (LIS3DH, MPU-6050, BMI160, ...)
as ``/sys/bus/iio/devices/iio:deviceN`` (Documentation/ABI/testing/sysfs-bus-iio):

* ``in_accel_x_raw`` … and ``in_accel_scale`` (or per axis ``in_accel_x_scale``), optional
  ``in_accel_offset``: value = (raw + offset) × scale, in m/s²; ``in_anglvel_*`` the same in
  rad/s. Reading a ``*_raw`` file makes one conversion: fine for polling at tens of Hz.
* For 100 Hz and more, the buffered interface: ``scan_elements/<chan>_en`` (1 = in the record),
  ``<chan>_index`` (order in the record) and ``<chan>_type`` such as ``le:s12/16>>4`` (little
  endian, signed, 12 significant bits stored in 16, shifted right by 4; ``X<n>`` repeats);
  records are read from ``/dev/iio:deviceN``. Each element is aligned to its storage size and the
  record is padded to its largest element (the kernel's ``iio_compute_scan_bytes``); the
  ``in_timestamp`` channel is an s64 in ns of ``current_timestamp_clock`` (``realtime`` by
  default).

Everything here is pure or reads files given to it; the simulator writes the same layout.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ACCEL_AXES = ("in_accel_x", "in_accel_y", "in_accel_z")
GYRO_AXES = ("in_anglvel_x", "in_anglvel_y", "in_anglvel_z")
TIMESTAMP = "in_timestamp"

_TYPE_RE = re.compile(r"^(be|le):([su])(\d+)/(\d+)(?:X(\d+))?>>(\d+)$")


class IioError(Exception):
    """A device or file that is missing or says something unparseable."""


@dataclass(frozen=True, slots=True)
class ScanType:
    """One ``*_type`` of a scan element, e.g. ``le:s12/16>>4``."""

    big_endian: bool
    signed: bool
    realbits: int
    storagebits: int
    repeat: int
    shift: int

    @classmethod
    def parse(cls, text: str) -> ScanType:
        m = _TYPE_RE.match(text.strip())
        if m is None:
            raise IioError(f"bad scan element type {text.strip()!r}")
        endian, sign, real, storage, repeat, shift = m.groups()
        st = cls(endian == "be", sign == "s", int(real), int(storage), int(repeat or 1),
                 int(shift))  # fmt: skip
        if st.storagebits not in (8, 16, 32, 64) or not 0 < st.realbits <= st.storagebits:
            raise IioError(f"unsupported scan element type {text.strip()!r}")
        if st.storagebits == 64 and (st.realbits != 64 or st.shift):
            raise IioError(f"unsupported 64-bit scan element type {text.strip()!r}")
        if st.shift + st.realbits > st.storagebits:
            raise IioError(f"scan element type {text.strip()!r} shifts out of its storage")
        return st

    @property
    def nbytes(self) -> int:
        return self.storagebits // 8

    def format(self) -> str:
        e = "be" if self.big_endian else "le"
        rep = f"X{self.repeat}" if self.repeat > 1 else ""
        sign = "s" if self.signed else "u"
        return f"{e}:{sign}{self.realbits}/{self.storagebits}{rep}>>{self.shift}"


@dataclass(frozen=True, slots=True)
class ScanChannel:
    name: str  # "in_accel_x", "in_timestamp", ...
    index: int
    type: ScanType


class RecordLayout:
    """The byte layout of one buffered record and a vectorised decoder for a block of them."""

    def __init__(self, channels: list[ScanChannel]) -> None:
        if not channels:
            raise IioError("no scan element is enabled")
        self.channels = sorted(channels, key=lambda c: c.index)
        offsets: list[int] = []
        pos = 0
        largest = 1
        for ch in self.channels:
            size = ch.type.nbytes
            if ch.type.repeat > 1:
                raise IioError(f"{ch.name}: repeated elements are not supported")
            pos = -(-pos // size) * size  # align to the element's own size
            offsets.append(pos)
            pos += size
            largest = max(largest, size)
        self.offsets = offsets
        self.size = -(-pos // largest) * largest
        self._dtype = np.dtype({
            "names": [c.name for c in self.channels],
            "formats": [(">" if c.type.big_endian else "<") + f"u{c.type.nbytes}"
                        for c in self.channels],
            "offsets": offsets,
            "itemsize": self.size,
        })  # fmt: skip

    def names(self) -> list[str]:
        return [c.name for c in self.channels]

    def decode(self, data: bytes) -> dict[str, npt.NDArray[np.int64]]:
        """Whole records of ``data`` → each channel's integer values (shifted, sign-extended)."""
        n = len(data) // self.size
        recs = np.frombuffer(data, dtype=self._dtype, count=n)
        out: dict[str, npt.NDArray[np.int64]] = {}
        for ch in self.channels:
            st = ch.type
            if st.storagebits == 64:  # timestamps: s64/64>>0 (checked by parse)
                out[ch.name] = recs[ch.name].astype(np.uint64).view(np.int64)
                continue
            v = recs[ch.name].astype(np.int64)
            v = (v >> st.shift) & ((1 << st.realbits) - 1)
            if st.signed:
                v = np.where(v >= 1 << (st.realbits - 1), v - (1 << st.realbits), v)
            out[ch.name] = v
        return out

    def encode(self, rows: list[dict[str, int]]) -> bytes:
        """The inverse of :meth:`decode` (the simulator writes records with it)."""
        recs = np.zeros(len(rows), dtype=self._dtype)
        for ch in self.channels:
            st = ch.type
            mask = (1 << st.realbits) - 1
            vals = [((r.get(ch.name, 0) & mask) << st.shift) for r in rows]
            recs[ch.name] = np.array(vals, dtype=np.uint64).astype(recs[ch.name].dtype)
        return recs.tobytes()


# --- sysfs files ---------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IioError(f"{path}: {exc.__class__.__name__}") from None


def read_number(path: Path) -> float:
    text = read_text(path)
    try:
        return float(text)
    except ValueError:
        raise IioError(f"{path}: not a number: {text[:20]!r}") from None


def channel_scale(device: Path, channel: str) -> tuple[float, float]:
    """(scale, offset) of ``in_accel_x``: per-axis files first, then the shared ones."""
    kind = channel.rsplit("_", 1)[0]  # "in_accel"
    scale = None
    for name in (f"{channel}_scale", f"{kind}_scale"):
        p = device / name
        if p.exists():
            scale = read_number(p)
            break
    if scale is None:
        raise IioError(f"{device}: no {channel}_scale or {kind}_scale")
    offset = 0.0
    for name in (f"{channel}_offset", f"{kind}_offset"):
        p = device / name
        if p.exists():
            offset = read_number(p)
            break
    return scale, offset


def has_gyro(device: Path) -> bool:
    return (device / f"{GYRO_AXES[0]}_raw").exists()


def scan_channels(device: Path, wanted: tuple[str, ...] | None = None) -> list[ScanChannel]:
    """The enabled scan elements (or, with ``wanted``, those channels whether enabled or not)."""
    scan = device / "scan_elements"
    if not scan.is_dir():
        raise IioError(f"{device}: no scan_elements (not a buffered device?)")
    out: list[ScanChannel] = []
    for en in sorted(scan.glob("*_en")):
        name = en.name[: -len("_en")]
        if wanted is not None:
            if name not in wanted:
                continue
        elif read_text(en) != "1":
            continue
        idx = read_text(scan / f"{name}_index")
        try:
            index = int(idx)
        except ValueError:
            raise IioError(f"{scan / name}_index: not a number: {idx!r}") from None
        out.append(ScanChannel(name, index, ScanType.parse(read_text(scan / f"{name}_type"))))
    return out


def timestamp_offset(device: Path) -> float:
    """Seconds to add to an ``in_timestamp`` value (ns / 1e9) to get epoch seconds."""
    p = device / "current_timestamp_clock"
    clock = read_text(p) if p.exists() else "realtime"
    if clock == "realtime":
        return 0.0
    if clock in ("monotonic", "monotonic_raw"):
        return time.time() - time.monotonic()
    if clock == "boottime":
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    raise IioError(f"{p}: unsupported clock {clock!r}")


def chardev_for(device: Path) -> Path:
    """``/sys/bus/iio/devices/iio:device0`` → ``/dev/iio:device0``."""
    return Path("/dev") / device.name
