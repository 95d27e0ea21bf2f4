"""The cellular modem monitor: registration, signal, serving cell and SIM (docs/modem.md).

Two real backends behind one source (:class:`~agent.sources.modem.source.ModemSource`): AT
commands on the modem's serial port (:mod:`agent.sources.modem.at`) and ModemManager's
``mmcli -J`` (:mod:`agent.sources.modem.mmcli`). Both produce
:class:`~agent.sources.readings.CellularStatus`.
"""

from agent.sources.modem.source import ModemSource

__all__ = ["ModemSource"]
