"""An :class:`~agent.store.api.EventSink` that wakes the uplink after each durable put."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.events import Event
from agent.store.api import Attachment, EventSink


class NotifyingSink:
    """Wraps the outbox writer: ``put`` stores durably, then calls ``notify`` (``Uplink.notify``).

    Producers get this instead of the bare writer, so a new event leaves within one round trip
    instead of one poll interval.
    """

    def __init__(self, sink: EventSink, notify: Callable[[], None]) -> None:
        self._sink = sink
        self._notify = notify

    async def put(self, event: Event, attachments: Sequence[Attachment] = ()) -> int:
        seq = await self._sink.put(event, attachments)
        self._notify()
        return seq
