"""One abstract actuator (a two-level output: relay, door lock) and its backends.

As python-can does for buses: the public :meth:`Actuator.set` is a template that writes the
target, reads it back until it matches or ``timeout_s`` passes, and keeps the actuator's
health; backends implement :meth:`_write` and :meth:`_read` only. :data:`BACKENDS` is a plain
dict registry (``"sim"``, ``"gpio"``); :func:`build_actuators` builds the configured ones.

The last commanded level of each actuator is remembered (``<state>.json``): a restarted agent
requests its GPIO lines with that level, so a restart never silently restores a cut engine.
All calls block (file I/O, ioctl): run them in a thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from agent.actuators.settings import ActuatorSettings, GpioLine
from agent.errors import AgentError
from agent.orders.model import write_secret

log = logging.getLogger(__name__)

ACTUATORS: Final = ("relay", "door_lock")
POLL_S: Final = 0.02


class ActuatorError(AgentError):
    """The actuator did not reach the target (no read-back, stuck, device gone)."""


class Actuator(ABC):
    def __init__(self, name: str, timeout_s: float = 2.0) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.healthy = True
        self.last_error = ""
        self.level: int | None = None

    def set(self, target: int, timeout_s: float | None = None) -> int:
        """Drive to ``target`` (0/1) and confirm by read-back; returns the level read."""
        if target not in (0, 1):
            raise ValueError(f"{self.name}: target must be 0 or 1")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            self._write(target)
            deadline = time.monotonic() + timeout
            while True:
                got = self._read()
                if got == target:
                    break
                if time.monotonic() >= deadline:
                    raise ActuatorError(f"{self.name} did not confirm {target} within "
                                        f"{timeout:g} s (reads {got})")
                time.sleep(POLL_S)
        except ActuatorError as exc:
            self._fault(str(exc))
            raise
        except (OSError, ValueError) as exc:
            self._fault(f"{self.name}: {exc}")
            raise ActuatorError(f"{self.name}: {exc}") from exc
        self.healthy, self.last_error, self.level = True, "", target
        return target

    def read(self) -> int | None:
        try:
            return self._read()
        except (OSError, ValueError) as exc:
            self._fault(f"{self.name}: {exc}")
            return None

    def _fault(self, text: str) -> None:
        self.healthy = False
        self.last_error = text
        log.warning("actuator %s", text)

    def close(self) -> None:  # noqa: B027 (optional)
        """Release the device."""

    def status(self) -> dict[str, Any]:
        return {"level": self.level, "healthy": self.healthy, "last_error": self.last_error}

    @abstractmethod
    def _write(self, target: int) -> None: ...

    @abstractmethod
    def _read(self) -> int | None: ...


class LevelMemory:
    """The last commanded level per actuator, in a small JSON file (atomic, 0600)."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if k in ACTUATORS and v in (0, 1)}

    def save(self, name: str, level: int) -> None:
        with self._lock:
            data: dict[str, Any] = {}
            try:
                loaded = json.loads(self.path.read_text())
                if isinstance(loaded, dict):
                    data = loaded
            except (OSError, ValueError):
                pass
            data[name] = level
            write_secret(self.path, json.dumps(data, sort_keys=True).encode())


class SimState(LevelMemory):
    """The sim state file: levels plus the simulator's fault switches."""

    def load_raw(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


class SimActuator(Actuator):
    """Writes ``{"relay": 0|1, "door_lock": 0|1}`` into the sim state file, which the vehicle
    simulator and the tests read back. A name listed under ``"stuck"`` in that file ignores
    writes (a relay that does not switch), so a test can see a read-back failure."""

    def __init__(self, name: str, memory: SimState, timeout_s: float = 2.0) -> None:
        super().__init__(name, timeout_s)
        self.memory = memory
        self.level = memory.load().get(name)

    def _write(self, target: int) -> None:
        stuck = self.memory.load_raw().get("stuck", [])
        if isinstance(stuck, list) and self.name in stuck:
            return
        self.memory.save(self.name, target)

    def _read(self) -> int | None:
        return self.memory.load().get(self.name)


class GpioActuator(Actuator):
    """A line on a GPIO character device through ``gpiod`` (libgpiod v2), imported lazily.

    The line is requested as an output at the last commanded level (1 = active; ``active_low``
    inverts the electrical level) and held for the agent's lifetime; read-back is the line's
    value as the kernel reports it."""

    def __init__(self, name: str, line: GpioLine, memory: LevelMemory,
                 timeout_s: float = 2.0) -> None:
        super().__init__(name, timeout_s)
        try:
            import gpiod  # type: ignore[import-not-found, unused-ignore]
            from gpiod.line import Direction, Value  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise ActuatorError(
                f"{name}: the gpio backend needs the gpiod package (libgpiod v2 bindings): "
                "pip install 'edge-agent[gpio]'") from exc
        self._value = Value
        self.memory = memory
        self.level = memory.load().get(name, 0)
        try:
            self._chip = gpiod.Chip(line.chip)
            offset = int(line.line) if line.line.isdigit() else \
                self._chip.line_offset_from_id(line.line)
            self._offset = offset
            settings = gpiod.LineSettings(direction=Direction.OUTPUT, active_low=line.active_low,
                                          output_value=Value.ACTIVE if self.level else
                                          Value.INACTIVE)
            self._request = self._chip.request_lines(consumer=f"edge-agent-{name}",
                                                     config={offset: settings})
        except (OSError, ValueError) as exc:
            raise ActuatorError(f"{name}: {line.chip} line {line.line}: {exc}") from exc

    def _write(self, target: int) -> None:
        self._request.set_value(self._offset,
                                self._value.ACTIVE if target else self._value.INACTIVE)
        self.memory.save(self.name, target)

    def _read(self) -> int | None:
        return 1 if self._request.get_value(self._offset) == self._value.ACTIVE else 0

    def close(self) -> None:
        self._request.release()
        self._chip.close()


def _sim(settings: ActuatorSettings, name: str) -> Actuator:
    return SimActuator(name, SimState(settings.sim_state_file), settings.set_timeout_s)


def _gpio(settings: ActuatorSettings, name: str) -> Actuator:
    line = getattr(settings, name)
    if line is None:
        raise ActuatorError(f"{name}: no GPIO line configured")
    memory = LevelMemory(settings.sim_state_file.with_name("actuator-levels.json"))
    return GpioActuator(name, line, memory, settings.set_timeout_s)


BACKENDS: dict[str, Callable[[ActuatorSettings, str], Actuator]] = {"sim": _sim, "gpio": _gpio}


def build_actuators(settings: ActuatorSettings) -> Mapping[str, Actuator]:
    """The configured actuators; with ``gpio`` only those with a line (others are absent and
    their commands FAIL saying so). A line that cannot be opened is logged and left out."""
    make = BACKENDS[settings.backend]
    out: dict[str, Actuator] = {}
    for name in ACTUATORS:
        if settings.backend == "gpio" and getattr(settings, name) is None:
            continue
        try:
            out[name] = make(settings, name)
        except ActuatorError as exc:
            log.error("actuator %s unavailable: %s", name, exc)
    return out
