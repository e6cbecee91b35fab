"""Files a person names (a data file, a request, a brief, a plan), opened and read within bounds.

One reader for every such file, so each refuses the same things the same way and never hangs or exhausts memory:

- a path that cannot be followed (a symbolic-link loop, a missing folder on the way, no permission) is a
  ``ToolError`` naming the file and the cause, never an ``OSError`` or the ``RuntimeError`` that
  ``Path.resolve`` raises for a loop;
- only regular files are read: the file is opened without blocking and checked with ``fstat`` on the open
  descriptor (no race with a swapped path), so a FIFO that would block forever, ``/dev/zero`` that never ends, a
  socket or a folder are refused before a byte is read;
- the size limit is checked twice: by ``fstat`` before reading and by reading at most ``limit + 1`` bytes, so a
  file that grows while it is read (or reports no size, as ``/proc`` files do) still stops at the limit.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tools.errors import ToolError

__all__ = [
    "HINTS",
    "MAX_TEXT_BYTES",
    "human_size",
    "open_regular",
    "os_error",
    "read_regular",
    "read_text",
    "resolve",
    "too_large",
]

#: The largest request, brief or plan file read (every real one is a few kilobytes).
MAX_TEXT_BYTES = 5_000_000

#: The default fix for each refusal; callers may give their own (a data file's size hint differs).
HINTS = {
    "file_not_found": "Check the path and the file name (a relative path starts at the working directory).",
    "not_readable": "Check the file's permissions, and that no symbolic link on its path points back at itself.",
    "not_a_file": "Give the path of a regular file (not a folder, a pipe or a device).",
    "file_too_large": "Give a smaller file.",
}

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def human_size(n_bytes: int) -> str:
    """``n_bytes`` for people: bytes, KiB, MiB or GiB with one decimal."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    exponent = min((n_bytes.bit_length() - 1) // 10, 3)
    return f"{n_bytes / 1024**exponent:.1f} {('KiB', 'MiB', 'GiB')[exponent - 1]}"


def _hint(code: str, hints: Mapping[str, str] | None) -> str:
    return (hints or {}).get(code, HINTS[code])


def os_error(label: str, exc: OSError, hints: Mapping[str, str] | None = None) -> ToolError:
    """The ToolError for an ``OSError`` met while resolving, opening or reading ``label``'s file."""
    if isinstance(exc, FileNotFoundError):
        return ToolError("file_not_found", f"{label} does not exist.", _hint("file_not_found", hints))
    if isinstance(exc, IsADirectoryError):
        return ToolError("not_a_file", f"{label} is a directory, not a regular file.", _hint("not_a_file", hints))
    if exc.errno == errno.ELOOP:
        cause = "a symbolic link on its path loops (too many levels of symbolic links)"
    elif isinstance(exc, PermissionError):
        cause = "permission denied"
    elif isinstance(exc, NotADirectoryError):
        cause = "a part of its path is not a directory"
    else:
        cause = (exc.strerror or type(exc).__name__).rstrip(".").lower()
    return ToolError("not_readable", f"{label} cannot be read: {cause}.", _hint("not_readable", hints))


def too_large(label: str, clause: str, max_bytes: int, hints: Mapping[str, str] | None = None) -> ToolError:
    """``file_too_large``: ``"<label> <clause> <limit> limit."``."""
    return ToolError(
        "file_too_large", f"{label} {clause} {human_size(max_bytes)} limit.", _hint("file_too_large", hints)
    )


def resolve(path: str | os.PathLike[str], label: str, hints: Mapping[str, str] | None = None) -> Path:
    """The absolute, symlink-free form of ``path`` (``~`` expanded); a loop or an unknown home folder is a
    ToolError (``Path.resolve`` raises ``RuntimeError`` for a loop in Python 3.11, ``OSError`` later)."""
    try:
        return Path(path).expanduser().resolve()
    except RuntimeError as exc:  # a loop (Python 3.11), or no home folder for "~"
        if "loop" in str(exc).lower():
            raise os_error(label, OSError(errno.ELOOP, os.strerror(errno.ELOOP)), hints) from None
        raise ToolError("not_readable", f"{label} cannot be found: {exc}.", _hint("not_readable", hints)) from None
    except OSError as exc:
        raise os_error(label, exc, hints) from None


@contextmanager
def open_regular(
    path: str | os.PathLike[str], label: str, max_bytes: int, hints: Mapping[str, str] | None = None
) -> Iterator[BinaryIO]:
    """``path`` opened for reading in binary, once it is known to be a regular file of at most ``max_bytes``.

    ``label`` names the file in errors (``"File 'x.csv'"``). Errors while reading from the handle are the
    caller's to map (with :func:`os_error`)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(os.fspath(path), flags)  # non-blocking: opening a FIFO returns at once
    except OSError as exc:
        raise os_error(label, exc, hints) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((what for test, what in _KINDS if test(info.st_mode)), "not a regular file")
            raise ToolError(
                "not_a_file", f"{label} is {kind}, not a regular file; it was not read.", _hint("not_a_file", hints)
            )
        if info.st_size > max_bytes:
            raise too_large(label, f"is {human_size(info.st_size)}, above the", max_bytes, hints)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except OSError as exc:
        os.close(fd)
        raise os_error(label, exc, hints) from None
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_regular(
    path: str | os.PathLike[str],
    label: str,
    max_bytes: int,
    *,
    limit: int | None = None,
    hints: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``, else ``file_too_large``); with ``limit``,
    only its first ``limit`` bytes (the same checks apply)."""
    with open_regular(path, label, max_bytes, hints) as handle:
        try:
            data = handle.read(max_bytes + 1 if limit is None else limit)
        except OSError as exc:
            raise os_error(label, exc, hints) from None
    if len(data) > max_bytes:
        raise too_large(label, "is larger than the", max_bytes, hints)
    return data


def read_text(
    path: str | os.PathLike[str], label: str, max_bytes: int = MAX_TEXT_BYTES, *, hint: str = "Save it as UTF-8."
) -> str:
    """A UTF-8 text file (a leading BOM dropped) read with :func:`read_regular`; undecodable bytes are the
    ToolError ``unreadable_file`` naming the byte offset."""
    data = read_regular(path, label, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ToolError(
            "unreadable_file", f"{label} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}.", hint
        ) from None
