"""Actuators: set with read-back and timeout, the sim backend's state file, the gpio backend's
lazy import, Wi-Fi secrets kept private, reboot backends."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.actuators.base import (
    BACKENDS,
    ActuatorError,
    SimActuator,
    SimState,
    build_actuators,
)
from agent.actuators.reboot import LOGIND, LogindReboot, SimReboot, build_reboot
from agent.actuators.settings import (
    ActuatorSettings,
    GpioLine,
    RebootSettings,
    WifiSettings,
)
from agent.actuators.wifi import NmcliWifi, SimWifi, WifiError


def test_the_registry_is_a_plain_dict_of_backends() -> None:
    assert set(BACKENDS) == {"sim", "gpio"}


def test_sim_relay_writes_the_state_file_the_simulator_reads(tmp_path: Path) -> None:
    acts = build_actuators(ActuatorSettings(sim_state_file=tmp_path / "act.json"))
    assert set(acts) == {"relay", "door_lock"}
    assert acts["relay"].set(1) == 1
    acts["door_lock"].set(1)
    acts["door_lock"].set(0)
    assert json.loads((tmp_path / "act.json").read_text()) == {"door_lock": 0, "relay": 1}
    assert os.stat(tmp_path / "act.json").st_mode & 0o777 == 0o600
    # a restarted agent knows the last commanded level
    again = build_actuators(ActuatorSettings(sim_state_file=tmp_path / "act.json"))
    assert again["relay"].level == 1


def test_a_stuck_relay_fails_on_read_back_within_the_timeout(tmp_path: Path) -> None:
    f = tmp_path / "act.json"
    f.write_text(json.dumps({"relay": 0, "stuck": ["relay"]}))
    relay = SimActuator("relay", SimState(f), timeout_s=0.1)
    with pytest.raises(ActuatorError, match=r"did not confirm 1 within 0\.1 s"):
        relay.set(1)
    assert not relay.healthy
    assert "did not confirm" in relay.status()["last_error"]


def test_gpio_backend_without_gpiod_says_what_to_install(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    real_import = builtins.__import__

    def no_gpiod(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("gpiod"):
            raise ImportError("No module named 'gpiod'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gpiod)
    with pytest.raises(ActuatorError, match="needs the gpiod package"):
        BACKENDS["gpio"](ActuatorSettings(backend="gpio", relay=GpioLine(line="RELAY")), "relay")
    # build_actuators logs and leaves it out; an unconfigured line is simply absent
    assert build_actuators(ActuatorSettings(backend="gpio", relay=GpioLine(line="17"))) == {}


def test_wifi_sim_keeps_passwords_0600_and_out_of_results(tmp_path: Path) -> None:
    wifi = SimWifi(WifiSettings(state_file=tmp_path / "wifi.json"))
    text = wifi.add("W1", "depot", "s3cret-passphrase")
    assert "s3cret" not in text
    assert os.stat(tmp_path / "wifi.json").st_mode & 0o777 == 0o600
    assert wifi.listed() == [{"wifiUlid": "W1", "ssid": "depot"}]
    assert "deleted" in wifi.delete("W1")
    assert "nothing to delete" in wifi.delete("W1")


def test_nmcli_loads_a_private_keyfile_and_never_puts_the_password_on_a_command_line(
        tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    nm = tmp_path / "nm"
    wifi = NmcliWifi(WifiSettings(backend="nmcli", state_file=tmp_path / "wifi.json"),
                     nm_dir=nm, run=run)
    wifi.add("01HW", "depot", "s3cret-passphrase")
    keyfile = nm / "edge-01HW.nmconnection"
    assert os.stat(keyfile).st_mode & 0o777 == 0o600
    assert "psk=s3cret-passphrase" in keyfile.read_text()
    assert calls == [["nmcli", "connection", "load", str(keyfile)]]
    assert all("s3cret" not in " ".join(c) for c in calls)
    wifi.delete("01HW")
    assert calls[-1] == ["nmcli", "connection", "delete", "id", "edge-01HW"]
    assert not keyfile.exists()


def test_nmcli_failure_is_a_clear_error(tmp_path: Path) -> None:
    def run(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 8, "", "Error: NetworkManager is not running.")

    wifi = NmcliWifi(WifiSettings(backend="nmcli", state_file=tmp_path / "wifi.json"),
                     nm_dir=tmp_path / "nm", run=run)
    with pytest.raises(WifiError, match="NetworkManager is not running"):
        wifi.add("W", "depot", "s3cret-passphrase")
    assert wifi.networks() == {}


def test_reboot_backends(tmp_path: Path) -> None:
    sim = build_reboot(RebootSettings(sim_file=tmp_path / "reboot"))
    assert isinstance(sim, SimReboot)
    assert sim.reboot() is True
    assert (tmp_path / "reboot").exists()
    calls: list[list[str]] = []

    def run(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    assert LogindReboot(RebootSettings(backend="logind"), run=run).reboot() is False
    assert calls == [list(LOGIND)]
