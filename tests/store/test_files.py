"""Files beside the outbox: stored before the row commits, claimed with it, deleted on ack."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from agent.errors import StorageError
from agent.events import Bucket, FileRef, derived_key
from agent.store.api import Attachment
from agent.store.outbox import ROW_OVERHEAD, Outbox
from tests.store.events_factory import IDENTITY, alarm, vision


def _attachments(event_files: tuple[FileRef, ...], payload: bytes) -> list[Attachment]:
    main = event_files[0]
    thumb = FileRef(derived_key(main.filename, "thumbnail"), Bucket.IMAGES)
    return [Attachment(main, payload), Attachment(thumb, payload[:100])]


def _all_files(root: Path) -> set[Path]:
    return {Path(d, n) for d, _, names in os.walk(root) for n in names}


def test_attachments_are_stored_under_bucket_and_key_and_claimed_with_the_event(
    outbox: Outbox, data_dir: Path
) -> None:
    event = vision(1, with_file=True)
    payload = os.urandom(50_000)
    outbox.append(event, _attachments(event.files, payload))
    (stored,) = outbox.claim(1)
    main, thumb = stored.files
    assert main.path == data_dir / "files" / "v3-device-faces" / event.files[0].filename
    assert (main.bucket, main.key, main.size, main.uploaded) == (
        "v3-device-faces", event.files[0].filename, 50_000, False)
    assert main.path.read_bytes() == payload
    assert thumb.bucket == "v3-device-images"
    assert thumb.key.endswith("_cam1_thumbnail.png")
    assert thumb.path.read_bytes() == payload[:100]
    assert main.path.stat().st_mode & 0o777 == 0o600
    assert main.path.parent.stat().st_mode & 0o777 == 0o700
    assert outbox.stats().used_bytes >= 50_100


def test_uploaded_mark_survives_release_and_ack_deletes_the_files(outbox: Outbox) -> None:
    event = vision(1, with_file=True)
    outbox.append(event, _attachments(event.files, b"x" * 1000))
    (stored,) = outbox.claim(1)
    outbox.mark_file_uploaded(stored.files[0].file_id)
    outbox.release([stored.row_id])
    (again,) = outbox.claim(1)
    assert [f.uploaded for f in again.files] == [True, False]
    before = outbox.stats().used_bytes
    outbox.ack([again.row_id])
    assert not any(f.path.exists() for f in again.files)
    assert outbox.stats().used_bytes == before - (len(stored.envelope) + ROW_OVERHEAD + 1100)


def test_a_path_attachment_is_moved_in(outbox: Outbox, tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"\x00\x01" * 4096)
    event = vision(2, with_file=True)
    outbox.append(event, [Attachment(event.files[0], src, "video/mp4")])
    (stored,) = outbox.claim(1)
    assert not src.exists()
    assert stored.files[0].path.read_bytes() == b"\x00\x01" * 4096
    assert stored.files[0].content_type == "video/mp4"
    assert stored.files[0].path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("key", ["../escape.png", "/abs.png", "a//b.png", "a/./b.png", ""])
def test_a_bad_key_refuses_that_event_only(outbox: Outbox, data_dir: Path, key: str) -> None:
    bad = Attachment(FileRef(key, Bucket.IMAGES), b"data")
    good = alarm(2)
    results = outbox.append_batch([(alarm(1), [bad]), (good, ())])
    assert isinstance(results[0], StorageError)
    assert results[1] == 1
    assert [e.ulid for e in outbox.claim(5)] == [good.ulid]
    assert _all_files(data_dir / "files") == set()


def test_a_failed_transaction_removes_the_files_it_staged(outbox: Outbox, data_dir: Path,
                                                          tmp_path: Path) -> None:
    event = vision(3, with_file=True)
    src = tmp_path / "moved.png"
    src.write_bytes(b"png")
    outbox._conn.execute("PRAGMA query_only = 1")  # every write now fails inside SQLite
    with pytest.raises(StorageError):
        outbox.append(event, [Attachment(event.files[0], src)])
    outbox._conn.execute("PRAGMA query_only = 0")
    assert _all_files(data_dir / "files") == set()
    assert src.read_bytes() == b"png"  # handed back to the producer


def test_orphans_of_an_interrupted_write_are_swept_at_open(data_dir: Path) -> None:
    event = vision(4, with_file=True)
    with Outbox(data_dir, IDENTITY) as box:
        box.append(event, [Attachment(event.files[0], b"kept")])
    bucket_dir = data_dir / "files" / "v3-device-images"
    bucket_dir.mkdir(parents=True)
    (bucket_dir / "staged-but-never-committed.png").write_bytes(b"orphan")
    (bucket_dir / "x.png.tmp-deadbeef").write_bytes(b"torn")
    with Outbox(data_dir, IDENTITY) as box:
        (stored,) = box.claim(1)
        assert _all_files(data_dir / "files") == {stored.files[0].path}
        assert stored.files[0].path.read_bytes() == b"kept"


def test_files_of_a_dead_letter_are_deleted(outbox: Outbox) -> None:
    event = vision(5, with_file=True)
    outbox.append(event, [Attachment(event.files[0], b"img")])
    (stored,) = outbox.claim(1)
    outbox.dead_letter(stored.row_id, "invalid")
    assert not stored.files[0].path.exists()
    with sqlite3.connect(outbox.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 0


def test_write_atomic_replaces_the_file_privately_and_leaves_no_temporary(tmp_path: Path) -> None:
    from agent.store.files import write_atomic

    target = tmp_path / "odometer.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["odometer.json"]
