"""Small file helpers shared by every part: atomic writes and reading a YAML mapping with clear errors.

Anything a long job writes goes through `atomic_path` (a temporary file in the same folder, then `os.replace`), so a
crash never leaves half a file: readers see the old content or the new one. Files are created with the permissions
the user's umask gives (like `open`), not the private 0600 of a temporary file, since they are published. A full disk
raises `DiskFullError`, which names the folder and says that the previous file is untouched.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .errors import ErcSynthError

__all__ = [
    "DiskFullError",
    "atomic_path",
    "current_umask",
    "is_disk_full",
    "read_yaml_mapping",
    "write_json_atomic",
    "write_text_atomic",
]

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(ErcSynthError, OSError):
    """No space (or quota) is left where a file was being written; the message names the folder."""

    def __init__(self, folder: str | Path, what: str) -> None:
        self.folder = str(folder)
        super().__init__(
            errno.ENOSPC,
            f"No space left on the device holding {self.folder!r} while writing {what}; nothing already in that "
            "folder was changed. Free some space and run the command again.",
        )

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def is_disk_full(err: BaseException) -> bool:
    """Whether `err` reports a full disk or quota (also from libraries, such as pyarrow, that only say it in words)."""
    if isinstance(err, DiskFullError):
        return True
    if isinstance(err, OSError) and err.errno in _DISK_FULL_ERRNOS:
        return True
    return isinstance(err, OSError) and "No space left on device" in str(err)


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            found = re.search(r"^Umask:\s*([0-7]+)", status.read(), re.MULTILINE)
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path next to `path`; on success it replaces `path`, on any error it is removed.

    The file gets the permissions the umask gives a new file (0644 under the usual 022).

    Raises:
        DiskFullError: the disk or quota is full (while the caller writes, or at the rename); `path` is unchanged.

    Example:
        >>> with atomic_path("plot.png") as tmp:  # doctest: +SKIP
        ...     fig.savefig(tmp, format="png")
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
        try:
            os.fchmod(fd, 0o666 & ~current_umask())
        finally:
            os.close(fd)
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(path.parent, path.name) from err
        raise
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(path.parent, path.name) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Writes `text` (UTF-8) to `path` atomically, flushed to disk before the rename."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def write_json_atomic(path: str | Path, data: Any, *, sort_keys: bool = False) -> Path:
    """Writes `data` as indented JSON (non-JSON values through `str`) to `path` atomically."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=sort_keys, default=str) + "\n"
    return write_text_atomic(path, text)


def read_yaml_mapping(
    path: str | Path,
    *,
    what: str,
    error: type[Exception],
    missing_hint: str = "",
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Reads a YAML file that must hold a mapping.

    Args:
        path: The file.
        what: How messages name the file (`"Config file"`, `"Prompt template"`).
        error: The exception type raised for every problem (the caller's typed error).
        missing_hint: What to do when the file does not exist (appended to that message).
        allow_empty: Return `{}` for an empty file instead of failing.

    Raises:
        error: the file does not exist, is not valid YAML, or does not hold a mapping.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = f"; {missing_hint}" if missing_hint else ""
        raise error(f"{what} {str(path)!r} does not exist{hint}.") from None
    except yaml.YAMLError as err:
        raise error(f"{what} {str(path)!r} is not valid YAML: {err}") from None
    if data is None and allow_empty:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {str(path)!r} must hold a mapping, but got {type(data).__name__}.")
    return data
