"""GPIO inputs through the character device: the source on in-memory lines, the gpiod backend
against a stand-in ``gpiod`` module with libgpiod v2's Python API, and the agent without gpiod.

There is no GPIO chip on the test host and the kernel's gpio-sim (configfs) is not available,
so the real libgpiod was not exercised here (docs/modem.md "GPIO" says what was run)."""

from __future__ import annotations

import enum
import os
import sys
import types
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import pytest

from agent.sources.gpio import GpiodLines, GpioSource, SimLines
from agent.sources.readings import Signal, SignalReading
from agent.sources.settings import GpioInputLine, GpioSettings
from tests.sources.harness import running, wait_until


def settings(**kw: Any) -> GpioSettings:
    return GpioSettings.model_validate({"backend": "gpiod", "report_s": 0.2,
                                        "reconnect_s": 0.05, **kw})  # fmt: skip


def signals(out: list[object]) -> list[tuple[Signal, float]]:
    return [(r.signal, r.value) for r in out if isinstance(r, SignalReading)]


async def test_levels_then_edges_then_held_levels_again() -> None:
    lines = SimLines({"acc": False, "door": True, "case": False})
    src = GpioSource(settings(acc=GpioInputLine(line="ACC_IN")), lambda: lines)
    async with running(src) as out:
        await wait_until(lambda: len(signals(out)) >= 3)
        assert sorted(signals(out)[:3]) == sorted([(Signal.IGNITION, 0.0),
                                                   (Signal.DOOR_OPEN, 1.0),
                                                   (Signal.CASE_OPEN, 0.0)])
        lines.set("acc", True, t=1234.5)
        lines.set("case", True, t=1234.6)
        await wait_until(lambda: (Signal.CASE_OPEN, 1.0) in signals(out))
        edges = [r for r in out if isinstance(r, SignalReading) and r.t in (1234.5, 1234.6)]
        assert [(r.signal, r.value, r.source) for r in edges] == [
            (Signal.IGNITION, 1.0, "gpio"), (Signal.CASE_OPEN, 1.0, "gpio")]
        n = len(signals(out))
        await wait_until(lambda: len(signals(out)) >= n + 3, within=2)  # re-sent, no edge
    assert signals(out)[-3:].count((Signal.IGNITION, 1.0)) == 1
    assert src.diagnostics()["edges"] == 2


async def test_a_lost_chip_is_a_fault_and_the_lines_are_requested_again() -> None:
    made: list[SimLines] = []

    def factory() -> SimLines:
        made.append(SimLines({"sos": False}))
        return made[-1]

    src = GpioSource(settings(), factory)
    async with running(src) as out:
        await wait_until(lambda: len(made) == 1 and out.health() == [True])
        made[0].fail = "No such device"
        with made[0]._cond:
            made[0]._cond.notify_all()
        await wait_until(lambda: out.health() == [True, False, True])
    assert len(made) == 2


async def test_without_gpiod_the_source_reports_why() -> None:
    if "gpiod" in sys.modules or _has_gpiod():
        pytest.skip("gpiod is installed here")
    src = GpioSource(settings(acc=GpioInputLine(line="17")))
    async with running(src) as out:
        await wait_until(lambda: out.health() == [False])
    assert "pip install 'edge-agent[gpio]'" in str(src.diagnostics()["last_error"])


def _has_gpiod() -> bool:
    import importlib.util

    return importlib.util.find_spec("gpiod") is not None


# --- a stand-in for libgpiod v2's Python bindings ----------------------------------------------

class Direction(enum.Enum):
    AS_IS = 1
    INPUT = 2
    OUTPUT = 3


class GEdge(enum.Enum):
    NONE = 1
    RISING = 2
    FALLING = 3
    BOTH = 4


class Value(enum.Enum):
    INACTIVE = 0
    ACTIVE = 1


@dataclass
class LineSettings:
    direction: Direction = Direction.AS_IS
    edge_detection: GEdge = GEdge.NONE
    active_low: bool = False
    debounce_period: timedelta = timedelta(0)


class EdgeEvent:
    class Type(enum.Enum):
        RISING_EDGE = 1
        FALLING_EDGE = 2

    def __init__(self, kind: EdgeEvent.Type, offset: int, ts_ns: int) -> None:
        self.event_type = kind
        self.line_offset = offset
        self.timestamp_ns = ts_ns


