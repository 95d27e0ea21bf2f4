"""A cellular modem answering AT commands on a :class:`~agent.sim.pty.PtyPort`.

Speaks the 27.007 dialogue the modem source uses (echo until ``ATE0``, ``\\r\\n``-framed lines,
``OK`` / ``ERROR`` / ``+CME ERROR``), plus Quectel's ``AT+QCCID`` and
``AT+QENG="servingcell"``; the radio conditions come from a callable returning a
:class:`CellState`, so the scenario (or a test) changes coverage and signal while the agent
polls. When registration changes it sends the ``+CREG``/``+CEREG`` URCs a real modem sends
after ``AT+CREG=2``, which the client must skip. ``inject()`` writes raw bytes (garbage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.events import CellLink, ConnectionType
from agent.sim.pty import PtyPort
from agent.sim.scenario import CellularSpec
from agent.sources.modem.parse import csq_dbm, csq_percent
from agent.sources.readings import CellularStatus, RegistrationState

# Coverage -> (27.007 <stat>, +COPS/<AcT>, QENG RAT name)
_ACT = {"2g": 0, "3g": 2, "4g": 7, "5g": 11}


@dataclass(frozen=True, slots=True)
class CellState:
    registered: bool = True
    csq: int = 20  # 0..31, 99 unknown
    rat: str = "4g"  # 2g | 3g | 4g | 5g
    roaming: bool = False
    mcc: int = 401
    mnc: int = 1
    lac: int = 0x1A2B  # LAC (2G/3G) or TAC (4G/5G)
    cell_id: int = 0x01C2D3E4
    timing_advance: int = 3  # reported on GSM only, as Quectel does
    iccid: str = "89860012345678901234"
    sim_present: bool = True


class ModemResponder:
    """``PtyPort(link, ModemResponder(lambda: state))``; call :meth:`poll_urcs` to emit URCs."""

    def __init__(self, cell: Callable[[], CellState], model: str = "EG25") -> None:
        self.cell = cell
        self.model = model
        self.echo = True
        self.creg_n = 0
        self.cereg_n = 0
        self.cops_format = 0
        self.port: PtyPort | None = None
        self._last_registered: bool | None = None

    def attach(self, port: PtyPort) -> PtyPort:
        self.port = port
        return port

    # --- replies ---------------------------------------------------------------------------

    def __call__(self, raw: bytes) -> bytes:
        text = raw.decode("ascii", "replace").strip()
        out = text + "\r" if self.echo and text else ""
        if not text:
            return out.encode("ascii")
        lines, final = self._answer(text)
        body = "".join(f"\r\n{ln}\r\n" for ln in lines)
        return (out + body + f"\r\n{final}\r\n").encode("ascii")

    def _answer(self, cmd: str) -> tuple[list[str], str]:
        c = self.cell()
        up = cmd.upper()
        if up in ("AT", "ATZ", "AT&F"):
            return [], "OK"
        if up in ("ATE0", "ATE1"):
            self.echo = up == "ATE1"
            return [], "OK"
        if up == "ATI":
            return ["Quectel", self.model, "Revision: SIM01"], "OK"
        if up.startswith("AT+CMEE="):
            return [], "OK"
        if up.startswith("AT+CREG="):
            self.creg_n = int(up[8:] or 0)
            return [], "OK"
        if up.startswith("AT+CEREG="):
            self.cereg_n = int(up[9:] or 0)
            return [], "OK"
        if up.startswith("AT+COPS=3,"):
            self.cops_format = int(up[10:] or 0)
            return [], "OK"
        if up == "AT+CSQ":
            return [f"+CSQ: {c.csq},99"], "OK"
        if up == "AT+CREG?":
            return [self._reg("+CREG", self.creg_n, c, eps=False)], "OK"
        if up == "AT+CEREG?":
            return [self._reg("+CEREG", self.cereg_n, c, eps=True)], "OK"
        if up == "AT+COPS?":
            if not c.registered:
                return ["+COPS: 0"], "OK"
            oper = f'"{c.mcc:03d}{c.mnc:02d}"' if self.cops_format == 2 else '"SIMTEL"'
            return [f"+COPS: 0,{self.cops_format},{oper},{_ACT[c.rat]}"], "OK"
        if up in ("AT+CCID", "AT+QCCID", "AT+ICCID"):
            if not c.sim_present:
                return [], "+CME ERROR: 10"
            return [f"+{up[3:]}: {c.iccid}"], "OK"
        if up == 'AT+QENG="SERVINGCELL"':
            return [self._qeng(c)], "OK"
        return [], "ERROR"

    def _stat(self, c: CellState) -> int:
        if not c.registered:
            return 2 if c.csq not in (0, 99) else 0
        return 5 if c.roaming else 1

    def _reg(self, prefix: str, n: int, c: CellState, *, eps: bool) -> str:
        # CS registration (+CREG) only on 2G/3G; LTE/NR attach shows in +CEREG (and vice versa).
        on_eps = c.rat in ("4g", "5g")
        stat = self._stat(c) if on_eps == eps or not c.registered else 0
        if n == 2 and stat in (1, 5):
            lac = f"{c.lac:04X}"
            return f'{prefix}: {n},{stat},"{lac}","{c.cell_id:08X}",{_ACT[c.rat]}'
        return f"{prefix}: {n},{stat}"

    def _qeng(self, c: CellState) -> str:
        if not c.registered:
            return '+QENG: "servingcell","SEARCH"'
        if c.rat == "2g":
            return (f'+QENG: "servingcell","NOCONN","GSM",{c.mcc},{c.mnc:02d},{c.lac:X},'
                    f'{c.cell_id:X},22,62,0,-65,30,-65,0,52,52,1,-,-,{c.timing_advance},'
                    '-,-,-,-,-,-,-')  # fmt: skip
        if c.rat == "3g":
            return (f'+QENG: "servingcell","NOCONN","WCDMA",{c.mcc},{c.mnc:02d},{c.lac:X},'
                    f'{c.cell_id:X},10713,352,3,-85,-6,-,-,-,-,-')  # fmt: skip
        if c.rat == "5g":
            return (f'+QENG: "servingcell","NOCONN","NR5G-SA","TDD",{c.mcc},{c.mnc:02d},'
                    f'{c.cell_id:X},106,{c.lac:X},630000,78,12,-90,-11,15,1,-')  # fmt: skip
        return (f'+QENG: "servingcell","NOCONN","LTE","FDD",{c.mcc},{c.mnc:02d},'
                f'{c.cell_id:X},188,6300,20,3,3,{c.lac:X},-95,-9,-65,12,10,-,30')  # fmt: skip

    # --- unsolicited -----------------------------------------------------------------------

    def poll_urcs(self) -> None:
        """Send ``+CREG``/``+CEREG`` URCs when registration changed (as with ``AT+CREG=2``)."""
        c = self.cell()
        if self.port is None or c.registered == self._last_registered:
            return
        self._last_registered = c.registered
        stat = self._stat(c)
        if self.creg_n:
            self.port.write(f"\r\n+CREG: {stat}\r\n".encode("ascii"))
        if self.cereg_n:
            extra = f',"{c.lac:04X}","{c.cell_id:08X}",{_ACT[c.rat]}' if c.registered else ""
            self.port.write(f"\r\n+CEREG: {stat}{extra}\r\n".encode("ascii"))

    def inject(self, data: bytes) -> None:
        if self.port is not None:
            self.port.write(data)


def scenario_cell(spec: CellularSpec, registered: bool, csq: int) -> CellState:
    """The modem's radio for one truth sample (coverage windows change ``registered``/``csq``)."""
    return CellState(registered=registered, csq=csq, rat=spec.rat, mcc=spec.mcc, mnc=spec.mnc,
                     lac=spec.lac, cell_id=spec.cell_id, timing_advance=spec.timing_advance,
                     iccid=spec.iccid)  # fmt: skip


