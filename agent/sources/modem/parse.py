"""Pure parsers of the modem's answers (3GPP TS 27.007 and Quectel's serving-cell query).

Every function takes the text of one information line (``+CSQ: 23,99``) and returns typed
values, or raises :class:`ValueError` for a line that does not have the documented shape (the
caller counts it as garbage). No I/O; tests feed them strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.events import ConnectionType
from agent.sources.readings import RegistrationState

CSQ_UNKNOWN = 99

# 27.007 §7.2 <stat> -> registration (6-10: SMS-only / CSFB variants of home and roaming).
_STAT = {
    0: RegistrationState.NOT_REGISTERED,
    1: RegistrationState.HOME,
    2: RegistrationState.SEARCHING,
    3: RegistrationState.DENIED,
    4: RegistrationState.UNKNOWN,
    5: RegistrationState.ROAMING,
    6: RegistrationState.HOME,
    7: RegistrationState.ROAMING,
    9: RegistrationState.HOME,
    10: RegistrationState.ROAMING,
}

# 27.007 §7.3 <AcT> -> the envelope's connectionType.
_ACT = {
    0: ConnectionType.G2, 1: ConnectionType.G2, 3: ConnectionType.G2, 8: ConnectionType.G2,
    2: ConnectionType.G3, 4: ConnectionType.G3, 5: ConnectionType.G3, 6: ConnectionType.G3,
    7: ConnectionType.G4, 9: ConnectionType.G4, 10: ConnectionType.G4,
    11: ConnectionType.G5, 12: ConnectionType.G5, 13: ConnectionType.G5,
}  # fmt: skip

_ICCID = re.compile(r"^(\d{18,22})F?$", re.IGNORECASE)


def _fields(line: str, prefix: str) -> list[str]:
    if not line.startswith(prefix):
        raise ValueError(f"expected {prefix!r}: {line!r}")
    return [f.strip() for f in line[len(prefix):].split(",")]


def _unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def csq_percent(csq: int | None) -> int:
    """ModemManager's normalisation: ``min(csq, 31) * 100 // 31``; 99 (unknown) -> 0."""
    if csq is None or csq == CSQ_UNKNOWN or csq < 0:
        return 0
    return min(csq, 31) * 100 // 31


def csq_dbm(csq: int | None) -> int | None:
    """27.007 §8.5: 0 = -113 dBm or less, 31 = -51 dBm or more, 2 dBm per step."""
    if csq is None or csq == CSQ_UNKNOWN or not 0 <= csq <= 31:
        return None
    return -113 + 2 * csq


def parse_csq(line: str) -> int:
    """``+CSQ: <rssi>,<ber>`` -> rssi (0..31, 99 unknown)."""
    f = _fields(line, "+CSQ:")
    rssi = int(f[0])
    if not (0 <= rssi <= 31 or rssi == CSQ_UNKNOWN) or len(f) != 2:
        raise ValueError(f"+CSQ out of range: {line!r}")
    return rssi


@dataclass(frozen=True, slots=True)
class Registration:
    state: RegistrationState
    lac: int = 0  # LAC (+CREG) or TAC (+CEREG)
    cell_id: int = 0
    rat: ConnectionType = ConnectionType.UNKNOWN


def parse_reg(line: str, prefix: str) -> Registration:
    """The *read* answer ``+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]`` (also ``+CEREG``/``+CGREG``).

    An unsolicited ``+CREG: <stat>[,<lac>,...]`` (no ``<n>``) is refused with ValueError:
    its second field, when present, is the quoted LAC, never a bare ``<stat>`` digit.
    """
    f = _fields(line, prefix)
    if len(f) < 2 or not f[0].isdigit() or not f[1].isdigit():
        raise ValueError(f"not a {prefix} read answer: {line!r}")
    state = _STAT.get(int(f[1]), RegistrationState.UNKNOWN)
    lac = int(_unquote(f[2]), 16) if len(f) > 2 and _unquote(f[2]) else 0
    ci = int(_unquote(f[3]), 16) if len(f) > 3 and _unquote(f[3]) else 0
    rat = _ACT.get(int(f[4]), ConnectionType.UNKNOWN) if len(f) > 4 and f[4].isdigit() \
        else ConnectionType.UNKNOWN
    return Registration(state, lac, ci, rat)


