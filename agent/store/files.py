"""The outbox's files on disk: ``<data_dir>/files/<bucket>/<key>``, written crash-safely.

A file is staged (written to a temporary name, fsynced, renamed into place, its directory
fsynced) *before* the row naming it commits, so a committed row never points at a missing or
torn file. A crash between staging and commit leaves an unreferenced file, which
:func:`sweep_orphans` removes at the next open. Deletions happen after the commit that removed
the row, for the same reason.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import StorageError
from agent.store.api import DiskFullError

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
TMP_MARK = ".tmp-"


def location(root: Path, bucket: str, key: str) -> Path:
    """Where ``bucket``/``key`` lives under ``root``; refuses keys that would escape it."""
    parts = key.split("/")
    if not bucket or "/" in bucket or bucket in (".", ".."):
        raise StorageError(f"invalid bucket name {bucket!r}")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid file key {key!r}")
    if TMP_MARK in parts[-1]:
        raise StorageError(f"invalid file key {key!r} (reserved {TMP_MARK!r})")
    return root.joinpath(bucket, *parts)


def ensure_dir(path: Path) -> None:
    """Create ``path`` and missing parents as 0700, fsyncing each parent that gained an entry."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class StagedFile:
    """A file in its final place, durable, not yet referenced by a committed row."""

    path: Path
    size: int
    moved_from: Path | None = None  # the producer's file, renamed in (put back on failure)
    unlink_after_commit: Path | None = None  # the producer's file, copied across filesystems

    def undo(self) -> None:
        """The row did not commit: remove the file (or hand a moved-in file back)."""
        try:
            if self.moved_from is not None:
                os.replace(self.path, self.moved_from)
            else:
                self.path.unlink(missing_ok=True)
        except OSError as exc:  # best effort: the orphan sweep catches what is left
            log.warning("could not undo staged file %s: %s", self.path, exc)

    def committed(self) -> None:
        if self.unlink_after_commit is not None:
            self.unlink_after_commit.unlink(missing_ok=True)


def stage(dest: Path, data: bytes | Path) -> StagedFile:
    """Put ``data`` durably at ``dest`` (0600). Raises :class:`StorageError` (disk full...)."""
    try:
        ensure_dir(dest.parent)
        if isinstance(data, bytes):
            write_atomic(dest, data)
            return StagedFile(dest, len(data))
        staged = _move_in(dest, data)
        fsync_dir(dest.parent)
        return staged
    except OSError as exc:
        raise _storage_error(exc, f"cannot store file {dest.name}") from exc


def write_atomic(dest: Path, data: bytes, *, mode: int = FILE_MODE) -> None:
    """Replace ``dest`` with ``data`` crash-safely: a temporary file in the same directory,
    fsync, rename over ``dest``, fsync of the directory. After a power cut ``dest`` holds the
    old or the new bytes, never a torn file. Raises :class:`OSError`."""
    tmp = dest.with_name(f"{dest.name}{TMP_MARK}{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def _move_in(dest: Path, src: Path) -> StagedFile:
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)  # the producer may not have; the rename must not outrun the data
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dest.with_name(f"{dest.name}{TMP_MARK}{secrets.token_hex(4)}")
        try:
            shutil.copyfile(src, tmp)
            os.chmod(tmp, FILE_MODE)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StagedFile(dest, size, unlink_after_commit=src)
    os.chmod(dest, FILE_MODE)
    return StagedFile(dest, size, moved_from=src)


def remove(paths: Iterable[Path]) -> None:
    """Delete files whose rows are gone (after the commit). Missing files are fine."""
    for p in paths:
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not delete outbox file %s: %s", p, exc)


def sweep_orphans(root: Path, referenced: set[Path]) -> int:
    """Delete files under ``root`` that no row references (crash leftovers); return the count."""
    removed = 0
    if not root.is_dir():
        return 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            if p not in referenced:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed += 1
    return removed


def disk_usage(root: Path) -> int:
    total = 0
    if not root.is_dir():
        return 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(Path(dirpath, name)).st_size
    return total


def _storage_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"disk full: {what}: {exc.strerror}")
    return StorageError(f"{what}: {exc}")


class Reserve:
    """A file holding ``size`` bytes of disk for the day the disk fills.

    Mechanism only: :class:`agent.store.database.Database` decides when to lend it out
    (:meth:`release`) and when to take it back (:meth:`create`).
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    def present(self) -> bool:
        if self.size <= 0:
            return True
        try:
            return self.path.stat().st_size >= self.size
        except FileNotFoundError:
            return False

    def create(self) -> bool:
        """Allocate the reserve; False (and nothing left behind) if the disk has no room."""
        if self.size <= 0:
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise _storage_error(exc, "cannot create the disk reserve") from exc
            return False
        return True

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        st = os.statvfs(self.path.parent)
        return st.f_bavail * st.f_frsize
