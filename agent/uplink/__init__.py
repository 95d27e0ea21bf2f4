"""HTTPS uplink to the cloud's V3 API: auth, batched events, files through pre-signed URLs.

Public surface: :class:`Uplink` (``run``/``notify``/``drain_once``/``diagnostics``) and the two
exceptions the uplink raises from ``drain_once``. Producers reach it through the runtime's
publisher (:mod:`agent.runtime.publisher`), which wakes it after each commit. See docs/uplink.md.
"""

from agent.uplink.client import RejectedError, RetryLaterError
from agent.uplink.uplink import DrainResult, Uplink

__all__ = ["DrainResult", "RejectedError", "RetryLaterError", "Uplink"]
