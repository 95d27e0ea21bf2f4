"""ELM327 replies: whatever bytes arrive before the prompt, and the multi-frame assembler.

Property: ``Elm327.command`` returns lines or raises :class:`ElmError` (its timeout included);
``assemble`` never raises.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.sources.obd.elm327 import Elm327, ElmError, assemble

from .budget import tried
from .fakes import PlaybackPort
from .strategies import mutated

REPLIES = [
    b"010C\r41 0C 1A F8 \r\r>",
    b"41 0D 32\r\r>",
    b"SEARCHING...\r41 00 BE 3F B8 13\r\r>",
    b"NO DATA\r\r>",
    b"UNABLE TO CONNECT\r\r>",
    b"CAN ERROR\r\r>",
    b"BUS INIT: ...ERROR\r\r>",
    b"?\r\r>",
    b"STOPPED\r\r>",
    b"<DATA ERROR\r>",
    b"ERR94\r>",
    b"ELM327 v1.5\r\r>",
    b"014\r0: 49 02 01 31 44 34\r1: 47 50 30 30 52 35 35\r2: 42 31 32 33 34 35 36\r\r>",
    b"008\r0:43 03 01 43 01 96\r1: 02 34 00 00 00 00\r\r>",
    b"7E8 06 41 00 BE 3F B8 13\r7E9 06 41 00 80 00 00 01\r\r>",
    b"\x00\x00\xff41 0C\r>",
]

LINE = st.one_of(st.text(max_size=40), st.from_regex(r"[0-9A-F: ]{0,40}", fullmatch=True),
                 st.sampled_from(["014", "0:49 02 01", "1:31", "FFF", "000", "7:", "41 0C"]))


@given(st.one_of(st.binary(max_size=200), mutated(REPLIES)), st.integers(1, 16),
       st.sampled_from(["0100", "010C", "ATZ", "0902", "03"]))
def test_command_reply(reply: bytes, chunk: int, cmd: str) -> None:
    check_command_reply(reply, chunk, cmd)


def check_command_reply(reply: bytes, chunk: int, cmd: str) -> None:
    """The contract (shared with the atheris harness ``tests/fuzz/targets/elm327_reply.py``)."""
    tried("elm327_reply")
    elm = Elm327(PlaybackPort(reply, chunk), timeout_s=0.0)  # type: ignore[arg-type]
    try:
        lines = elm.command(cmd)
    except ElmError:
        return
    assert all(isinstance(x, str) for x in lines)
    assemble(lines)


@given(st.lists(LINE, max_size=12))
def test_assemble(lines: list[str]) -> None:
    check_assemble(lines)


def check_assemble(lines: list[str]) -> None:
    tried("elm327_assemble")
    for m in assemble(lines):
        assert isinstance(m, bytes)
