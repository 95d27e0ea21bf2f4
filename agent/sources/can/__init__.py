"""CAN source: J1939/FMS vehicle signals over an SLCAN serial adapter or SocketCAN.

:class:`CanSource` is what the agent runs (``CanSource.from_settings(cfg.vehicle.can)``);
:class:`J1939Decoder` decodes frames with the shipped DBC (``j1939_fms.dbc``) or another one.
"""

from agent.sources.can.decoder import J1939Decoder, default_dbc_path, load_dbc
from agent.sources.can.source import CanSource

__all__ = ["CanSource", "J1939Decoder", "default_dbc_path", "load_dbc"]
