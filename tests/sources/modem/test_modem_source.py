"""ModemSource end to end: the AT backend over a real pty with the simulated modem, and the
ModemManager backend through a stand-in ``mmcli`` program printing recorded JSON."""

from __future__ import annotations

import asyncio
import shutil
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.events import CellLink
from agent.events import ConnectionType as C
from agent.sim.modem import CellState, ModemResponder
from agent.sim.pty import PtyPort
from agent.sources.modem import ModemSource
from agent.sources.readings import CellularStatus, RegistrationState
from agent.sources.settings import ModemSettings
from tests.sources.harness import running, wait_until

DATA = Path(__file__).parent / "data"


class SimModem:
    def __init__(self, link: Path) -> None:
        self.cell = CellState()
        self.responder = ModemResponder(lambda: self.cell)
        self.port = self.responder.attach(PtyPort(link, self.responder))

    def set(self, **changes: object) -> None:
        self.cell = replace(self.cell, **changes)  # type: ignore[arg-type]
        self.responder.poll_urcs()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimModem]:
    m = SimModem(tmp_path / "modem")
    yield m
    m.port.close()


def settings(sim: SimModem, **kw: object) -> ModemSettings:
    return ModemSettings.model_validate({
        "backend": "at", "port": str(sim.port.link), "poll_interval_s": 0.05,
        "command_timeout_s": 0.5, "reconnect_s": 0.1, **kw})  # fmt: skip


def cells(out: list[object]) -> list[CellularStatus]:
    return [r for r in out if isinstance(r, CellularStatus)]


async def test_a_round_fills_every_cellular_field(sim: SimModem, tmp_path: Path) -> None:
    src = ModemSource(settings(sim, dialect="quectel", iccid_file=tmp_path / "iccid"))
    async with running(src) as out:
        await wait_until(lambda: len(cells(out)) >= 2)
    first, second = cells(out)[:2]
    assert out.health()[0] is True
    assert first.registration is RegistrationState.HOME and first.cell.connection_type == C.G4
    assert (first.cell.signal_pct, first.csq, first.rssi_dbm) == (64, 20, -73)
    assert first.cell == CellLink(C.G4, 64, 401, 1, cell_id=0x01C2D3E4, location_area_code=0x1A2B)
    assert (first.iccid, first.stored_iccid) == ("89860012345678901234", "")
    assert second.stored_iccid == "89860012345678901234"  # persisted after the first
    assert (tmp_path / "iccid").read_text().strip() == "89860012345678901234"
    cmds = [c.decode() for c in sim.port.commands]
    assert cmds[:6] == ["AT", "ATE0", "AT+CMEE=1", "AT+CREG=2", "AT+CEREG=2", "AT+COPS=3,2"]
    assert {"AT+CSQ", "AT+CREG?", "AT+CEREG?", "AT+COPS?", 'AT+QENG="servingcell"',
            "AT+QCCID"} <= set(cmds)


async def test_gsm_timing_advance_and_a_generic_modem(sim: SimModem) -> None:
    sim.set(rat="2g", timing_advance=7)
    async with running(ModemSource(settings(sim, dialect="quectel"))) as out:
        await wait_until(lambda: len(cells(out)) >= 1)
    r = cells(out)[0].cell
    assert (r.connection_type, r.timing_advance, r.location_area_code) == (C.G2, 7, 0x1A2B)
    sim.responder.creg_n = sim.responder.cereg_n = 0
    async with running(ModemSource(settings(sim))) as out:  # 27.007 only: no QENG, no TA
        await wait_until(lambda: len(cells(out)) >= 1)
    assert cells(out)[0].cell.timing_advance == 0 and cells(out)[0].cell.connection_type == C.G2
    assert 'AT+QENG="servingcell"' not in {c.decode() for c in sim.port.commands[-12:]}


async def test_coverage_lost_and_back(sim: SimModem) -> None:
    async with running(ModemSource(settings(sim))) as out:
        await wait_until(lambda: len(cells(out)) >= 1)
        sim.set(registered=False, csq=2)
        await wait_until(lambda: not cells(out)[-1].registered)
        sim.set(registered=True, csq=25)
        await wait_until(lambda: cells(out)[-1].registered)
    lost = next(r for r in cells(out) if not r.registered)
    assert lost.registration is RegistrationState.SEARCHING
    assert lost.cell == CellLink(signal_pct=6)
    assert cells(out)[-1].cell.signal_pct == 80


