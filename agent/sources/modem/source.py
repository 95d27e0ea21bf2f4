"""The modem source: a thread polls the modem (AT port or ModemManager) and hands over
:class:`~agent.sources.readings.CellularStatus` readings, one per round.

AT round (``backend = "at"``): ``AT+CSQ``, ``AT+CREG?``, ``AT+CEREG?``, ``AT+COPS?`` and, with
``dialect = "quectel"``, ``AT+QENG="servingcell"``; the ICCID (``AT+CCID``, else ``AT+QCCID``)
at start and every ``iccid_interval_s``. Set-up: ``ATE0``, ``AT+CMEE=1``, ``AT+CREG=2``,
``AT+CEREG=2`` (so the read answers carry LAC/TAC and cell id) and ``AT+COPS=3,2`` (numeric
operator). A query the modem refuses (``ERROR``) leaves its fields unknown for that round;
URCs and garbage are counted and skipped. A round in which no command got any final result
counts as a timeout; ``max_consecutive_timeouts`` of them in a row close the port,
report ``SourceHealth("modem", ok=False)`` and reopen it every ``reconnect_s``.

ModemManager round (``backend = "mmcli"``): ``mmcli -J -m <modem>``, ``--location-get`` and,
every ``iccid_interval_s``, ``mmcli -J -i <sim>``. A failing ``mmcli`` (ModemManager not
running, no modem) is the same fault.

SIM identity: the ICCID last seen is written to ``iccid_file`` (atomically) and each reading
carries the one stored before it (``stored_iccid``), so the rules see a SIM changed across a
restart (hardware event 12).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agent.errors import SourceError
from agent.events import CellLink, ConnectionType
from agent.health import tallies
from agent.sources.modem.at import AtError, AtModem, AtStoppedError, AtTimeoutError
from agent.sources.modem.mmcli import Mmcli
from agent.sources.modem.parse import (
    Registration,
    csq_dbm,
    csq_percent,
    parse_cops,
    parse_csq,
    parse_iccid,
    parse_qeng_servingcell,
    parse_reg,
)
from agent.sources.readings import CellularStatus, RegistrationState
from agent.sources.serialport import SerialPort
from agent.sources.settings import ModemSettings
from agent.sources.threaded import HandOver, SerialDeviceSource

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SETUP = ("ATE0", "AT+CMEE=1", "AT+CREG=2", "AT+CEREG=2", "AT+COPS=3,2")


class IccidStore:
    """The last ICCID seen, in one small file written atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.value = ""
        if path is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                self.value = path.read_text(encoding="ascii").strip()

    def save(self, iccid: str) -> None:
        self.value = iccid
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(iccid + "\n", encoding="ascii")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot store the ICCID in %s: %s", self.path, exc)


def _best(*regs: Registration | None) -> Registration | None:
    """The registered one (EPS preferred: listed first), else the first known."""
    known = [r for r in regs if r is not None]
    for r in known:
        if r.state.registered:
            return r
    return known[0] if known else None


