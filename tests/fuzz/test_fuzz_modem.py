"""Modem: AT reply lines, the AT exchange on arbitrary bytes, and ``mmcli -J`` documents.

Property: the line parsers raise only ``ValueError`` (documented); ``AtModem.command`` returns
lines or raises ``AtError``/``AtTimeoutError``; the mmcli parsers raise only ``ValueError``
(``parse_modem`` without a modem object) on any JSON value.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.sources.modem.at import AtError, AtModem, AtTimeoutError
from agent.sources.modem.mmcli import parse_location, parse_modem, parse_sim
from agent.sources.modem.parse import (
    parse_cops,
    parse_csq,
    parse_iccid,
    parse_qeng_servingcell,
    parse_reg,
)

from .budget import tried
from .fakes import PlaybackPort
from .strategies import field_mutated, mutated

AT_LINES = [
    "+CSQ: 23,99", "+CSQ: 99,99",
    "+CREG: 0,1", "+CREG: 2,5,\"1A2B\",\"01C3D4E5\",7", "+CEREG: 2,1,\"00FE\",\"0A1B2C3D\",7",
    "+CGREG: 0,0",
    "+COPS: 0,0,\"Vodafone.de\",7", "+COPS: 0,2,\"26202\",7", "+COPS: 0",
    "+CCID: 8910042348144559360", "+QCCID: 89882280666027595893", "8910042348144559360F",
    "+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",262,02,1A2B3C4,123,1300,3,5,5,ABCD,-95,-10,-65,12,24",
    "+QENG: \"servingcell\",\"SEARCH\"",
    "+QENG: \"servingcell\",\"LIMSRV\",\"WCDMA\",262,01,1A2B,3C4D5E,10700,123,1,-90,-10,-,-,-,-,-",
]
PARSERS = [
    ("+CSQ", parse_csq),
    ("+CREG", lambda s: parse_reg(s, "+CREG")),
    ("+CEREG", lambda s: parse_reg(s, "+CEREG")),
    ("+CGREG", lambda s: parse_reg(s, "+CGREG")),
    ("+COPS", parse_cops),
    ("+CCID", parse_iccid),
    ("+QENG", parse_qeng_servingcell),
]


@given(st.one_of(st.text(max_size=80), field_mutated(AT_LINES),
                 mutated([s.encode() for s in AT_LINES]).map(lambda b: b.decode("latin-1"))))
def test_at_line_parsers(line: str) -> None:
    check_at_line(line)


def check_at_line(line: str) -> None:
    """The contract (shared with the atheris harness ``tests/fuzz/targets/at_lines.py``)."""
    tried("at_lines")
    for _prefix, parse in PARSERS:
        with contextlib.suppress(ValueError):
            parse(line)


REPLIES = [b"\r\n+CSQ: 23,99\r\n\r\nOK\r\n", b"AT+COPS?\r\r\n+COPS: 0,0,\"x\",7\r\n\r\nOK\r\n",
           b"\r\nERROR\r\n", b"\r\n+CME ERROR: 10\r\n", b"\r\n+CREG: 1\r\n\r\nRING\r\n\r\nOK\r\n"]


@given(st.one_of(st.binary(max_size=200), mutated(REPLIES)), st.integers(1, 16),
       st.sampled_from([None, "+CSQ", "+COPS"]))
def test_at_exchange(reply: bytes, chunk: int, prefix: str | None) -> None:
    check_at_exchange(reply, chunk, prefix)


def check_at_exchange(reply: bytes, chunk: int, prefix: str | None) -> None:
    tried("at_exchange")
    modem = AtModem(PlaybackPort(reply, chunk), timeout_s=0.0)  # type: ignore[arg-type]
    try:
        lines = modem.command("AT+CSQ", prefix)
    except (AtError, AtTimeoutError):
        return
    assert all(isinstance(x, str) for x in lines)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["--", "lte", "5g", "registered", "26202", "1A2B", "0xFFFE", "FFFF"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(["modem", "generic", "3gpp", "location", "sim", "properties", "iccid",
                         "access-technologies", "registration-state", "operator-code",
                         "operator-name", "signal-quality", "value", "state", "mcc", "mnc",
                         "lac", "tac", "cid"]) | st.text(max_size=6), kids, max_size=5),
    max_leaves=30)
SAMPLE = {"modem": {"generic": {"access-technologies": ["lte"], "signal-quality":
                                {"value": "67", "recent": "yes"}, "sim": "/org/x/SIM/0",
                                "state": "connected"},
                    "3gpp": {"registration-state": "home", "operator-code": "26202",
                             "operator-name": "Vodafone"},
                    "location": {"3gpp": {"mcc": "262", "mnc": "02", "lac": "FFFE",
                                          "tac": "1A2B", "cid": "01C3D4E5"}}},
          "sim": {"properties": {"iccid": "8910042348144559360"}}}


def _loads(b: bytes) -> Any:
    try:
        return json.loads(b.decode("utf-8", "replace"))
    except ValueError:
        return None


@given(JSON | st.builds(lambda d: {**SAMPLE, **d}, st.dictionaries(st.sampled_from(
    ["modem", "sim"]), JSON, max_size=2)) | mutated([json.dumps(SAMPLE).encode()]).map(
    _loads))
def test_mmcli_json(doc: Any) -> None:
    check_mmcli(doc)


def check_mmcli(doc: Any) -> None:
    tried("mmcli_json")
    with contextlib.suppress(ValueError):
        parse_modem(doc)
    assert isinstance(parse_sim(doc), str)
    assert all(isinstance(x, int) for x in parse_location(doc))

