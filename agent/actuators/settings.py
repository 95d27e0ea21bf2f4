"""The ``[orders.devices]`` settings: which backend drives the relay, the door lock, Wi-Fi and
reboot, and how (GPIO lines, state files). ``sim`` everywhere by default: a box must opt in to
touching real hardware."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GpioLine(BaseModel):
    """One output line on a GPIO character device (libgpiod v2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    chip: str = Field("/dev/gpiochip0", min_length=1, max_length=256)
    # A line name from the device tree / gpio-line-names ("RELAY_ENGINE") or an offset ("17").
    line: str = Field(min_length=1, max_length=64)
    active_low: bool = False


class ActuatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["sim", "gpio"] = "sim"
    # gpio: the line driving the fuel/ignition relay (1 = engine stopped) and the door lock
    # (1 = locked). A missing line makes that actuator absent (its commands FAIL with why).
    relay: GpioLine | None = None
    door_lock: GpioLine | None = None
    # sim: JSON file the vehicle simulator and the tests read back ({"relay": 0, ...}).
    sim_state_file: Path = Path("var/lib/edge-agent/actuators.json")
    # set(): the backend must confirm (read back) the target within this long.
    set_timeout_s: float = Field(2.0, gt=0, le=30)


class WifiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["sim", "nmcli"] = "sim"
    # Where the networks added by orders are remembered (0600: it holds the passphrases).
    state_file: Path = Path("var/lib/edge-agent/wifi.json")
    interface: str | None = Field(None, max_length=32)  # nmcli: ifname; None = any
    timeout_s: float = Field(20.0, gt=0, le=120)


class RebootSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # logind: D-Bus (busctl) with the polkit rule the install sets up; systemctl: `systemctl
    # reboot`; sim: writes a marker file (tests, the demo).
    backend: Literal["sim", "logind", "systemctl"] = "sim"
    sim_file: Path = Path("var/lib/edge-agent/reboot-requested")
    timeout_s: float = Field(10.0, gt=0, le=120)


class DeviceBackends(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    actuators: ActuatorSettings = ActuatorSettings()
    wifi: WifiSettings = WifiSettings()
    reboot: RebootSettings = RebootSettings()
