"""The ELM327 client over a real pty: prompts, echo, error replies, multi-frame answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import serial

from agent.sources.obd.elm327 import Elm327, ElmError, ElmTimeoutError, assemble
from tests.sources.obd.elm_peer import ElmPeer, sequence


def test_assemble_single_multi_frame_and_spaced_lines() -> None:
    assert assemble(["410D3C"]) == [bytes.fromhex("410D3C")]
    assert assemble(["41 0D 3C", "41 0D 3D"]) == [bytes.fromhex("410D3C"),
                                                  bytes.fromhex("410D3D")]
    assert assemble(["00C", "0:430501330171", "1:4158C158923400"]) == [
        bytes.fromhex("430501330171" "4158C1589234")]
    assert assemble(["00C", "0: 43 05 01 33 01 71", "1: 41 58 C1 58 92 34 00"]) == [
        bytes.fromhex("430501330171" "4158C1589234")]
    # VIN example of the ELM327 datasheet: 0x14 = 20 bytes in three frames
    vin = assemble(["014", "0: 49 02 01 31 44 34", "1: 47 50 30 30 52 35 35",
                    "2: 42 31 32 33 34 35 36"])
    assert vin == [bytes.fromhex("490201314434" "47503030523535" "42313233343536")]
    assert assemble(["00C", "0:430501330171"]) == [bytes.fromhex("430501330171")]  # cut short
    assert assemble(["NOISE", "4100"]) == [bytes.fromhex("4100")]


@pytest.fixture
def client(elm: ElmPeer) -> Iterator[Elm327]:
    port = serial.Serial(elm.port, 38400, timeout=0.05)
    c = Elm327(port, timeout_s=0.5)
    yield c
    c.close()


def test_initialize_turns_echo_linefeeds_spaces_and_headers_off(
    elm: ElmPeer, client: Elm327,
) -> None:
    assert client.initialize() == "ELM327 v1.5"
    assert [c for c in elm.commands if c] == ["ATZ", "ATE0", "ATL0", "ATS0", "ATH0", "ATSP0"]
    assert (elm.echo, elm.linefeed, elm.spaces, elm.headers) == (False, False, False, False)


def test_searching_is_skipped_and_multi_frame_dtcs_are_joined(client: Elm327) -> None:
    client.initialize()
    assert client.request(0x01, 0x00) == [bytes.fromhex("BE3FA813")]  # after SEARCHING...
    assert client.request(0x03) == [bytes.fromhex("0501330171" "4158C1589234")]
    assert client.protocol_number() == "A6"


def test_error_replies_raise_with_their_kind(elm: ElmPeer, client: Elm327) -> None:
    client.initialize()
    elm.responses["010D"] = sequence(["SEARCHING...", "NO DATA"], ["CAN ERROR"], ["STOPPED"],
                                     ["BUS BUSY"], ["<DATA ERROR"], ["ERR94"], ["7F0112"],
                                     ["61A6000F"], ["410D3C"])
    kinds = []
    for _ in range(8):
        with pytest.raises(ElmError) as info:
            client.request(0x01, 0x0D)
        kinds.append(info.value.kind)
    assert kinds == ["no_data", "can_error", "stopped", "bus_busy", "data_error", "err94",
                     "negative_response", "bad_response"]
    assert client.request(0x01, 0x0D) == [b"\x3c"]
    with pytest.raises(ElmError) as info:
        client.command("ATXYZ")
    assert info.value.kind == "unknown_command"
    elm.vehicle_off = True
    with pytest.raises(ElmError, match="UNABLE TO CONNECT"):
        client.request(0x01, 0x0C)


def test_a_silent_adapter_times_out_and_resync_recovers(elm: ElmPeer, client: Elm327) -> None:
    client.initialize()
    elm.mute = True
    with pytest.raises(ElmTimeoutError):
        client.request(0x01, 0x0D)
    elm.mute = False
    client.resync()
    assert client.request(0x01, 0x0D) == [b"\x3c"]


def test_a_clone_that_ignores_ats0_still_parses() -> None:
    peer = ElmPeer(honour_ats0=False)
    try:
        port = serial.Serial(peer.port, 38400, timeout=0.05)
        c = Elm327(port, timeout_s=0.5)
        c.initialize()
        assert peer.spaces
        assert c.request(0x01, 0x0C) == [bytes.fromhex("1AF8")]
        assert c.request(0x03) == [bytes.fromhex("0501330171" "4158C1589234")]
        c.close()
    finally:
        peer.unplug()


def test_stop_request_interrupts_a_wait(elm: ElmPeer) -> None:
    stop = threading.Event()
    port = serial.Serial(elm.port, 38400, timeout=0.05)
    c = Elm327(port, timeout_s=30.0, stop=stop)
    c.initialize()
    elm.mute = True
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(ElmError) as info:
        c.request(0x01, 0x0D)
    assert info.value.kind == "cancelled"
    c.close()
