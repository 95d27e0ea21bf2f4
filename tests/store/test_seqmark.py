"""The sequence mark: ``sequenceNumber`` never goes back, whatever happens to the database."""

from __future__ import annotations

import random
import stat
from pathlib import Path

import pytest

from agent.store.outbox import Outbox
from agent.store.seqmark import MARK_NAME, MODULUS, STRIDE, SequenceMark, read_mark, write_mark
from tests.store.events_factory import IDENTITY, alarm, periodic

DB = "outbox.sqlite3"


def _mark(data_dir: Path) -> int | None:
    return read_mark(data_dir / MARK_NAME)


def test_the_mark_stays_ahead_of_every_committed_number(data_dir: Path) -> None:
    rng = random.Random(3)
    last = 0
    with Outbox(data_dir, IDENTITY) as box:
        for _ in range(60):
            seqs = box.append_many([periodic(i) for i in range(rng.choice((1, 7, 300, 1500)))])
            last = max(last, *seqs)
            mark = _mark(data_dir)
            assert mark is not None and last < mark <= last + 1 + STRIDE + 1500
    assert stat.S_IMODE((data_dir / MARK_NAME).stat().st_mode) == 0o600


def test_a_normal_restart_continues_exactly_without_a_gap(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([periodic(i) for i in range(10)])
    with Outbox(data_dir, IDENTITY) as box:
        assert box.append(alarm(1)) == 11


def test_a_zero_length_database_continues_at_the_mark(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([periodic(i) for i in range(10)])
    (data_dir / DB).write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        (data_dir / f"{DB}{suffix}").unlink(missing_ok=True)
    with Outbox(data_dir, IDENTITY) as box:
        assert box.quarantined_at_open == ()  # an empty file is a new database
        assert box.append(alarm(1)) == 11 + STRIDE


def test_a_deleted_database_continues_at_the_mark(data_dir: Path) -> None:
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([periodic(i) for i in range(3)])
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"{DB}{suffix}").unlink(missing_ok=True)
    with Outbox(data_dir, IDENTITY) as box:
        assert box.append(alarm(1)) == 4 + STRIDE


def test_without_a_mark_a_quarantine_falls_back_to_the_salvaged_counter(data_dir: Path) -> None:
    # A database written before the mark existed (an upgrade): the old behaviour.
    with Outbox(data_dir, IDENTITY) as box:
        box.append_many([periodic(i) for i in range(2000)])
    (data_dir / MARK_NAME).unlink()
    size = (data_dir / DB).stat().st_size
    with (data_dir / DB).open("r+b") as f:  # scribble over b-tree pages, page 1 intact
        rng = random.Random(7)
        for n in range(3, size // 4096, 4):
            f.seek(n * 4096)
            f.write(rng.randbytes(4096))
    with Outbox(data_dir, IDENTITY) as box:
        assert len(box.quarantined_at_open) == 1
        assert box.append(alarm(1)) == 2001
        assert _mark(data_dir) == 2002 + STRIDE  # from now on kept


@pytest.mark.parametrize("content", [b"", b"12345", b"00000x0042\n", b"9999999999\n"])
def test_a_torn_or_foreign_mark_is_not_trusted(tmp_path: Path, content: bytes) -> None:
    (tmp_path / MARK_NAME).write_bytes(content)
    assert SequenceMark(tmp_path).value is None


def test_the_mark_wraps_with_the_sequence(tmp_path: Path) -> None:
    mark = SequenceMark(tmp_path)
    mark.cover(MODULUS - 10)
    assert mark.value == (MODULUS - 10 + STRIDE) % MODULUS  # past the wrap
    written = mark.value
    mark.cover(5)  # wrapped, still below the mark: no write
    assert mark.value == written
    mark.cover(written + 1)  # passed: bumped
    assert mark.value == written + 1 + STRIDE
    assert read_mark(tmp_path / MARK_NAME) == mark.value


def test_a_mark_that_cannot_be_written_does_not_refuse_events(
    data_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    (data_dir / MARK_NAME).mkdir(parents=True)  # a directory where the file goes: writes fail
    with Outbox(data_dir, IDENTITY) as box:
        assert box.append(alarm(1)) == 1
        assert box.append_many([periodic(i) for i in range(5)]) == [2, 3, 4, 5, 6]
    errors = [r for r in caplog.records if "cannot write the sequence mark" in r.getMessage()]
    assert len(errors) == 1  # said once, not per event


def test_a_mark_left_far_ahead_by_a_killed_batch_is_not_moved_back(tmp_path: Path) -> None:
    # A batch killed between its bump and its commit leaves the mark ahead by STRIDE + batch.
    write_mark(tmp_path / MARK_NAME, 5000)
    mark = SequenceMark(tmp_path)
    mark.cover(3000)
    assert mark.value == 5000 and read_mark(tmp_path / MARK_NAME) == 5000