@dataclass
class Request:
    path: str
    consumer: str
    config: dict[int, LineSettings]
    values: dict[int, Value] = field(default_factory=dict)
    queue: list[EdgeEvent] = field(default_factory=list)
    released: bool = False

    def __post_init__(self) -> None:
        self.fd, self._w = os.pipe()

    def get_values(self, offsets: list[int]) -> list[Value]:
        return [self.values.get(o, Value.INACTIVE) for o in offsets]

    def push(self, offset: int, rising: bool, ts_ns: int) -> None:
        kind = EdgeEvent.Type.RISING_EDGE if rising else EdgeEvent.Type.FALLING_EDGE
        self.queue.append(EdgeEvent(kind, offset, ts_ns))
        os.write(self._w, b"x")

    def wait_edge_events(self, timeout: timedelta) -> bool:
        import select

        return bool(select.select([self.fd], [], [], timeout.total_seconds())[0])

    def read_edge_events(self) -> list[EdgeEvent]:
        os.read(self.fd, 4096)
        out, self.queue = self.queue, []
        return out

    def release(self) -> None:
        self.released = True
        os.close(self.fd)
        os.close(self._w)


class Chip:
    NAMES: ClassVar[dict[str, int]] = {"ACC_IN": 3, "DOOR_IN": 4}

    def __init__(self, path: str) -> None:
        if "missing" in path:
            raise FileNotFoundError(2, "No such file or directory", path)
        self.path = path

    def line_offset_from_id(self, name: str) -> int:
        if name not in self.NAMES:
            raise ValueError(f"line {name} not found")
        return self.NAMES[name]

    def close(self) -> None:
        pass


@pytest.fixture
def fake_gpiod(monkeypatch: pytest.MonkeyPatch) -> list[Request]:
    made: list[Request] = []
    mod = types.ModuleType("gpiod")
    line = types.ModuleType("gpiod.line")
    line.Direction, line.Edge, line.Value = Direction, GEdge, Value  # type: ignore[attr-defined]
    mod.line = line  # type: ignore[attr-defined]
    mod.Chip = Chip  # type: ignore[attr-defined]
    mod.LineSettings = LineSettings  # type: ignore[attr-defined]
    mod.EdgeEvent = EdgeEvent  # type: ignore[attr-defined]

    def request_lines(path: str, consumer: str, config: dict[int, LineSettings]) -> Request:
        made.append(Request(path, consumer, config))
        return made[-1]

    mod.request_lines = request_lines  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gpiod", mod)
    monkeypatch.setitem(sys.modules, "gpiod.line", line)
    return made


def test_gpiod_lines_are_requested_as_debounced_inputs_on_both_edges(fake_gpiod: list[Request],
                                                                      ) -> None:
    lines = GpiodLines({
        "acc": GpioInputLine(chip="/dev/gpiochip0", line="ACC_IN", active_low=True),
        "door": GpioInputLine(chip="/dev/gpiochip0", line="DOOR_IN"),
        "case": GpioInputLine(chip="/dev/gpiochip1", line="7"),
    }, debounce_ms=20)
    chip0, chip1 = fake_gpiod
    assert (chip0.path, chip1.path, chip0.consumer) == ("/dev/gpiochip0", "/dev/gpiochip1",
                                                        "edge-agent")
    assert sorted(chip0.config) == [3, 4] and list(chip1.config) == [7]
    acc = chip0.config[3]
    assert (acc.direction, acc.edge_detection, acc.active_low) == (Direction.INPUT, GEdge.BOTH,
                                                                   True)
    assert acc.debounce_period == timedelta(milliseconds=20)
    chip0.values[3] = Value.ACTIVE
    assert lines.levels() == {"acc": True, "door": False, "case": False}
    assert lines.wait(0.01) is False
    chip1.push(7, True, 5_000_000_000)
    chip0.push(4, True, 4_000_000_000)
    chip0.push(3, False, 6_000_000_000)
    assert lines.wait(0.5) is True
    edges = lines.edges()
    assert [(e.name, e.active) for e in edges] == [("door", True), ("case", True), ("acc", False)]
    assert edges[1].t - edges[0].t == pytest.approx(1.0)
    lines.close()
    assert chip0.released and chip1.released


def test_gpiod_unknown_line_or_chip_is_a_source_error(fake_gpiod: list[Request]) -> None:
    from agent.errors import SourceError

    with pytest.raises(SourceError, match="NO_SUCH_LINE"):
        GpiodLines({"sos": GpioInputLine(line="NO_SUCH_LINE")})
    with pytest.raises(SourceError, match="No such file"):
        GpiodLines({"sos": GpioInputLine(chip="/dev/gpiochip-missing", line="1")})


async def test_gpio_source_on_the_gpiod_backend(fake_gpiod: list[Request]) -> None:
    src = GpioSource(settings(sos=GpioInputLine(line="5")))
    async with running(src) as out:
        await wait_until(lambda: len(fake_gpiod) == 1 and len(signals(out)) >= 1)
        fake_gpiod[0].push(5, True, 1)
        await wait_until(lambda: (Signal.SOS, 1.0) in signals(out))
    assert signals(out)[0] == (Signal.SOS, 0.0)
