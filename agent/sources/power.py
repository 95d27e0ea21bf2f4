"""The power and I/O inputs: supply and backup voltages, ACC (ignition) line, door and SOS.

One backend reads them where Linux exposes them: the voltages from IIO ADC files
(``/sys/bus/iio/devices/iio:device0/in_voltage0_raw``; value × ``*_scale`` = volts, the scale
folding the ADC step and the resistor divider), the lines from GPIO value files
(``/sys/class/gpio/gpioN/value``, ``0``/``1``; names in ``inverted`` are active-low). The
simulator writes the same kind of files (``agent.sim.runner.PowerFiles``), so tests run this
very backend. Reading a few sysfs files is cheap but blocking, so each poll runs in a thread.

Readings: ``VEHICLE_BATTERY_V`` / ``BACKUP_BATTERY_V`` with source ``power``; ``IGNITION``,
``DOOR_OPEN``, ``DOORS_LOCKED``, ``SOS`` and ``CASE_OPEN`` (the device's case / tamper switch,
``case_path``) with source ``gpio``. A value is emitted when it changes
(voltages: by more than ``deadband_v``) and re-sent every ``report_s`` so it stays fresh.
A missing or unreadable file gives ``SourceHealth("power", ok=False)``; its return ``ok=True``.
A voltage outside :data:`agent.sources.plausibility.LIMITS` (0-60 V: a wrong ``*_scale`` or a
floating ADC input) is dropped and counted in ``diagnostics()["implausible"]``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from agent.section import StrictModel
from agent.sources.plausibility import Refusals
from agent.sources.readings import Emit, Signal, SignalReading, Source, SourceHealth

log = logging.getLogger(__name__)

VOLTAGE_SIGNALS = frozenset({Signal.VEHICLE_BATTERY_V, Signal.BACKUP_BATTERY_V})


class PowerSettings(BaseModel):
    """The ``[vehicle.power]`` section: IIO voltage files and GPIO line files."""

    # BaseModel itself, not StrictModel: ruff (RUF012) knows pydantic copies a mutable default
    # only on direct subclasses.
    model_config = StrictModel.model_config
    backend: Literal["sysfs", "none"] = "none"
    supply_path: Path | None = None
    supply_scale: float = Field(1.0, gt=0, le=1000)  # volts per raw unit
    backup_path: Path | None = None
    backup_scale: float = Field(1.0, gt=0, le=1000)
    acc_path: Path | None = None
    door_path: Path | None = None
    locked_path: Path | None = None
    sos_path: Path | None = None
    case_path: Path | None = None  # the case (tamper) switch: 1 = case open
    inverted: list[Literal["acc", "door", "locked", "sos", "case"]] = []
    poll_s: float = Field(0.1, ge=0.001, le=10)  # a 2 s power-cut debounce needs << 1 s polls
    report_s: float = Field(1.0, ge=0.001, le=60)
    deadband_v: float = Field(0.05, ge=0, le=10)

    @classmethod
    def from_dir(cls, directory: Path, **kw: object) -> PowerSettings:
        """The file layout ``agent.sim.runner.PowerFiles`` writes: one file per input."""
        return cls.model_validate({
            "backend": "sysfs",
            "supply_path": directory / "supply_v",
            "backup_path": directory / "backup_v",
            "acc_path": directory / "acc",
            "door_path": directory / "door",
            "locked_path": directory / "locked",
            "sos_path": directory / "sos",
            **kw,
        })  # fmt: skip


class PowerSource(Source):
    name = "power"

    def __init__(self, settings: PowerSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        s = settings
        # (signal, path, scale or None for a binary line, inverted)
        self._channels: list[tuple[Signal, Path, float | None, bool]] = []
        for sig, path, scale in (
            (Signal.VEHICLE_BATTERY_V, s.supply_path, s.supply_scale),
            (Signal.BACKUP_BATTERY_V, s.backup_path, s.backup_scale),
        ):
            if path is not None:
                self._channels.append((sig, path, scale, False))
        for sig, path, name in (
            (Signal.IGNITION, s.acc_path, "acc"),
            (Signal.DOOR_OPEN, s.door_path, "door"),
            (Signal.DOORS_LOCKED, s.locked_path, "locked"),
            (Signal.SOS, s.sos_path, "sos"),
            (Signal.CASE_OPEN, s.case_path, "case"),
        ):
            if path is not None:
                self._channels.append((sig, path, None, name in s.inverted))
        self._last: dict[Signal, tuple[float, float]] = {}  # signal -> (value, t sent)
        self._ok: bool | None = None
        self.polls = 0
        self.read_errors = 0
        self.refusals = Refusals()

    @classmethod
    def from_settings(cls, settings: PowerSettings) -> PowerSource | None:
        return None if settings.backend == "none" else cls(settings)

    def read_once(self) -> tuple[list[tuple[Signal, float]], str]:
        """Read every configured input (blocking). Returns values and an error text ('' = ok)."""
        values: list[tuple[Signal, float]] = []
        errors: list[str] = []
        for sig, path, scale, inverted in self._channels:
            try:
                raw = path.read_text(encoding="ascii").strip()
                num = float(raw)
            except (OSError, ValueError) as exc:
                errors.append(f"{path}: {exc.__class__.__name__}")
                continue
            if scale is not None:
                values.append((sig, num * scale))
            else:
                on = num >= 0.5
                values.append((sig, float(on != inverted)))
        return values, "; ".join(errors)

    def poll(self, emit: Emit, values: list[tuple[Signal, float]], error: str) -> None:
        """Turn one poll's values into readings (on change / every report_s) and health."""
        t = self._clock()
        self.polls += 1
        ok = not error
        if not ok:
            self.read_errors += 1
        if ok != self._ok:
            self._ok = ok
            (log.info if ok else log.warning)("power inputs %s", "ok" if ok else error)
            emit(SourceHealth(t, self.name, ok, error))
        s = self.settings
        for sig, value in values:
            if not self.refusals.accept(sig, value):
                continue
            prev = self._last.get(sig)
            changed = prev is None or (
                abs(value - prev[0]) > s.deadband_v if sig in VOLTAGE_SIGNALS else value != prev[0]
            )
            if changed or t - prev[1] >= s.report_s:  # type: ignore[index]
                self._last[sig] = (value, t)
                source = "power" if sig in VOLTAGE_SIGNALS else "gpio"
                emit(SignalReading(t, sig, value, source))

    async def run(self, emit: Emit) -> None:
        while True:
            await self.heartbeat.checkpoint()
            values, error = await asyncio.to_thread(self.read_once)
            self.poll(emit, values, error)
            await asyncio.sleep(self.settings.poll_s)

    def diagnostics(self) -> dict[str, object]:
        return {
            "backend": self.settings.backend,
            "ok": self._ok,
            "polls": self.polls,
            "read_errors": self.read_errors,
            "implausible": self.refusals.as_dict(),
            "last": {str(sig): v for sig, (v, _) in self._last.items()},
        }
