"""Small file helpers shared by every part: atomic writes, and the one bounded reader of text, JSON and YAML files.

Anything a long job writes goes through `atomic_path` (a temporary file in the same folder, then `os.replace`), so a
crash never leaves half a file: readers see the old content or the new one. Files are created with the permissions
the user's umask gives (like `open`), not the private 0600 of a temporary file, since they are published. A full disk
raises `DiskFullError`, which names the folder and says that the previous file is untouched.

Every file a user hands to erc-synth (a config, a benchmark YAML, a prompt template, a persona pool, a data file) is
read through `read_text_file`, and its content parsed by `parse_json` or `read_yaml_mapping` (`read_json_file` does
both for a whole JSON file, as for the files erc-synth itself writes and reads back), so that each way a file
can be wrong gives the caller's typed error naming the file (and line) instead of a traceback or a hang:

- the file: missing, a folder, unreadable (permissions), larger than `MAX_TEXT_BYTES`, binary (a NUL byte), or not
  UTF-8 (the line of the first bad byte);
- JSON: nesting deeper than `MAX_JSON_DEPTH` levels, an integer longer than `MAX_INTEGER_DIGITS` digits, `NaN` or
  `Infinity` (not JSON), a key given twice in one object (the line where that object starts);
- YAML: a key given twice in one mapping (with its line), and any alias (`*name`): aliases are what a "billion
  laughs" document multiplies itself with, and no erc-synth file needs them.
"""

from __future__ import annotations

import errno
import json
import math
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
    "MAX_INTEGER_DIGITS",
    "MAX_JSON_DEPTH",
    "MAX_TEXT_BYTES",
    "DiskFullError",
    "OutputPathError",
    "StrictSafeLoader",
    "atomic_path",
    "current_umask",
    "is_disk_full",
    "parse_json",
    "read_json_file",
    "read_text_file",
    "load_yaml_text",
    "read_yaml_mapping",
    "write_json_atomic",
    "write_text_atomic",
]

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: Largest text file read (bytes): the largest real benchmark file is under 10 MB.
MAX_TEXT_BYTES = 1 << 30
#: Longest integer accepted in a JSON file, in digits (Python's own limit on converting text to int is 4300).
MAX_INTEGER_DIGITS = 100
#: Deepest nesting of JSON arrays and objects accepted (a data file needs fewer than 10 levels); checked before the
#: parser runs, whose own limit depends on the stack.
MAX_JSON_DEPTH = 100


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


class OutputPathError(ErcSynthError, OSError):
    """A file cannot be written where it was asked for (a folder in the way, no permission, a special file system)."""

    def __init__(self, path: str | Path, err: OSError) -> None:
        self.path = str(path)
        reason = err.strerror or str(err)
        if isinstance(err, IsADirectoryError) or Path(path).is_dir():
            reason = "it is a folder; give the path of a file in it"
        elif isinstance(err, PermissionError):
            reason = f"{reason}; choose a path you can write to"
        super().__init__(err.errno, f"Cannot write {self.path!r}: {reason}.")

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
        OutputPathError: `path` is a folder, or its folder cannot be created or written to.

    Example:
        >>> with atomic_path("plot.png") as tmp:  # doctest: +SKIP
        ...     fig.savefig(tmp, format="png")
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path)))
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
        raise OutputPathError(path, err) from err
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(path.parent, path.name) from err
        if isinstance(err, ErcSynthError) or err.filename not in (str(tmp), str(path), tmp, path):
            raise  # an error of the caller's own, about another file
        raise OutputPathError(path, err) from err
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


