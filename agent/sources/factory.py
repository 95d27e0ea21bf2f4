"""The one place where each vehicle source's backend is chosen from config (python-can style).

A plain registry: section name → the module and class that builds it from its settings. Each
class's ``from_settings`` returns ``None`` for ``backend = "none"``; importing lazily keeps a
missing optional library (python-can, pyserial) from breaking the other sources.
"""

from __future__ import annotations

import importlib
from typing import Final

from agent.sources.readings import Source
from agent.sources.settings import VehicleSettings

# [vehicle.<section>] -> (module, class)
SOURCES: Final[dict[str, tuple[str, str]]] = {
    "gnss": ("agent.sources.gnss.source", "GnssSerialSource"),
    "can": ("agent.sources.can.source", "CanSource"),
    "obd": ("agent.sources.obd.source", "ObdSource"),
    "power": ("agent.sources.power", "PowerSource"),
    "motion": ("agent.sources.motion.source", "MotionSource"),
    "modem": ("agent.sources.modem.source", "ModemSource"),
    "gpio": ("agent.sources.gpio", "GpioSource"),
}


def build_sources(settings: VehicleSettings) -> list[Source]:
    """Every configured source; a backend of ``"none"`` is left out."""
    sources: list[Source] = []
    for section, (module, name) in SOURCES.items():
        section_settings = getattr(settings, section)
        if section_settings.backend == "none":
            continue
        cls = getattr(importlib.import_module(module), name)
        source = cls.from_settings(section_settings)
        if source is not None:
            sources.append(source)
    return sources
