"""A stand-in for the V3 cloud (CONTRACT.md §3), real HTTP over loopback, for tests and the demo.

Upload side: ``/auth/token``, ``POST /events``, ``POST /events/files/upload`` and pre-signed
``PUT``s. Read side exactly as the seed: ``POST /events/latest``,
``GET /events/devices/{devicesource}/events/search/time``, ``POST /events/files``.
Fault injection (``/admin/faults`` or ``--fault``) lets tests storm the agent. Everything
(events, files, the signing key) lives under ``--data DIR`` and survives a restart.
See docs/cloud.md.
"""

from .app import CloudConfig, create_app
from .server import CloudServer

__all__ = ["CloudConfig", "CloudServer", "create_app"]
