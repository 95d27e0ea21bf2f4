"""Camera evidence on telemetry alarms (harsh braking, collision, SOS...), as dashcams attach it.

The rules decide an alarm at time ``t``; this component takes the events whose type is in
``[vision.evidence] telemetry_alarms``, waits for the clip's end (``clip_after_s``), renders
the road (``cam0``) and driver (``cam1``) images, thumbnails and clip from the ring buffers
exactly as for vision events (CONTRACT §2), and publishes the event with its files. Without
cameras nothing is taken: the event goes out at once. An event never waits for ever and is
never lost: if its evidence fails, or the agent stops while it waits, it goes out without files.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from agent.events import Event, TelemetryDetail, TelemetryEventType
from agent.runtime.component import Component
from agent.runtime.publisher import Publisher
from agent.vision.evidence import EvidenceRecorder

log = logging.getLogger(__name__)


class AlarmEvidence(Component):
    def __init__(self, recorder: EvidenceRecorder, publisher: Publisher,
                 types: Iterable[TelemetryEventType]) -> None:
        super().__init__("alarm-evidence")
        self._recorder = recorder
        self._publisher = publisher
        self.types = frozenset(types)
        self._waiting: dict[str, Event] = {}  # ulid -> event whose evidence is being made
        self._tasks: set[asyncio.Task[None]] = set()
        self.with_files = 0
        self.without_files = 0
        self.closed = False

    def wants(self, event: Event) -> bool:
        d = event.detail
        return isinstance(d, TelemetryDetail) and d.event_type in self.types

    def submit(self, event: Event) -> None:
        """Take ``event`` (the caller checked :meth:`wants`); it is published when its evidence
        is ready. Called on the event loop."""
        if self.closed:  # stopping: no evidence any more, the event goes at once
            self.without_files += 1
            self._publisher.publish([event])
            return
        self._waiting[event.ulid] = event
        task = asyncio.create_task(self._one(event), name=f"evidence:{event.ulid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        self.tracker.ok()
        self.closed = False
        try:
            await asyncio.Event().wait()
        finally:
            self.closed = True
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._release_all()

    async def _one(self, event: Event) -> None:
        try:
            evidence = await self._recorder.event_evidence(event.ulid,
                                                           event.timestamp_ms / 1000)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("alarm %s: no evidence (%s); sent without files", event.ulid, exc)
            self._release(event.ulid)
            return
        if self._waiting.pop(event.ulid, None) is None:
            return
        for note in evidence.notes:
            log.info("alarm %s evidence: %s", event.ulid, note)
        self.with_files += bool(evidence.files)
        self.without_files += not evidence.files
        self.tracker.activity()
        with contextlib.suppress(Exception):  # the publisher counts and logs a failed store
            await self._publisher.put(dataclasses.replace(event, files=evidence.files),
                                      evidence.attachments)

    def _release(self, ulid: str) -> None:
        event = self._waiting.pop(ulid, None)
        if event is not None:
            self.without_files += 1
            self._publisher.publish([event])

    def _release_all(self) -> None:
        for ulid in list(self._waiting):
            self._release(ulid)

    def status(self) -> dict[str, Any]:
        return {"types": sorted(t.name for t in self.types), "waiting": len(self._waiting),
                "with_files": self.with_files, "without_files": self.without_files}
