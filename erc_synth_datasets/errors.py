"""The project's own error base class, and how a command reports it: one clear line, never a traceback.

Every error that erc-synth raises for bad input (a malformed data file, an unknown benchmark, a wrong setting, a run
folder made with other settings, a training configuration that cannot work) derives from `ErcSynthError`, whatever
else it derives from (most are also `ValueError`). A command decorated with `reports_errors` prints such an error as
`<prog>: <message>` on stderr and exits with status 1; `--debug` anywhere on its command line shows the traceback
(the wrapper takes the flag out of the command line before the command parses it).
An `OSError` that names a file (`PermissionError`, `IsADirectoryError`, a read-only or special file system...) is
also reported in one line, naming the file and the reason: it is about the user's files, not a bug.
A message longer than `MAX_MESSAGE_CHARS` is cut in its middle, so that an error quoting a huge value stays short.
Anything else (a bug) still raises, so that it is reported with its traceback.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "DEBUG_FLAG",
    "ERROR_EXIT_STATUS",
    "MAX_MESSAGE_CHARS",
    "ErcSynthError",
    "bounded_message",
    "is_reported",
    "reports_errors",
]

DEBUG_FLAG = "--debug"
ERROR_EXIT_STATUS = 1
#: Longest error message printed; a longer one keeps its beginning and end.
MAX_MESSAGE_CHARS = 1000


class ErcSynthError(Exception):
    """Base class of every error erc-synth raises for bad input; its message says what was wrong and the fix."""


def bounded_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message` on one line, cut in the middle when longer than `limit` characters (its start and end kept)."""
    message = " ".join(message.split("\n"))
    if len(message) <= limit:
        return message
    head, tail = (limit * 2) // 3, limit // 3
    return f"{message[:head]} [... {len(message) - head - tail} characters left out ...] {message[-tail:]}"


def _file_error_message(error: OSError) -> str:
    names = " -> ".join(repr(str(name)) for name in (error.filename, error.filename2) if name is not None)
    reason = error.strerror or type(error).__name__
    if isinstance(error, IsADirectoryError):
        reason += " (a folder where a file was expected)"
    elif isinstance(error, PermissionError):
        reason += " (check the permissions, or choose another path)"
    return f"{names}: {reason}."


def is_reported(error: BaseException) -> bool:
    """Whether `error` is about the user's input or files (reported in one line) rather than a bug."""
    return isinstance(error, ErcSynthError) or (isinstance(error, OSError) and error.filename is not None)


def report_error(prog: str, error: BaseException, *, debug: bool) -> int:
    """Prints `error` as one line on stderr (with its traceback when `debug`) and returns the exit status."""
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    if isinstance(error, OSError) and not isinstance(error, ErcSynthError) and error.filename is not None:
        message = _file_error_message(error)
    else:
        message = str(error) if str(error) else type(error).__name__
    print(f"{prog}: {bounded_message(message)}", file=sys.stderr)
    return ERROR_EXIT_STATUS


def reports_errors(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorates a command's `main(argv)`: project errors become one line on stderr and exit status 1.

    Args:
        prog: The command's name as the user typed it (`erc-synth build`), the prefix of the message.
    """

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(argv: Sequence[str] | None = None, *args: Any, **kwargs: Any) -> int:
            argv = list(sys.argv[1:] if argv is None else argv)
            debug = DEBUG_FLAG in argv
            try:
                # The flag is the wrapper's; a command's own `--debug=VALUE` option (TrainingArguments') stays.
                return main([arg for arg in argv if arg != DEBUG_FLAG], *args, **kwargs)
            except (ErcSynthError, OSError) as err:
                if not is_reported(err):  # an OSError about no file the user named: a bug, with its traceback
                    raise
                return report_error(prog, err, debug=debug)

        return wrapped

    return decorate
