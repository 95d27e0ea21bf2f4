"""The one place where each vehicle source's backend is chosen from config (python-can style)."""

from __future__ import annotations

from agent.sources.readings import Source
from agent.sources.settings import VehicleSettings


def build_sources(settings: VehicleSettings) -> list[Source]:
    """Every configured source; a backend of ``"none"`` is left out."""
    sources: list[Source] = []
    if settings.gnss.backend != "none":
        from agent.sources.gnss.source import GnssSerialSource

        gnss = GnssSerialSource.from_settings(settings.gnss)
        if gnss is not None:
            sources.append(gnss)
    if settings.can.backend != "none":
        from agent.sources.can.source import CanSource

        can = CanSource.from_settings(settings.can)
        if can is not None:
            sources.append(can)
    if settings.obd.backend != "none":
        from agent.sources.obd.source import ObdSource

        obd = ObdSource.from_settings(settings.obd)
        if obd is not None:
            sources.append(obd)
    if settings.power.backend != "none":
        from agent.sources.power import PowerSource

        power = PowerSource.from_settings(settings.power)
        if power is not None:
            sources.append(power)
    return sources
