"""New files written for the user — pre-registrations, transcripts, figures — by one rule, never over anything.

The rule: the target must not exist in any form (a file, a folder, or a symbolic link, a dangling one included:
writing through ``link.png -> victim.txt`` would replace the victim), and its folder must exist (a typo in a
folder name is not silently created). The content is written to a temporary file in the same folder (created
with ``O_EXCL``, readable by the owner only), flushed to disk, then hard-linked to the target name: ``link``
never follows or replaces what is at the target, so a file or link that appeared meanwhile is still refused,
and a failure (a full disk, a crash) leaves no partial file under the target name. On a file system without
hard links the content is copied into a new file opened with ``O_CREAT | O_EXCL | O_NOFOLLOW`` instead.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tools.errors import ToolError

__all__ = ["check_new", "write_new"]

_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS}


def _exists(target: Path, what: str = "") -> ToolError:
    return ToolError(
        "file_exists", f"{target} exists{what}; it was not overwritten.", "Choose another name (a new file)."
    )


def check_new(path: str | os.PathLike[str]) -> Path:
    """``path`` (``~`` expanded) if a new file may be written there, else the ToolError saying why."""
    target = Path(path).expanduser()
    try:
        mode = target.lstat().st_mode  # lstat: a symbolic link is seen as itself, even when it points nowhere
    except (FileNotFoundError, NotADirectoryError):
        pass  # (its folder is checked next)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    else:
        raise _exists(
            target, " (a symbolic link)" if stat.S_ISLNK(mode) else " (a folder)" if stat.S_ISDIR(mode) else ""
        )
    parent = target.parent
    if not parent.is_dir():
        raise ToolError(
            "no_such_folder",
            f"The folder {parent} does not exist, so {target.name} was not written.",
            "Create the folder first, or choose a path in an existing folder.",
        )
    return target


def _unwritable(target: Path, exc: OSError) -> ToolError:
    return ToolError("unwritable", f"Cannot write {target}: {exc.strerror or exc}.", "Choose a writable folder.")


def write_new(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Create the new file ``path`` with what ``write(handle)`` writes, by the module's rule; returns its path.

    Refusals are ToolErrors: ``file_exists``, ``no_such_folder``, ``unwritable``."""
    target = check_new(path)
    temporary: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        temporary = Path(name)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)  # never replaces: fails if anything, a dangling link too, is there now
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            _copy_new(temporary, target)
    except FileExistsError:
        raise _exists(target) from None
    except OSError as exc:
        raise _unwritable(target, exc) from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return target


def _copy_new(source: Path, target: Path) -> None:
    """Copy ``source`` into the new file ``target``, created exclusively and never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(target, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as data:
            while block := data.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
