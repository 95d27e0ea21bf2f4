"""Settings of the vehicle sources (the ``[gnss]``, ``[can]``, ``[obd]``, ``[power]``,
``[motion]``, ``[modem]``, ``[gpio]`` sections).

Every duration and count has a lower and an upper bound: a zero wait makes a reader thread spin
a core on a missing device, and a value of hours where seconds are meant hides a dead link.
Serial line speeds are 300 bd .. 4 Mbd (what USB-serial chips accept), CAN bitrates
5 kbit/s .. 1 Mbit/s (classic CAN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from agent.section import GpioLine, StrictModel
from agent.sources.power import PowerSettings

Baudrate = Annotated[int, Field(ge=300, le=4_000_000)]  # serial line speed, bd
# Wait before reopening a lost device: never 0 (a reader thread would spin a core on it).
ReconnectS = Annotated[float, Field(ge=0.01, le=3600)]


class GnssSettings(StrictModel):
    """``[vehicle.gnss]``: an NMEA 0183 receiver on a serial port (USB or UART)."""

    backend: Literal["serial", "none"] = "none"
    # Prefer a /dev/serial/by-id/... link: it survives replug and USB renumbering.
    port: str = "/dev/ttyACM0"
    # 9600 is the NMEA default of most u-blox/MediaTek/Quectel modules (4800 on old SiRF).
    baudrate: Baudrate = 9600
    # No checksummed sentence for this long -> SourceHealth(ok=False). Receivers send every
    # 1 s (0.1 s at 10 Hz); 5 s tolerates a cold start hiccup without hiding a dead link.
    stall_timeout_s: float = Field(default=5.0, ge=0.1, le=3600)
    # Reopen the port after a fault with exponential backoff between these bounds.
    reconnect_min_s: ReconnectS = 0.5
    reconnect_max_s: ReconnectS = 30.0

    @model_validator(mode="after")
    def _backoff_bounds(self) -> GnssSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


# Bitrates an SLCAN (Lawicel) adapter can be told with its ``S0``..``S8`` commands.
SLCAN_BITRATES = (10_000, 20_000, 50_000, 100_000, 125_000, 250_000, 500_000, 750_000, 1_000_000)


class CanSettings(StrictModel):
    """``[vehicle.can]``: J1939/FMS over an SLCAN serial adapter or a SocketCAN interface."""

    backend: Literal["slcan", "socketcan", "none"] = "none"
    # slcan: serial device (prefer a /dev/serial/by-id/... link); socketcan: interface ("can0").
    channel: str = "/dev/ttyUSB0"
    # CAN bus bitrate; J1939/FMS is 250 kbit/s (some newer trucks 500). socketcan: set by `ip link`.
    bitrate: int = Field(250_000, ge=5_000, le=1_000_000)
    # serial line speed of the adapter (USB CDC adapters ignore it)
    tty_baudrate: Baudrate = 115_200
    # Open the adapter listen-only (SLCAN "L"): a telematics box must never ACK or send on a
    # vehicle bus. Turn off only for adapters that reject "L".
    listen_only: bool = True
    # Some adapters (Arduino-based) reset when the port opens; python-can's default wait is 2 s.
    open_delay_s: float = Field(0.5, ge=0, le=10)
    dbc: Path | None = None  # a DBC replacing the shipped J1939/FMS one (matched on PGN + SPN)
    # Wait between attempts to reopen a lost adapter (0 made the reader spin a whole core).
    reconnect_s: ReconnectS = 2.0
    # Readings reach the event loop in batches this often (rules see them this much later).
    flush_interval_s: float = Field(0.05, ge=0.001, le=1)

    @model_validator(mode="after")
    def _slcan_bitrate(self) -> CanSettings:
        if self.backend == "slcan" and self.bitrate not in SLCAN_BITRATES:
            raise ValueError(f"slcan bitrate must be one of {SLCAN_BITRATES}, not {self.bitrate}")
        return self


class ObdSettings(StrictModel):
    """``[vehicle.obd]``: OBD-II through an ELM327 (or compatible) serial adapter."""

    backend: Literal["elm327", "none"] = "none"
    port: str = "/dev/ttyUSB1"
    baudrate: Baudrate = 38400  # ELM327 default; USB clones: 115200
    # One round of every supported PID, then this pause (0: the adapter's replies pace it).
    poll_interval_s: float = Field(1.0, ge=0, le=3600)
    dtc_interval_s: float = Field(300.0, ge=0.01, le=86400)  # stored DTCs (mode 03) this often
    command_timeout_s: float = Field(2.0, ge=0.05, le=60)  # wait for ">" after a PID request
    # The first request after ATSP0 makes the ELM327 search the protocols ("SEARCHING..."),
    # which takes several seconds on ISO 9141 / KWP vehicles.
    connect_timeout_s: float = Field(15.0, ge=0.1, le=300)
    # Wait before reopening the adapter / asking a silent vehicle again (0 would spin).
    reconnect_s: ReconnectS = 5.0
    # Failed requests in a row before the vehicle counts as silent (error replies) or the
    # adapter as not answering (timeouts: reopened, reported as a fault).
    max_consecutive_errors: int = Field(5, ge=1, le=1000)


AXIS_NAMES = ("x", "y", "z", "-x", "-y", "-z", "+x", "+y", "+z")


class MotionSettings(StrictModel):
    """``[vehicle.motion]``: a 3-axis accelerometer (+ gyroscope) through Linux IIO.

    ``iio_sysfs`` polls ``in_accel_*_raw`` at ``rate_hz`` (fine to ~100 Hz); ``iio_buffer``
    reads the buffered records of ``/dev/iio:deviceN`` (the scan elements say the layout),
    for 100 Hz and more. docs/motion.md describes both and the simulated device.
    """

    backend: Literal["iio_sysfs", "iio_buffer", "none"] = "none"
    # The IIO device directory (prefer a udev symlink: the N of iio:deviceN is not stable).
    device: Path = Path("/sys/bus/iio/devices/iio:device0")
    chardev: Path | None = None  # buffer: default /dev/<device name>
    # sysfs: the poll rate; buffer: written to sampling_frequency when configure is on, and
    # the spacing of samples when the timestamp channel is off. 100 Hz catches a crash pulse
    # (70-150 ms) with 7+ samples.
    rate_hz: float = Field(100.0, ge=1, le=4000)
    # buffer: enable the accel/anglvel/timestamp scan elements and the buffer at start (needs
    # write access to sysfs; otherwise a udev rule or the installer does it).
    configure: bool = False
    # Which sensor axis (with sign) points forward, left and up in the vehicle, as installed;
    # the rules' calibration removes the remaining tilt (agent.vehicle.motion).
    axes: tuple[str, str, str] = ("x", "y", "z")
    # No valid sample for this long -> SourceHealth(ok=False) (a hardware event); project.
    stall_timeout_s: float = Field(2.0, ge=0.05, le=600)
    reconnect_s: ReconnectS = 1.0  # wait before reopening a lost device
    # Samples reach the event loop in batches this often (rules see them this much later).
    flush_interval_s: float = Field(0.05, ge=0.001, le=1)

    @model_validator(mode="after")
    def _axes(self) -> MotionSettings:
        if any(a not in AXIS_NAMES for a in self.axes):
            raise ValueError(f"axes must each be one of {AXIS_NAMES}")
        if len({a[-1] for a in self.axes}) != 3:
            raise ValueError("axes must name x, y and z once each")
        return self


class ModemSettings(StrictModel):
    """``[vehicle.modem]``: the cellular modem (docs/modem.md)."""

    # "at": AT commands on the modem's AT port; "mmcli": ask ModemManager (which then owns the
    # AT port: never run both on one modem).
    backend: Literal["at", "mmcli", "none"] = "none"
    # at: the modem's AT port (Quectel: the third ttyUSB, "usb-Quectel_..-if02-port0" by id).
    port: str = "/dev/ttyUSB2"
    baudrate: Baudrate = 115_200
    # at: "quectel" adds AT+QENG="servingcell" (RAT, serving cell, GSM timing advance) and
    # AT+QCCID; "generic" uses only 27.007 commands.
    dialect: Literal["generic", "quectel"] = "generic"
    # mmcli: which modem ("any", an index, or a D-Bus path) and the program.
    modem: str = Field("any", min_length=1, max_length=256)
    mmcli: str = Field("mmcli", min_length=1, max_length=256)
    # One round of queries, then this pause. Registration and signal change over seconds; a
    # round costs ~6 short AT exchanges.
    poll_interval_s: float = Field(10.0, ge=0.05, le=3600)
    # The ICCID is read at start and then this often (a SIM swapped while powered).
    iccid_interval_s: float = Field(300.0, ge=0.05, le=86400)
    command_timeout_s: float = Field(3.0, ge=0.05, le=120)  # 27.007 queries answer in < 1 s
    # Rounds without any answer in a row before the port is reopened and reported down.
    max_consecutive_timeouts: int = Field(3, ge=1, le=1000)
    reconnect_s: ReconnectS = 5.0
    # Where the last ICCID is kept across restarts (a different SIM at start = SIM changed,
    # hardware event 12). None: only changes while the agent runs are seen.
    iccid_file: Path | None = None


class GpioInputLine(GpioLine):
    """One input line; ``active_low`` for an opto-coupled input pulling low when the signal
    is on."""


class GpioSettings(StrictModel):
    """``[vehicle.gpio]``: ACC, door, lock, SOS and case-switch inputs through ``gpiod``."""

    backend: Literal["gpiod", "none"] = "none"
    acc: GpioInputLine | None = None
    door: GpioInputLine | None = None
    locked: GpioInputLine | None = None
    sos: GpioInputLine | None = None
    case: GpioInputLine | None = None  # the device's case (tamper) switch: active = open
    # Kernel debounce of each line (0 = off): a door switch bounces for a few ms.
    debounce_ms: float = Field(10.0, ge=0, le=1000)
    # Longest wait for an edge before the loop looks at its stop flag and re-sends the levels
    # (so they stay fresh in the vehicle state, like the power source's report_s).
    report_s: float = Field(1.0, ge=0.01, le=60)
    reconnect_s: ReconnectS = 5.0


class VehicleSettings(StrictModel):
    gnss: GnssSettings = GnssSettings()
    can: CanSettings = CanSettings()
    obd: ObdSettings = ObdSettings()
    power: PowerSettings = PowerSettings()
    motion: MotionSettings = MotionSettings()
    modem: ModemSettings = ModemSettings()
    gpio: GpioSettings = GpioSettings()
