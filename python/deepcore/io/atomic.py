"""Atomic file writes: ``atomic_write(path, write)`` (safetensors' ``save_file`` writes through it).

Writes are atomic: the file is written under a temporary name in the target directory
(``.<name>.<random>.tmp``), flushed and fsync'ed, then ``os.replace``'d over the target, so a
crash or an exception mid-write never leaves a partial file at ``path``. The temporary is
removed on an exception, on Ctrl-C, and on SIGTERM while the main thread writes (where the
process had the default handler, the signal is delivered again once the temporary is gone). A
process killed outright (SIGKILL, power loss) cannot clean up, so every save also removes the
stale temporaries of the same target that an earlier save left: each live writer holds an
exclusive ``flock`` on its temporary, so a temporary that can be locked is an orphan.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Union

try:
    import fcntl
except ImportError:  # Windows: no flock, so no cleanup of other processes' temporaries
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write"]

PathLike = Union[str, "os.PathLike[str]"]


def _temp_pattern(path: str) -> tuple[str, re.Pattern[str]]:
    """The prefix of ``path``'s temporaries and a pattern matching exactly those names."""
    prefix = "." + os.path.basename(path) + "."
    return prefix, re.compile(re.escape(prefix) + r"[a-z0-9_]{6,16}\.tmp")


def _create_temp(directory: str, prefix: str) -> tuple[int, str]:
    """A new temporary file, exclusively flock'ed for as long as it is open (the mark of a live
    writer, see the module docstring)."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink:
            return fd, tmp
        os.close(fd)  # a concurrent save took it for an orphan before we locked it: retry


def _remove_stale_temps(directory: str, path: str) -> None:
    """Remove the temporaries of ``path`` that no live writer holds (orphans of killed saves)."""
    if fcntl is None:
        return
    _, pattern = _temp_pattern(path)
    try:
        names = [n for n in os.listdir(directory) if pattern.fullmatch(n)]
    except OSError:
        return
    for name in names:
        p = os.path.join(directory, name)
        try:
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(p)
        except OSError:
            pass  # being written right now (or already gone)
        finally:
            os.close(fd)


class _Terminated(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into an exception for the duration of a write, so the temporary is removed;
    only in the main thread and only where the process kept the default (die) handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (AttributeError, ValueError):
        previous = None
    if previous is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated as t:  # the temporary is gone by now: die as the signal asked
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), t.signum)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def atomic_write(path: PathLike, write: Any) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync it, then rename it
    over ``path``. On any exception (and on SIGTERM, see the module docstring) the temporary
    file is removed and ``path`` is untouched; stale temporaries of ``path`` left by killed
    saves are removed first."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix, _ = _temp_pattern(path)
    _remove_stale_temps(directory, path)
    with _terminate_cleanly():
        fd, tmp = _create_temp(directory, prefix)
        try:
            with os.fdopen(fd, "wb") as f:  # closing it releases the lock
                write(f)
                f.flush()
                os.fsync(f.fileno())
                os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    # make the rename itself durable (best effort: not every platform can fsync a directory)
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
