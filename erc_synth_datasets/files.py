"""Small file helpers shared by every part: atomic writes and reading a YAML mapping with clear errors.

Anything a long job writes goes through `atomic_path` (a temporary file in the same folder, then `os.replace`), so a
crash never leaves half a file: readers see the old content or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

__all__ = ["atomic_path", "read_yaml_mapping", "write_json_atomic", "write_text_atomic"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path next to `path`; on success it replaces `path`, on any error it is removed.

    Example:
        >>> with atomic_path("plot.png") as tmp:  # doctest: +SKIP
        ...     fig.savefig(tmp, format="png")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
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