def read_text_file(
    path: str | Path, *, what: str, error: type[Exception], missing_hint: str = "", max_bytes: int = MAX_TEXT_BYTES
) -> str:
    """Reads a UTF-8 text file (an optional byte-order mark is dropped), refusing whatever is not one.

    Args:
        path: The file.
        what: How messages name the file (`"Config file"`, `"Data file"`).
        error: The exception type raised for every problem (the caller's typed error).
        missing_hint: What to do when the file does not exist (appended to that message).
        max_bytes: Largest size read.

    Raises:
        error: the file does not exist, is a folder, cannot be read, is larger than `max_bytes`, holds a NUL byte
            (a binary file), or is not UTF-8 (the message names the line of the first bad byte).
    """
    path = Path(path)
    name = f"{what} {str(path)!r}"
    try:
        if path.is_dir():
            raise error(f"{name} is a folder; expected a UTF-8 text file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{name} is {size} bytes; files larger than {max_bytes} bytes are refused.")
        data = path.read_bytes()
    except FileNotFoundError:
        hint = f"; {missing_hint}" if missing_hint else ""
        raise error(f"{name} does not exist{hint}.") from None
    except PermissionError:
        raise error(
            f"{name} cannot be read: permission denied (check the file's and its folders' permissions)."
        ) from None
    except OSError as err:
        raise error(f"{name} cannot be read ({err.strerror or err}).") from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise error(f"{path}:{line}: {what} holds a NUL byte: a binary file, not UTF-8 text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise error(
            f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start}); save the {what.lower()} as UTF-8."
        ) from None


class _JsonRefusal(Exception):
    """Raised inside the JSON parser's hooks; `parse_json` turns it into the caller's error with a place."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _JsonRefusal(f"the key {_short(key)!r} appears twice in one object; expected each key once")
        seen[key] = value
    return seen


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _JsonRefusal(f"an integer of {len(text.lstrip('-'))} digits; at most {MAX_INTEGER_DIGITS} are accepted")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonRefusal(f"the number {_short(text, 30)} is too large for a floating-point value")
    return value


def _refuse_constant(name: str) -> float:
    raise _JsonRefusal(f"{name} is not a JSON value; write a number or null")


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _duplicate_key_line(text: str) -> int | None:
    """The line where the first object holding a key twice starts (the pure-Python parser, used on failure only)."""
    from json import decoder, scanner

    starts: list[int] = []

    class _Locating(json.JSONDecoder):
        def __init__(self) -> None:
            super().__init__(object_pairs_hook=_refuse_duplicates, parse_int=_bounded_int)

            def parse_object(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> tuple[Any, int]:
                starts.append(s_and_end[1] - 1)
                result = decoder.JSONObject(s_and_end, *args, **kwargs)
                starts.pop()
                return result

            self.parse_object = parse_object
            self.scan_once = scanner.py_make_scanner(self)

    try:
        _Locating().decode(text)
    except _JsonRefusal:
        return _line_of(text, starts[-1]) if starts else None
    except (ValueError, RecursionError):
        return None
    return None


def _depth_line(text: str, limit: int) -> int | None:
    """The line where brackets first nest deeper than `limit` (strings skipped), or None."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group(0)
        if token in "[{":
            depth += 1
            if depth > limit:
                return _line_of(text, match.start())
        elif token in "]}":
            depth -= 1
    return None


