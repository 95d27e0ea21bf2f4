"""The 27.007 / Quectel parsers and the mmcli JSON parser, on literal answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.events import CellLink
from agent.events import ConnectionType as C
from agent.sources.modem.mmcli import parse_location, parse_modem, parse_sim
from agent.sources.modem.parse import (
    csq_dbm,
    csq_percent,
    parse_cops,
    parse_csq,
    parse_iccid,
    parse_qeng_servingcell,
    parse_reg,
)
from agent.sources.readings import RegistrationState as R

DATA = Path(__file__).parent / "data"


def load(name: str) -> object:
    return json.loads((DATA / name).read_text())


def test_csq_and_its_normalisation_match_modemmanager() -> None:
    assert parse_csq("+CSQ: 23,99") == 23
    assert [csq_percent(c) for c in (0, 9, 10, 20, 31, 99, None)] == [0, 29, 32, 64, 100, 0, 0]
    assert (csq_dbm(0), csq_dbm(31), csq_dbm(99)) == (-113, -51, None)
    for bad in ("+CSQ: 45,99", "+CSQ: x,99", "+CSQ: 20", "+CREG: 1"):
        with pytest.raises(ValueError, match=r"."):
            parse_csq(bad)


def test_registration_read_answers_and_urcs_told_apart() -> None:
    r = parse_reg('+CEREG: 2,1,"1A2B","01C2D3E4",7', "+CEREG:")
    assert (r.state, r.lac, r.cell_id, r.rat) == (R.HOME, 0x1A2B, 0x01C2D3E4, C.G4)
    assert parse_reg('+CREG: 2,5,"00A1","1234",0', "+CREG:").state is R.ROAMING
    assert parse_reg("+CREG: 2,2", "+CREG:").state is R.SEARCHING
    assert parse_reg("+CREG: 0,3", "+CREG:").state is R.DENIED
    assert parse_reg('+CREG: 2,1,"00A1","1234",2', "+CREG:").rat is C.G3
    assert parse_reg('+CEREG: 2,1,"00A1","1234",13', "+CEREG:").rat is C.G5
    for urc in ("+CREG: 1", '+CEREG: 1,"1A2B","01C2D3E4",7'):
        with pytest.raises(ValueError, match=r"."):
            parse_reg(urc, urc.split()[0])


def test_operator_numeric_and_not_registered() -> None:
    op = parse_cops('+COPS: 0,2,"40101",7')
    assert (op.mcc, op.mnc, op.rat) == (401, 1, C.G4)
    op = parse_cops('+COPS: 0,2,"310410",7')  # a 3-digit MNC
    assert (op.mcc, op.mnc) == (310, 410)
    assert parse_cops("+COPS: 0").mcc == 0
    assert parse_cops('+COPS: 0,0,"Beeline KZ",7').name == "Beeline KZ"
    with pytest.raises(ValueError, match=r"."):
        parse_cops('+COPS: 0,2,"4O1O1",7')


def test_iccid_in_every_dialect() -> None:
    for line in ("+CCID: 89860012345678901234", "+QCCID: 89860012345678901234F",
                 "+ICCID: 89860012345678901234", "89860012345678901234",
                 '+CCID: "89860012345678901234"'):
        assert parse_iccid(line) == "89860012345678901234"
    with pytest.raises(ValueError, match=r"."):
        parse_iccid("+CME ERROR: 10")


def test_quectel_serving_cell_per_rat() -> None:
    lte = parse_qeng_servingcell('+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,'
                                 '6300,20,3,3,603,-104,-9,-78,11,23')  # fmt: skip
    assert (lte.rat, lte.mcc, lte.mnc, lte.cell_id, lte.lac) == (C.G4, 214, 1, 0x7676A09, 0x603)
    gsm = parse_qeng_servingcell('+QENG: "servingcell","NOCONN","GSM",401,01,1A2B,C2D3,22,62,0,'
                                 '-65,30,-65,0,52,52,1,-,-,5,-,-,-,-,-,-,-')  # fmt: skip
    assert (gsm.rat, gsm.lac, gsm.cell_id, gsm.timing_advance) == (C.G2, 0x1A2B, 0xC2D3, 5)
    wcdma = parse_qeng_servingcell('+QENG: "servingcell","NOCONN","WCDMA",401,01,1A2B,C2D3E,'
                                   '10713,352,3,-85,-6,-,-,-,-,-')  # fmt: skip
    assert (wcdma.rat, wcdma.cell_id) == (C.G3, 0xC2D3E)
    nr = parse_qeng_servingcell('+QENG: "servingcell","NOCONN","NR5G-SA","TDD",401,01,'
                                'ABC123,106,1A2B,630000,78,12,-90,-11,15,1,-')  # fmt: skip
    assert (nr.rat, nr.lac, nr.cell_id) == (C.G5, 0x1A2B, 0xABC123)
    assert parse_qeng_servingcell('+QENG: "servingcell","SEARCH"').rat is C.UNKNOWN
    with pytest.raises(ValueError, match=r"."):
        parse_qeng_servingcell('+QENG: "neighbourcell intra","LTE",6300,188')


def test_mmcli_modem_sim_and_location_documents() -> None:
    snap = parse_modem(load("mmcli_modem_lte.json"))
    assert (snap.registration, snap.cell.connection_type, snap.cell.signal_pct) == (R.HOME, C.G4,
                                                                                     67)
    assert (snap.cell.mcc, snap.cell.mnc, snap.operator) == (401, 1, "Beeline KZ")
    assert snap.sim_path == "/org/freedesktop/ModemManager1/SIM/0"
    assert parse_sim(load("mmcli_sim.json")) == "89860012345678901234"
    assert parse_location(load("mmcli_location.json")) == (401, 1, 0x1A2B, 0x01C2D3E4)
    lost = parse_modem(load("mmcli_modem_searching.json"))
    assert (lost.registration, lost.cell) == (R.SEARCHING, CellLink())
    with pytest.raises(ValueError, match=r"."):
        parse_modem({"error": "no modems"})
    assert parse_location({"modem": {"location": {"3gpp": {"lac": "--"}}}}) == (0, 0, 0, 0)
