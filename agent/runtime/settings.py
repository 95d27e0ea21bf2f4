"""The ``[runtime]`` section: the control socket and the supervisor's shutdown budget."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agent.section import StrictModel


class RuntimeSettings(StrictModel):
    # The technician CLI's Unix socket; None = ``<storage.data_dir>/control.sock``. On a box the
    # unit's RuntimeDirectory gives /run/edge-agent/control.sock.
    control_socket: Path | None = None
    # Group allowed to talk to it (mode 0660); None = the agent's own group only.
    control_group: str | None = None
    # SIGTERM: how long the uplink may keep delivering what is stored before the agent exits
    # (systemd's TimeoutStopSec is 20 s; the rest of the shutdown needs well under 5 s).
    shutdown_deliver_s: float = Field(5.0, ge=0, le=60)
    # Test hooks over the control socket (``hang`` a component). Never on a vehicle.
    test_hooks: bool = False
