"""Writing files and folders so that a reader sees the old one or the new one, never half.

Every writer in the package goes through these three (one way per job):

- :func:`atomic_path`: a temp path beside the target for writers that take a path
  (``np.savez``, ``torch.save``, ``fig.savefig``, ``frame.to_csv``); it ends with the
  target's suffix, so the writers that pick a format by extension pick the right one;
- :func:`atomic_open`: the same, opened (``write_text`` / ``write_bytes`` for one string);
- :func:`atomic_dir`: a fresh folder beside the target to fill; when the block ends it
  takes the target's place (the previous folder is moved aside, then removed).

The temp name is unique per call (process, thread and a random part), so two writers of
one target never share it; it is removed when the block raises and ``os.replace``-d over
the target when it does not. ``durable=True`` also fsyncs the file and its folder before
returning (the embedded graph store). Temp files and folders are created with the usual
permissions (the umask's), not ``mkstemp``'s owner-only ones. A writer killed before its
block ended leaves its temp beside the target; :func:`remove_leftovers` removes those whose
process is gone (the name carries the writer's pid).

>>> with atomic_open("/tmp/report.txt") as fh:  # doctest: +SKIP
...     fh.write("done")
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_dir", "atomic_open", "atomic_path", "remove_leftovers", "write_bytes", "write_text"]


def _temp_name(target: Path, kind: str) -> Path:
    tag = f"{os.getpid()}-{threading.get_ident() % 100000}-{uuid.uuid4().hex[:8]}"
    return target.with_name(f".{target.name}.{kind}-{tag}{target.suffix if kind == 'tmp' else ''}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_leftovers(target: str | os.PathLike) -> list[Path]:
    """Remove the temp files and folders that writers of ``target`` left beside it when
    they were killed mid-write (their process no longer exists); a live writer's are kept.
    Returns what was removed."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:tmp|new|old)-(\d+)-\d+-[0-9a-f]{{8}}")
    removed = []
    for path in target.parent.iterdir():
        m = pattern.match(path.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | os.PathLike, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``target`` (not created) for the block to write; then move
    it over ``target``. The parent folder is created when missing."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(target, "tmp")
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        if durable:
            _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "w", *, durable: bool = False, **kwargs) -> Iterator[IO]:
    """:func:`atomic_path` opened with ``mode`` (``"w"`` or ``"wb"``; text defaults to UTF-8)."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes a new file: mode must contain 'w', got {mode!r}")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(target, durable=durable) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(target: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically; returns ``target`` as a Path."""
    with atomic_open(target, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(target)


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; returns ``target`` as a Path."""
    with atomic_open(target, "wb") as fh:
        fh.write(data)
    return Path(target)


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder beside ``target`` for the block to fill; then it becomes
    ``target`` (a previous ``target`` is moved aside first and removed afterwards). When the
    block raises, the new folder is removed and ``target`` is left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(target, "new")
    tmp.mkdir()
    old = None
    try:
        yield tmp
        if target.exists():
            old = _temp_name(target, "old")
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not target.exists():
            os.replace(old, target)  # the swap failed between its two renames: put the old one back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
