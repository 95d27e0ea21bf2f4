"""Play a scenario onto real device files: NMEA and SLCAN over ptys, power inputs as files.

``ScenarioPlayer`` walks the truth in a thread at wall time ``clock.wall(scenario time)``
(``speedup`` > 1 = accelerated) and writes what each device would send at that moment. Unplug
windows close the device's pty and bring a new one up behind the same link when they end.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.sim.clock import ScaledClock
from agent.sim.elm327 import Elm327Responder
from agent.sim.j1939 import FrameRenderer, slcan_line
from agent.sim.modem import ModemResponder, scenario_cell
from agent.sim.motion import IioDevice, MotionModel
from agent.sim.nmea import epoch_sentences
from agent.sim.pty import PtyPort, slcan_responder
from agent.sim.scenario import Scenario
from agent.sim.truth import Actuated, Truth, simulate


class PowerFiles:
    """The power/I-O inputs as files (the sysfs layout ``PowerSettings.from_dir`` reads)."""

    NAMES = ("supply_v", "backup_v", "acc", "door", "locked", "sos", "case")

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._last: dict[str, str] = {}

    def write(self, tr: Truth) -> None:
        values = {
            "supply_v": f"{tr.supply_v:.3f}",
            "backup_v": f"{tr.backup_v:.3f}",
            "acc": "1" if tr.ignition else "0",
            "door": "1" if tr.door_open else "0",
            "locked": "1" if tr.locked else "0",
            "sos": "1" if tr.sos else "0",
            "case": "1" if tr.case_open else "0",
        }
        for name, text in values.items():
            if self._last.get(name) == text:
                continue
            path = self.directory / name
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_text(text + "\n", encoding="ascii")
            os.replace(tmp, path)  # a reader sees the old or the new value, never half
            self._last[name] = text


@dataclass
class PlayerPorts:
    nmea: PtyPort | None = None
    slcan: PtyPort | None = None
    obd: PtyPort | None = None
    power: PowerFiles | None = None
    motion: IioDevice | None = None
    modem: PtyPort | None = None


class ActuatorReadback:
    """The agent's simulated actuator lines (``[orders.devices.actuators] sim_state_file``, the
    ``sim`` backend's JSON ``{"relay": 0|1, "door_lock": 0|1}``), read back by the vehicle so a
    scenario sees the engine stop or the doors lock. Re-read only when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._state = Actuated()

    def read(self) -> Actuated:
        try:
            st = self.path.stat()
        except OSError:
            return self._state
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                return self._state  # caught mid-write: the next step reads it
            lock = data.get("door_lock")
            self._state = Actuated(engine_cut=bool(data.get("relay")),
                                   locked=None if lock is None else bool(lock))
        return self._state


class ScenarioPlayer:
    def __init__(
        self,
        scenario: Scenario,
        clock: ScaledClock,
        *,
        nmea_link: Path | None = None,
        slcan_link: Path | None = None,
        power_dir: Path | None = None,
        obd_link: Path | None = None,
        motion_dir: Path | None = None,
        modem_link: Path | None = None,
        actuators_file: Path | None = None,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.current: Truth | None = None  # what the ELM327 answers from
        self.ports = PlayerPorts(
            nmea=PtyPort(nmea_link) if nmea_link else None,
            slcan=PtyPort(slcan_link, slcan_responder) if slcan_link else None,
            obd=PtyPort(obd_link, Elm327Responder(lambda: self.current)) if obd_link else None,
            power=PowerFiles(power_dir) if power_dir else None,
            motion=IioDevice(motion_dir, scenario.motion.rate_hz)
            if motion_dir and scenario.motion
            else None,
        )
        self.motion_model = MotionModel(scenario) if self.ports.motion is not None else None
        self.modem = ModemResponder(self._cell) if modem_link else None
        if self.modem is not None and modem_link is not None:
            self.ports.modem = self.modem.attach(PtyPort(modem_link, self.modem))
        self.frames = FrameRenderer() if slcan_link else None
        self.actuators = ActuatorReadback(actuators_file) if actuators_file else None
        self.position = 0.0  # scenario second last written
        self.max_lag_s = 0.0  # worst wall-clock lateness of a step
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.ports.power is not None:  # the inputs exist before the agent looks at them
            self.ports.power.write(next(simulate(scenario, 1.0)))

    def start(self) -> None:
        self._thread = threading.Thread(target=self.play, name="scenario-player", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for port in (self.ports.nmea, self.ports.slcan, self.ports.obd, self.ports.modem):
            if port is not None:
                port.close()
        if self.ports.motion is not None:
            self.ports.motion.close()

    def _cell(self):  # type: ignore[no-untyped-def]  # -> CellState
        tr = self.current
        return scenario_cell(self.scenario.cellular, tr.registered if tr else True,
                             tr.csq if tr else self.scenario.cellular.csq)  # fmt: skip

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def play(self) -> None:
        sc = self.scenario
        dt = 1.0 / sc.can_hz if self.frames is not None else min(0.1, 1.0 / sc.gnss_hz)
        gnss_every = max(1, round(1.0 / (sc.gnss_hz * dt)))
        slow_every = max(1, round(1.0 / dt))
        v = sc.vehicle
        try:
            readback = self.actuators.read if self.actuators is not None else None
            for i, tr in enumerate(simulate(sc, dt, readback)):
                if self._stop.is_set():
                    return
                epoch = sc.start_epoch + tr.t
                lag = time.time() - self.clock.wall(epoch)
                if lag < 0:
                    self._stop.wait(-lag)
                else:
                    self.max_lag_s = max(self.max_lag_s, lag)
                self.current = tr
                self._plug(self.ports.nmea, "gnss" not in tr.unplugged)
                self._plug(self.ports.slcan, "can" not in tr.unplugged)
                self._plug(self.ports.obd, "obd" not in tr.unplugged)
                if self.ports.power is not None:
                    self.ports.power.write(tr)
                if self.ports.motion is not None:
                    self._motion(tr)
                if self.modem is not None:
                    self.modem.poll_urcs()
                if self.ports.nmea is not None and i % gnss_every == 0:
                    data = epoch_sentences(tr, epoch, satellites=v.satellites, hdop=v.hdop,
                                           altitude_m=v.altitude_m)  # fmt: skip
                    if data:
                        self.ports.nmea.write(b"".join(data))
                if self.ports.slcan is not None and self.frames is not None:
                    frames = self.frames.fast(tr)
                    if i % slow_every == 0:
                        frames += self.frames.slow(tr)
                    if frames:
                        self.ports.slcan.write(b"".join(slcan_line(c, d) for c, d in frames))
                self.position = tr.t
        finally:
            self.done.set()

    def _motion(self, tr: Truth) -> None:
        """The sensor's samples up to this step, as records (wall-clock timestamps, as the
        kernel stamps them) and as the latest ``*_raw`` values."""
        dev, model = self.ports.motion, self.motion_model
        assert dev is not None
        assert model is not None
        wanted = "motion" not in tr.unplugged
        if wanted != dev.plugged:
            if wanted:
                dev.plug()
            else:
                dev.unplug()
        start = self.scenario.start_epoch
        samples = [(self.clock.wall(start + t), a, g) for t, a, g in model.samples(tr.t, tr)]
        if samples and dev.plugged:
            dev.write_records(samples)
            dev.write_raw(samples[-1][1], samples[-1][2])

    @staticmethod
    def _plug(port: PtyPort | None, wanted: bool) -> None:
        if port is None or port.plugged == wanted:
            return
        with contextlib.suppress(OSError):
            if wanted:
                port.plug()
            else:
                port.unplug()