def parse_json(text: str, *, where: str, error: type[Exception], line_offset: int = 0) -> Any:
    """Parses JSON text strictly and within bounds: every problem is the caller's error naming `where` and a line.

    Refused besides malformed JSON: a key given twice in one object (the line where the object starts), an integer
    longer than `MAX_INTEGER_DIGITS` digits, a number too large for a float, `NaN`/`Infinity`, and nesting deeper
    than `MAX_JSON_DEPTH` (checked before parsing).

    Args:
        text: The JSON text.
        where: The file (`path`) the text comes from; messages read `where:line: ...`.
        error: The exception type raised (the caller's typed error).
        line_offset: Added to line numbers (the text is one line of a larger file: that line's number minus one).
    """
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:  # only then can it nest that deep: scan it
        line = _depth_line(text, MAX_JSON_DEPTH)
        if line is not None:
            raise error(
                f"{where}:{line + line_offset}: JSON nested too deeply (more than {MAX_JSON_DEPTH} arrays and objects "
                "inside each other); a data file needs only a few levels."
            )
    try:
        return json.loads(
            text,
            object_pairs_hook=_refuse_duplicates,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as err:
        raise error(f"{where}:{err.lineno + line_offset}: not valid JSON ({err.msg}, column {err.colno}).") from None
    except RecursionError:
        line = _depth_line(text, MAX_JSON_DEPTH)
        place = f":{line + line_offset}" if line is not None else ""
        raise error(
            f"{where}{place}: JSON nested too deeply (arrays and objects inside each other beyond the parser's "
            "limit); a data file needs only a few levels."
        ) from None
    except _JsonRefusal as err:
        line = None
        if "digits" in str(err):
            found = re.search(rf"\d{{{MAX_INTEGER_DIGITS + 1}}}", text)
            line = _line_of(text, found.start()) if found else None
        elif "twice" in str(err):
            line = _duplicate_key_line(text)
        elif "too large" in str(err):
            found = re.search(r"\d[eE][+]?\d{3,}", text)
            line = _line_of(text, found.start()) if found else None
        else:
            found = re.search(r"-?\b(?:NaN|Infinity)\b", text)
            line = _line_of(text, found.start()) if found else None
        place = f":{line + line_offset}" if line is not None else ""
        raise error(f"{where}{place}: {err}.") from None


def read_json_file(
    path: str | Path, *, what: str, error: type[Exception], missing_hint: str = "", expect: type | None = dict
) -> Any:
    """Reads a JSON file through `read_text_file` and `parse_json`: every way it can be wrong is one `error`.

    Args:
        path: The file.
        what: How messages name the file (`"Run manifest"`, `"Build record"`).
        error: The exception type raised for every problem (the caller's typed error).
        missing_hint: What to do when the file does not exist (appended to that message).
        expect: The type the top-level value must have (None: any).

    Raises:
        error: whatever `read_text_file` and `parse_json` refuse, or a top-level value that is not an `expect`.
    """
    text = read_text_file(path, what=what, error=error, missing_hint=missing_hint)
    data = parse_json(text, where=str(path), error=error)
    if expect is not None and not isinstance(data, expect):
        kind = "a JSON object" if expect is dict else f"a JSON {expect.__name__}"
        raise error(f"{what} {str(path)!r} must hold {kind}, but got {type(data).__name__}.")
    return data


class StrictSafeLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping and any alias (`*name`).

    PyYAML keeps the last of two equal keys without a word, and aliases let a 1 KB document stand for hundreds of
    millions of nodes (a "billion laughs"); configuration files need neither.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(
                f"line {event.start_mark.line + 1}: the alias *{_short(event.anchor)} is not allowed; write the "
                "value out (anchors and aliases are refused, so that no file can expand without bound)"
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                break
            line = key_node.start_mark.line + 1
            if first is not None:
                raise yaml.YAMLError(
                    f"line {line}: the key {_short(key)!r} is given twice (first on line {first}); keep one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str) -> Any:
    """Parses YAML with `StrictSafeLoader` (duplicate keys and aliases refused); raises `yaml.YAMLError`."""
    return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml_mapping(
    path: str | Path,
    *,
    what: str,
    error: type[Exception],
    missing_hint: str = "",
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Reads a YAML file that must hold a mapping (through `read_text_file` and `StrictSafeLoader`).

    Args:
        path: The file.
        what: How messages name the file (`"Config file"`, `"Prompt template"`).
        error: The exception type raised for every problem (the caller's typed error).
        missing_hint: What to do when the file does not exist (appended to that message).
        allow_empty: Return `{}` for an empty file instead of failing.

    Raises:
        error: the file does not exist, cannot be read, is not UTF-8 text, is not valid YAML, repeats a key, uses
            an alias, or does not hold a mapping.
    """
    path = Path(path)
    text = read_text_file(path, what=what, error=error, missing_hint=missing_hint)
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as err:
        raise error(f"{what} {str(path)!r} is not valid YAML: {_short(err, 500)}") from None
    except RecursionError:
        raise error(f"{what} {str(path)!r} nests too deeply to be a configuration.") from None
    if data is None and allow_empty:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {str(path)!r} must hold a mapping, but got {type(data).__name__}.")
    return data
