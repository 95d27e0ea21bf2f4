"""The one place where each vehicle source's backend is chosen from config (python-can style).

A plain registry: section name → the class that builds it from its settings, named
``module:Class`` as entry points are. Each class's ``from_settings`` returns ``None`` for
``backend = "none"``; importing lazily keeps a missing optional library (python-can, pyserial)
from breaking the other sources.
"""

from __future__ import annotations

import pkgutil
from typing import Final

from agent.sources.readings import Source
from agent.sources.settings import VehicleSettings

# [vehicle.<section>] -> module:Class
SOURCES: Final[dict[str, str]] = {
    "gnss": "agent.sources.gnss.source:GnssSerialSource",
    "can": "agent.sources.can.source:CanSource",
    "obd": "agent.sources.obd.source:ObdSource",
    "power": "agent.sources.power:PowerSource",
    "motion": "agent.sources.motion.source:MotionSource",
    "modem": "agent.sources.modem.source:ModemSource",
    "gpio": "agent.sources.gpio:GpioSource",
}


def build_sources(settings: VehicleSettings) -> list[Source]:
    """Every configured source; a backend of ``"none"`` is left out."""
    sources: list[Source] = []
    for section, target in SOURCES.items():
        section_settings = getattr(settings, section)
        if section_settings.backend == "none":
            continue
        cls = pkgutil.resolve_name(target)
        source = cls.from_settings(section_settings)
        if source is not None:
            sources.append(source)
    return sources
