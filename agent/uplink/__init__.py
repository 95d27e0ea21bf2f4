"""HTTPS uplink to the cloud's V3 API: auth, batched events, files through pre-signed URLs.

Public surface: :class:`Uplink` (``run``/``notify``/``drain_once``/``diagnostics``),
:class:`NotifyingSink` (wraps the outbox writer so each ``put`` wakes the uplink) and the two
exceptions the uplink raises from ``drain_once``. See docs/uplink.md.
"""

from agent.uplink.client import RejectedError, RetryLaterError
from agent.uplink.sink import NotifyingSink
from agent.uplink.uplink import DrainResult, Uplink

__all__ = ["DrainResult", "NotifyingSink", "RejectedError", "RetryLaterError", "Uplink"]
