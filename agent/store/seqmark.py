"""A high-water mark of ``sequenceNumber`` kept beside the database (``outbox.seqmark``).

CONTRACT §1: the number survives restarts. It lives in the database's ``meta`` row, so when the
database is lost (moved aside as corrupt, recreated from a zero-length file) or a garbage
``-wal`` takes its last commits with it, the counter would go back and the cloud would get
numbers it already has under new ulids. The mark is a number every issued ``sequenceNumber``
is below: bumped by :data:`STRIDE` ahead, durably, *before* the transaction that would pass it
commits (one small in-place write + fdatasync per :data:`STRIDE` events), and read only after
such a loss: the counter then continues at the mark. The cloud sees a gap of at most
:data:`STRIDE` there, never a number twice.

Fixed width, overwritten in place: a bump needs no new block on a full disk, and the file is a
few bytes inside one sector. A mark that cannot be read is ignored (the caller falls back).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Final

from agent.store.files import FILE_MODE, fsync_dir

log = logging.getLogger(__name__)

MARK_NAME: Final = "outbox.seqmark"
STRIDE: Final = 1024  # numbers issued between two durable bumps
MODULUS: Final = 1 << 32  # sequenceNumber wraps here (CONTRACT §1)
_WIDTH: Final = 10  # digits of 2**32 - 1


class SequenceMark:
    """The mark file of one data directory. Not thread-safe: the outbox calls it inside its
    write transaction, under the database lock."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / MARK_NAME
        self._value = read_mark(self.path)
        self._failed = False

    @property
    def value(self) -> int | None:
        """Every ``sequenceNumber`` issued so far is below this one (None: no mark yet)."""
        return self._value

    def cover(self, next_seq: int) -> None:
        """Before committing numbers up to ``next_seq`` (exclusive): make sure the mark is at
        or past it, bumping it :data:`STRIDE` further when it is not. A failed write is logged
        once and the events are still stored: the mark is a safeguard, not a gate."""
        if self._value is not None and is_at_or_past(self._value, next_seq):
            return
        new = (next_seq + STRIDE) % MODULUS
        try:
            write_mark(self.path, new)
        except OSError as exc:
            if not self._failed:
                log.error("outbox: cannot write the sequence mark %s (%s); sequenceNumber may "
                          "repeat after a lost database", self.path, exc)
            self._failed = True
            return
        self._failed = False
        self._value = new


def is_at_or_past(mark: int, seq: int) -> bool:
    """``mark >= seq`` on the 2**32 circle (ahead by less than half of it). The mark may be
    ahead by more than :data:`STRIDE`: a batch killed after its bump and before its commit."""
    return (mark - seq) % MODULUS < MODULUS // 2


def read_mark(path: Path) -> int | None:
    try:
        text = path.read_bytes().decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if len(text) != _WIDTH or not text.isdigit():
        return None  # torn or foreign: not trusted
    value = int(text)
    return value if value < MODULUS else None


def write_mark(path: Path, value: int) -> None:
    """Overwrite the mark in place (created 0600 the first time) and make it durable."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        data = f"{value:0{_WIDTH}d}\n".encode("ascii")
        if os.pwrite(fd, data, 0) != len(data):
            raise OSError(f"short write to {path}")
        os.fdatasync(fd)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    if created:
        fsync_dir(path.parent)