class ModemSource(SerialDeviceSource):
    """Registration, signal, serving cell and ICCID of the cellular modem."""

    name = "modem"

    def __init__(
        self,
        settings: ModemSettings,
        port_factory: Callable[[], SerialPort] | None = None,
        mmcli: Mmcli | None = None,
    ) -> None:
        super().__init__(settings.port, settings.baudrate, settings.reconnect_s, port_factory)
        self._settings = settings
        self._mmcli = mmcli or Mmcli(settings.modem, settings.mmcli,
                                     max(settings.command_timeout_s, 5.0))  # fmt: skip
        self._iccid = IccidStore(settings.iccid_file)
        self._current_iccid = ""
        self._next_iccid = 0.0
        self._at_counts: Counter[str] = Counter()
        # counts (diagnostics()) also has parse_errors, rounds.
        self._last: CellularStatus | None = None
        self._modem: AtModem | None = None

    @classmethod
    def from_settings(cls, settings: ModemSettings) -> ModemSource | None:
        return None if settings.backend == "none" else cls(settings)

    # --- the loop ----------------------------------------------------------------------------

    def read_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        if self._settings.backend == "mmcli":
            self._mmcli_loop(stop, hand_over)
        else:
            self.port_sessions(stop, hand_over,
                               lambda port: self._at_session(port, stop, hand_over),
                               kind="modem", stopped=AtStoppedError, silent=AtTimeoutError)

    def _at_session(self, port: SerialPort, stop: threading.Event, hand_over: HandOver) -> None:
        s = self._settings
        modem = AtModem(port, s.command_timeout_s, stop)
        self._modem = modem
        try:
            self._at_rounds(modem, stop, hand_over)
        finally:
            self._at_counts.update(modem.counts)
            self._modem = None

    def _at_rounds(self, modem: AtModem, stop: threading.Event, hand_over: HandOver) -> None:
        s = self._settings
        modem.command("AT")  # a timeout here: nothing on the port answers AT
        for cmd in SETUP:
            try:
                modem.command(cmd)
            except AtError as exc:  # e.g. a 2G-only modem has no +CEREG
                log.debug("modem set-up: %s", exc)
        self.report_health(True, f"modem on {s.port}", hand_over)
        self._next_iccid = 0.0
        timeouts = 0
        while not stop.is_set():
            status, answered = self._at_round(modem)
            if answered:
                timeouts = 0
                self._deliver(status, hand_over)
            else:
                timeouts += 1
                if timeouts >= s.max_consecutive_timeouts:
                    raise AtTimeoutError(f"{timeouts} rounds", s.command_timeout_s)
            stop.wait(s.poll_interval_s)

    def _query(self, modem: AtModem, cmd: str, prefix: str | None) -> tuple[list[str], bool]:
        """Answer lines and whether the modem gave a final result at all."""
        try:
            return modem.command(cmd, prefix), True
        except AtError:
            return [], True
        except AtTimeoutError:
            return [], False

    def _parsed(self, lines: list[str], parse: Callable[[str], _T]) -> _T | None:
        for line in reversed(lines):  # the answer is the last line; URC look-alikes before it
            try:
                return parse(line)
            except ValueError:
                self.counts["parse_errors"] += 1
        return None

    def _at_round(self, modem: AtModem) -> tuple[CellularStatus, bool]:
        s = self._settings
        answered = False
        lines, ok = self._query(modem, "AT+CSQ", "+CSQ:")
        answered |= ok
        csq = self._parsed(lines, parse_csq)
        lines, ok = self._query(modem, "AT+CREG?", "+CREG:")
        answered |= ok
        creg = self._parsed(lines, lambda ln: parse_reg(ln, "+CREG:"))
        lines, ok = self._query(modem, "AT+CEREG?", "+CEREG:")
        answered |= ok
        cereg = self._parsed(lines, lambda ln: parse_reg(ln, "+CEREG:"))
        lines, ok = self._query(modem, "AT+COPS?", "+COPS:")
        answered |= ok
        cops = self._parsed(lines, parse_cops)
        cell = None
        if s.dialect == "quectel":
            lines, ok = self._query(modem, 'AT+QENG="servingcell"', "+QENG:")
            answered |= ok
            cell = self._parsed(lines, parse_qeng_servingcell)
        if time.monotonic() >= self._next_iccid:
            iccid = self._read_iccid(modem)
            if iccid:
                self._current_iccid = iccid
                self._next_iccid = time.monotonic() + s.iccid_interval_s
        reg = _best(cereg, creg)
        state = reg.state if reg is not None else RegistrationState.UNKNOWN
        t = time.time()
        if not state.registered:
            return CellularStatus(t, state, CellLink(signal_pct=csq_percent(csq)), csq=csq,
                                  rssi_dbm=csq_dbm(csq), iccid=self._current_iccid), answered
        assert reg is not None
        rat = reg.rat
        if rat == ConnectionType.UNKNOWN and cops is not None:
            rat = cops.rat
        mcc = cops.mcc if cops is not None else 0
        mnc = cops.mnc if cops is not None else 0
        lac, cid, ta = reg.lac, reg.cell_id, 0
        if cell is not None and cell.rat != ConnectionType.UNKNOWN:
            rat = cell.rat
            mcc, mnc = cell.mcc or mcc, cell.mnc if cell.mcc else mnc
            lac, cid, ta = cell.lac or lac, cell.cell_id or cid, cell.timing_advance
        link = CellLink(ConnectionType(rat), csq_percent(csq), mcc, mnc, cell_id=cid,
                        location_area_code=lac, timing_advance=ta)
        return CellularStatus(
            t, state, link, csq=csq, rssi_dbm=csq_dbm(csq),
            operator=cops.name if cops is not None else "", iccid=self._current_iccid,
        ), answered

    def _read_iccid(self, modem: AtModem) -> str:
        commands = ["AT+QCCID", "AT+CCID"] if self._settings.dialect == "quectel" else ["AT+CCID"]
        for cmd in commands:
            lines, _ = self._query(modem, cmd, None)
            iccid = self._parsed(lines, parse_iccid)
            if iccid:
                return iccid
        return ""

    def _mmcli_loop(self, stop: threading.Event, hand_over: HandOver) -> None:
        s = self._settings
        while not stop.is_set():
            due = time.monotonic() >= self._next_iccid
            try:
                snap = self._mmcli.snapshot(with_sim=due)
            except SourceError as exc:
                self.report_health(False, str(exc), hand_over)
                stop.wait(s.reconnect_s)
                continue
            self.report_health(True, f"ModemManager modem {s.modem}", hand_over)
            if due and snap.iccid:
                self._current_iccid = snap.iccid
                self._next_iccid = time.monotonic() + s.iccid_interval_s
            reg = snap.registration.registered
            self._deliver(CellularStatus(
                time.time(), snap.registration, snap.cell if reg else snap.cell.signal_only(),
                operator=snap.operator if reg else "", iccid=self._current_iccid,
            ), hand_over)
            stop.wait(s.poll_interval_s)

    def _deliver(self, status: CellularStatus, hand_over: HandOver) -> None:
        """Stamp the stored ICCID, hand over, then remember a new ICCID."""
        stored = self._iccid.value
        if status.iccid:
            status = _with_stored(status, stored)
        self.counts["rounds"] += 1
        self._last = status
        hand_over([status])
        if status.iccid and status.iccid != stored:
            self._iccid.save(status.iccid)

    def diagnostics(self) -> dict[str, object]:
        last = self._last
        return {
            "backend": self._settings.backend,
            "port": self._settings.port if self._settings.backend == "at" else None,
            "up": self._up,
            **tallies(self.counts, "rounds", "opens", "open_failures", "disconnects"),
            "at": dict(self._at_counts + (self._modem.counts if self._modem else Counter())),
            "parse_errors": self.counts["parse_errors"],
            "registration": str(last.registration) if last else None,
            "signal_pct": last.cell.signal_pct if last else None,
            "csq": last.csq if last else None,
            "operator": last.operator if last else None,
            "iccid": self._current_iccid or None,
            "last_error": self._last_error,
        }


def _with_stored(status: CellularStatus, stored: str) -> CellularStatus:
    from dataclasses import replace

    return replace(status, stored_iccid=stored)
