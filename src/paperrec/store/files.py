"""Writing output files: the one place paperrec writes a file a user named.

`write_output` is used by every ``-o`` / ``--out`` / ``--output`` of the CLI and by the
digest's ``--out`` files. What it does depends on what is at the path:

- ``-`` (or None): standard output, never a file called ``-``.
- nothing yet, or a regular file: a temporary file in the same directory, flushed to disk,
  then renamed over the path. A crash leaves the old file or the new one, never half of
  one; a file that was there keeps its permission bits.
- a character device (``/dev/null``, a terminal) or a FIFO: written directly. Such a
  path is never replaced, whoever runs paperrec (as root, renaming over ``/dev/null``
  would break the whole machine).
- a symbolic link: followed, deliberately. The link stays a link and what it points to
  is written by the rules above (a link to ``/dev/null`` writes into the device; a link
  to a regular file replaces that file atomically; a dangling link creates its target).
- a directory, a block device or a socket: refused with `InputError`.

Every failure of the file system (no permission, a read-only or full disk, a parent that
is a file) is an `InputError` naming the path and the reason, so the CLI prints one line.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path

from paperrec.errors import InputError

STDOUT = "-"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    return (exc.strerror or str(exc)).lower()


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """The path to write (symlinks followed) and what is there now (None: nothing)."""
    real = Path(os.path.realpath(path))
    try:
        return real, os.stat(real)
    except FileNotFoundError:
        return real, None
    except NotADirectoryError:
        raise InputError(
            "cannot write here: a parent is a file, not a directory", path=str(path)
        ) from None
    except OSError as exc:
        raise InputError(f"cannot write: {_reason(exc)}", path=str(path)) from None


def check_output(path: str | os.PathLike | None, *, directory: bool = False) -> None:
    """Refuse, before any work is done, a ``path`` that `write_output` could not write.

    ``directory``: the path is a folder that files are written into (``digest --out``).
    Checks what is there and that the nearest existing parent is a writable directory;
    the write itself can still fail (a disk that fills up meanwhile).
    """
    if path is None or str(path) == STDOUT:
        return
    given = Path(path)
    real, info = _target(given)
    if info is not None:
        if directory and not stat.S_ISDIR(info.st_mode):
            raise InputError("cannot write files here: it is not a directory", path=str(given))
        if not directory and stat.S_ISDIR(info.st_mode):
            raise InputError("cannot write: it is a directory", path=str(given))
        if not directory and not _writable_kind(info.st_mode):
            raise InputError("cannot write: it is not a regular file", path=str(given))
        folder = real if directory else real.parent
    else:
        folder = real.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise InputError("cannot write here: a parent is a file, not a directory", path=str(given))
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "the file system is read-only" if _read_only(folder) else "permission denied"
        raise InputError(f"cannot write: {reason}", path=str(given))


def _writable_kind(mode: int) -> bool:
    return stat.S_ISREG(mode) or stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def write_output(path: str | os.PathLike | None, data: bytes | str) -> None:
    """Write ``data`` to ``path`` (see the module doc for what each kind of path gets).

    Raises
    ------
    InputError
        The path is a directory, block device or socket, or the file system refused.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if path is None or str(path) == STDOUT:
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    given = Path(path)
    real, info = _target(given)
    try:
        if info is None or stat.S_ISREG(info.st_mode):
            _replace(real, payload, None if info is None else stat.S_IMODE(info.st_mode))
        elif _writable_kind(info.st_mode):
            with open(real, "wb") as handle:  # a device or pipe is written, never replaced
                handle.write(payload)
        else:
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise InputError(f"cannot write: it is {kind}", path=str(given))
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise InputError(
                "cannot write here: a parent is a file, not a directory", path=str(given)
            ) from None
        raise InputError(f"cannot write: {_reason(exc)}", path=str(given)) from None


def _replace(path: Path, payload: bytes, mode: int | None) -> None:
    """Temp file beside ``path``, fsync, rename over it; ``mode`` kept (None: umask default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode if mode is not None else 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
