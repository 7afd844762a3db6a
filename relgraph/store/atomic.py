"""Atomic writes: write to a temporary sibling, fsync, then rename into place.

A reader never sees a half-written file or folder, and a process killed mid-write
leaves only a ``.tmp-*`` entry that the next writer ignores and cleans.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (0700), created if missing.

    A workspace's root is one: other users of the machine cannot read its snapshots,
    models or ``meta.db``, whatever the umask gave the files inside.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        with contextlib.suppress(PermissionError):  # not ours: leave it to its owner
            path.chmod(0o700)
    return path


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; a new file is 0600 (``mkstemp``'s mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``final`` in one rename on success.

    If ``final`` appears meanwhile (a concurrent writer of the same content-
    addressed snapshot), the staged copy is discarded: both wrote the same bytes.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid in the name lets clean_stale tell a dead writer's
    # leftovers from a live concurrent writer's work in progress.
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if final.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _writer_alive(entry: Path) -> bool:
    """Whether the process that made a ``.tmp-<name>-<pid>-<hex>`` entry still runs."""
    parts = entry.name.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def clean_stale(folder: Path) -> None:
    """Remove leftovers of writers that were killed (never a live writer's staging folder)."""
    if not folder.exists():
        return
    for p in folder.glob(".tmp-*"):
        if _writer_alive(p):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
