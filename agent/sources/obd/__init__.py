"""OBD-II source: vehicle signals and stored trouble codes through an ELM327 serial adapter.

:class:`ObdSource` is what the agent runs (``ObdSource.from_settings(cfg.vehicle.obd)``);
:class:`Elm327` is the project's own small client (the GPL ``obd`` package is not used).
"""

from agent.sources.obd.elm327 import Elm327, ElmError
from agent.sources.obd.source import ObdSource

__all__ = ["Elm327", "ElmError", "ObdSource"]