async def test_garbage_and_urcs_are_counted_and_survived(sim: SimModem) -> None:
    src = ModemSource(settings(sim))
    async with running(src) as out:
        await wait_until(lambda: len(cells(out)) >= 1)
        for _ in range(5):
            sim.responder.inject(b"\xff\xfe\x00garbage\x07\r\n+QIND: \"csq\",3,99\r\nRING\r\n")
            sim.set(registered=not sim.cell.registered)  # +CREG/+CEREG URCs
            await asyncio.sleep(0.05)
        sim.set(registered=True)
        n = len(cells(out))
        await wait_until(lambda: len(cells(out)) >= n + 3)
    diag = src.diagnostics()
    at = diag["at"]
    assert isinstance(at, dict)
    assert at["garbage_lines"] >= 5 and at["urcs"] >= 10
    assert out.health() == [True]  # never reported down
    assert cells(out)[-1].registered and cells(out)[-1].cell.mcc == 401


async def test_a_silent_modem_is_a_fault_and_its_return_recovers(sim: SimModem) -> None:
    src = ModemSource(settings(sim, max_consecutive_timeouts=2))
    async with running(src) as out:
        await wait_until(lambda: len(cells(out)) >= 1)
        sim.port.responder = lambda _line: None  # type: ignore[assignment]  # deaf modem
        await wait_until(lambda: out.health()[-1:] == [False], within=10)
        sim.port.responder = sim.responder
        await wait_until(lambda: out.health()[-1:] == [True], within=10)
        n = len(cells(out))
        await wait_until(lambda: len(cells(out)) > n)
    assert "not answering" in str(src.diagnostics()["last_error"])


async def test_an_unplugged_modem_is_a_fault_and_replug_recovers(sim: SimModem) -> None:
    src = ModemSource(settings(sim))
    async with running(src) as out:
        await wait_until(lambda: len(cells(out)) >= 1)
        sim.port.unplug()
        await wait_until(lambda: out.health()[-1:] == [False], within=10)
        sim.port.plug()
        await wait_until(lambda: out.health()[-1:] == [True], within=10)
    assert src.diagnostics()["rounds"] >= 1


async def test_sim_swapped_across_a_restart_carries_the_stored_iccid(sim: SimModem,
                                                                     tmp_path: Path) -> None:
    store = tmp_path / "state" / "iccid"
    store.parent.mkdir()
    store.write_text("89860000000000000001\n")
    async with running(ModemSource(settings(sim, iccid_file=store))) as out:
        await wait_until(lambda: len(cells(out)) >= 2)
    first, second = cells(out)[:2]
    assert (first.iccid, first.stored_iccid) == ("89860012345678901234", "89860000000000000001")
    assert second.stored_iccid == "89860012345678901234"


# --- ModemManager ---------------------------------------------------------------------------

def fake_mmcli(tmp_path: Path, modem_json: str) -> Path:
    """A stand-in ``mmcli`` printing the recorded documents for the arguments it gets."""
    for name in ("mmcli_sim.json", "mmcli_location.json"):
        shutil.copy(DATA / name, tmp_path / name)
    shutil.copy(DATA / modem_json, tmp_path / "modem.json")
    script = tmp_path / "mmcli"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {tmp_path}/calls
case "$*" in
  *--location-get*) cat {tmp_path}/mmcli_location.json ;;
  *"-i "*) cat {tmp_path}/mmcli_sim.json ;;
  *"-m any"*) cat {tmp_path}/modem.json ;;
  *) echo "error: couldn't find modem" >&2; exit 1 ;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


async def test_modemmanager_backend(tmp_path: Path) -> None:
    exe = fake_mmcli(tmp_path, "mmcli_modem_lte.json")
    s = ModemSettings(backend="mmcli", mmcli=str(exe), poll_interval_s=0.05, reconnect_s=0.05)
    src = ModemSource(s)
    async with running(src) as out:
        await wait_until(lambda: len(cells(out)) >= 2)
        shutil.copy(DATA / "mmcli_modem_searching.json", tmp_path / "modem.json")
        await wait_until(lambda: not cells(out)[-1].registered)
        exe.write_text("#!/bin/sh\necho 'error: ModemManager not running' >&2\nexit 1\n")
        await wait_until(lambda: out.health()[-1:] == [False])
    r = cells(out)[0]
    assert r.registration == RegistrationState.HOME
    assert r.cell == CellLink(C.G4, 67, 401, 1, cell_id=0x01C2D3E4, location_area_code=0x1A2B)
    assert r.iccid == "89860012345678901234"
    lost = cells(out)[-1]
    assert (lost.cell.connection_type, lost.cell.mcc, lost.cell.cell_id) == (0, 0, 0)
    assert "ModemManager not running" in str(src.diagnostics()["last_error"])
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[:3] == ["-J -m any", "-J -i /org/freedesktop/ModemManager1/SIM/0",
                         "-J -m any --location-get"]
