"""The ``[orders.devices]`` settings: which backend drives the relay, the door lock, Wi-Fi and
reboot, and how (GPIO lines, state files). ``sim`` everywhere by default: a box must opt in to
touching real hardware."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from agent.section import GpioLine, StrictModel

# GpioLine (agent.section) is the relay's and the door lock's output line.
__all__ = ["ActuatorSettings", "DeviceBackends", "GpioLine", "RebootSettings", "WifiSettings"]


class ActuatorSettings(StrictModel):
    backend: Literal["sim", "gpio"] = "sim"
    # gpio: the output line driving the fuel/ignition relay (1 = engine stopped) and the door
    # lock (1 = locked). A missing line makes that actuator absent (its commands FAIL with why).
    relay: GpioLine | None = None
    door_lock: GpioLine | None = None
    # sim: JSON file the vehicle simulator and the tests read back ({"relay": 0, ...}).
    sim_state_file: Path = Path("var/lib/edge-agent/actuators.json")
    # set(): the backend must confirm (read back) the target within this long.
    set_timeout_s: float = Field(2.0, gt=0, le=30)


class WifiSettings(StrictModel):
    backend: Literal["sim", "nmcli"] = "sim"
    # Where the networks added by orders are remembered (0600: it holds the passphrases).
    state_file: Path = Path("var/lib/edge-agent/wifi.json")
    interface: str | None = Field(None, max_length=32)  # nmcli: ifname; None = any
    timeout_s: float = Field(20.0, gt=0, le=120)


class RebootSettings(StrictModel):
    # logind: D-Bus (busctl) with the polkit rule the install sets up; systemctl: `systemctl
    # reboot`; sim: writes a marker file (tests, the demo).
    backend: Literal["sim", "logind", "systemctl"] = "sim"
    sim_file: Path = Path("var/lib/edge-agent/reboot-requested")
    timeout_s: float = Field(10.0, gt=0, le=120)


class DeviceBackends(StrictModel):
    actuators: ActuatorSettings = ActuatorSettings()
    wifi: WifiSettings = WifiSettings()
    reboot: RebootSettings = RebootSettings()
