"""Settings of the vehicle sources (the ``[gnss]``, ``[can]``, ``[obd]``, ``[power]`` sections)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class GnssSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: Literal["serial", "none"] = "none"
    port: str = "/dev/ttyACM0"
    baudrate: int = 9600


class CanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: Literal["slcan", "socketcan", "none"] = "none"
    channel: str = "/dev/ttyUSB0"
    bitrate: int = 250_000


class ObdSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: Literal["elm327", "none"] = "none"
    port: str = "/dev/ttyUSB1"
    baudrate: int = 38400


class VehicleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gnss: GnssSettings = GnssSettings()
    can: CanSettings = CanSettings()
    obd: ObdSettings = ObdSettings()