def cellular_reading(c: CellState, t: float, stored_iccid: str = "") -> CellularStatus:
    """What the AT modem source reports for ``c`` with ``dialect = "generic"`` (pure path;
    ``tests/sources/modem`` checks the source gives the same over the pty)."""
    reg = RegistrationState.ROAMING if c.roaming else RegistrationState.HOME
    if not c.registered:
        reg = RegistrationState.SEARCHING if c.csq not in (0, 99) else \
            RegistrationState.NOT_REGISTERED
        return CellularStatus(t, reg, CellLink(signal_pct=csq_percent(c.csq)), csq=c.csq,
                              rssi_dbm=csq_dbm(c.csq), iccid=c.iccid, stored_iccid=stored_iccid)
    rat = {"2g": ConnectionType.G2, "3g": ConnectionType.G3, "4g": ConnectionType.G4,
           "5g": ConnectionType.G5}[c.rat]  # fmt: skip
    link = CellLink(rat, csq_percent(c.csq), c.mcc, c.mnc, cell_id=c.cell_id,
                    location_area_code=c.lac)
    return CellularStatus(t, reg, link, csq=c.csq, rssi_dbm=csq_dbm(c.csq),
                          operator=f"{c.mcc:03d}{c.mnc:02d}", iccid=c.iccid,
                          stored_iccid=stored_iccid)  # fmt: skip
