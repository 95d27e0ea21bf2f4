"""The outbox's typed surface, shared by producers (sources, DMS, orders) and the uplink.

Kept apart from the SQLite implementation (:mod:`agent.store.outbox`) so the uplink and the
producers depend on this small contract only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent.errors import StorageError
from agent.events import Event, FileRef


class DiskFullError(StorageError):
    """The filesystem (or SQLite) ran out of space; nothing already committed was lost."""


@dataclass(frozen=True, slots=True)
class StorageFault:
    """A storage fault the runtime should report as hardware event STORAGE_FAULT (11).

    Given to the ``on_storage_fault`` callback of :class:`agent.store.database.Database` (or
    :class:`agent.store.outbox.Outbox`) once per episode, not once per refused event.
    """

    kind: str  # "disk_full": the data partition filled (the episode ends when space is back)
    detail: str  # one line for the event's details
    episode: int  # 1, 2, ... disk-full episodes since the database was opened


@dataclass(frozen=True, slots=True)
class Attachment:
    """Bytes (or a file to move in) to upload before the event; ``ref.filename`` is the key.

    The main images/clips are named in ``Event.files``; derived files (``_thumbnail.png``,
    ``_filecrop.png``) ride along as extra attachments of the same event.
    """

    ref: FileRef
    data: bytes | Path
    content_type: str = "image/png"


@dataclass(frozen=True, slots=True)
class StoredFile:
    file_id: int
    bucket: str
    key: str
    path: Path
    content_type: str
    size: int
    uploaded: bool


@dataclass(frozen=True, slots=True)
class StoredEvent:
    row_id: int
    ulid: str
    sequence_number: int
    priority: int
    envelope: bytes  # the JSON envelope, UTF-8, exactly as it goes on the wire
    files: tuple[StoredFile, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: dict[int, int] = field(default_factory=dict)  # per priority lane
    in_flight: int = 0
    bytes_on_disk: int = 0
    evicted: dict[int, int] = field(default_factory=dict)  # per lane, since the db was created
    dead_letters: int = 0
    next_sequence: int = 0
    quarantined: tuple[str, ...] = ()
    # Added after the first cut (defaults keep older call sites valid):
    used_bytes: int = 0  # what the byte cap counts (see docs/outbox.md)
    max_bytes: int = 0  # the cap
    over_cap: bool = False  # only alarms (and rows in flight) left and still above the cap
    recovered_in_flight: int = 0  # rows found in flight at open (crash) and made pending again
    disk_full: bool = False  # the disk filled: lower lanes refused, the uplink can still drain
    disk_full_episodes: int = 0  # disk-full episodes since the database was opened
    refused: dict[int, int] = field(default_factory=dict)  # per lane, on a full disk, since open
    # per lane: when its oldest pending event was stored (epoch ms); age = now - this
    oldest_pending_ms: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event the cloud refused as invalid: kept for diagnosis, never re-sent on its own."""

    row_id: int
    ulid: str
    sequence_number: int
    priority: int
    failed_ms: int
    error: str


class OutboxQueue(Protocol):
    """What the uplink needs: take events, settle them. Blocking: run them in an executor."""

    def claim(self, limit: int) -> Sequence[StoredEvent]: ...
    def mark_file_uploaded(self, file_id: int) -> None: ...
    def ack(self, row_ids: Sequence[int]) -> None: ...
    def release(self, row_ids: Sequence[int]) -> None: ...
    def dead_letter(self, row_id: int, error: str) -> None: ...


class OutboxReader(Protocol):
    """Read-only views (status, diagnostics): changes nothing. Blocking."""

    def stats(self) -> OutboxStats: ...
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...


class EventSink(Protocol):
    """What producers need: ``await put(...)`` returns once the event is durable on disk."""

    async def put(self, event: Event, attachments: Sequence[Attachment] = ()) -> int: ...