@dataclass(frozen=True, slots=True)
class Operator:
    mcc: int = 0
    mnc: int = 0
    name: str = ""
    rat: ConnectionType = ConnectionType.UNKNOWN


def parse_cops(line: str) -> Operator:
    """``+COPS: <mode>[,<format>,<oper>[,<AcT>]]``; format 2 = numeric ``"26201"``."""
    f = _fields(line, "+COPS:")
    if not f[0].isdigit():
        raise ValueError(f"bad +COPS: {line!r}")
    if len(f) < 3:
        return Operator()  # not registered: only <mode>
    oper = _unquote(f[2])
    rat = _ACT.get(int(f[3]), ConnectionType.UNKNOWN) if len(f) > 3 and f[3].isdigit() \
        else ConnectionType.UNKNOWN
    if f[1] == "2":
        if not oper.isdigit() or len(oper) not in (5, 6):
            raise ValueError(f"bad numeric operator: {line!r}")
        return Operator(int(oper[:3]), int(oper[3:]), oper, rat)
    return Operator(name=oper, rat=rat)


def parse_iccid(line: str) -> str:
    """``+CCID: 8944...``, ``+QCCID: 8944...``, ``+ICCID: ...`` or the bare digits."""
    text = line
    for prefix in ("+CCID:", "+QCCID:", "+ICCID:", "^ICCID:"):
        if text.upper().startswith(prefix):
            text = text[len(prefix):]
            break
    m = _ICCID.match(_unquote(text.strip()))
    if m is None:
        raise ValueError(f"not an ICCID: {line!r}")
    return m.group(1)


@dataclass(frozen=True, slots=True)
class ServingCell:
    rat: ConnectionType
    state: str  # SEARCH | LIMSRV | NOCONN | CONNECT
    mcc: int = 0
    mnc: int = 0
    lac: int = 0  # LAC, or TAC on LTE / NR
    cell_id: int = 0
    timing_advance: int = 0  # GSM only: Quectel does not report the LTE TA here


def parse_qeng_servingcell(line: str) -> ServingCell:
    """Quectel ``AT+QENG="servingcell"`` (EC2x/EG2x/BG9x/RM5xx AT manuals).

    ``+QENG: "servingcell",<state>,"GSM",<mcc>,<mnc>,<lac>,<cellid>,<bsic>,<arfcn>,<band>,
    <rxlev>,<txp>,<rla>,<drx>,<c1>,<c2>,<gprs>,<tch>,<ts>,<ta>,...``;
    ``...,"WCDMA",<mcc>,<mnc>,<lac>,<cellid>,...``; ``...,"LTE",<is_tdd>,<mcc>,<mnc>,<cellid>,
    <pcid>,<earfcn>,<band>,<ul_bw>,<dl_bw>,<tac>,<rsrp>,...``; ``...,"NR5G-SA",<duplex>,<mcc>,
    <mnc>,<cellid>,<pcid>,<tac>,...``. LAC/TAC/cell id are hex. ``"SEARCH"`` has no cell.
    """
    f = [_unquote(x) for x in _fields(line, "+QENG:")]
    if len(f) < 2 or f[0] != "servingcell":
        raise ValueError(f"not a serving-cell answer: {line!r}")
    state = f[1]
    if len(f) < 3:
        return ServingCell(ConnectionType.UNKNOWN, state)
    rat = f[2]
    if rat == "GSM" and len(f) >= 20:
        ta = int(f[19]) if f[19].isdigit() else 0
        return ServingCell(ConnectionType.G2, state, int(f[3]), int(f[4]), int(f[5], 16),
                           int(f[6], 16), ta)
    if rat == "WCDMA" and len(f) >= 7:
        return ServingCell(ConnectionType.G3, state, int(f[3]), int(f[4]), int(f[5], 16),
                           int(f[6], 16))
    if rat == "LTE" and len(f) >= 13:
        return ServingCell(ConnectionType.G4, state, int(f[4]), int(f[5]), int(f[12], 16),
                           int(f[6], 16))
    if rat == "NR5G-SA" and len(f) >= 9:
        return ServingCell(ConnectionType.G5, state, int(f[4]), int(f[5]), int(f[8], 16),
                           int(f[6], 16))
    raise ValueError(f"unknown serving-cell layout: {line!r}")
