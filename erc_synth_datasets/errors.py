"""The project's own error base class, and how a command reports it: one clear line, never a traceback.

Every error that erc-synth raises for bad input (a malformed data file, an unknown benchmark, a wrong setting, a run
folder made with other settings, a training configuration that cannot work) derives from `ErcSynthError`, whatever
else it derives from (most are also `ValueError`). A command decorated with `reports_errors` prints such an error as
`<prog>: <message>` on stderr and exits with status 1; `--debug` anywhere on its command line shows the traceback
(the wrapper takes the flag out of the command line before the command parses it).
Anything else (a bug) still raises, so that it is reported with its traceback.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["DEBUG_FLAG", "ERROR_EXIT_STATUS", "ErcSynthError", "reports_errors"]

DEBUG_FLAG = "--debug"
ERROR_EXIT_STATUS = 1


class ErcSynthError(Exception):
    """Base class of every error erc-synth raises for bad input; its message says what was wrong and the fix."""


def report_error(prog: str, error: BaseException, *, debug: bool) -> int:
    """Prints `error` as one line on stderr (with its traceback when `debug`) and returns the exit status."""
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    message = " ".join(str(error).split("\n")) if str(error) else type(error).__name__
    print(f"{prog}: {message}", file=sys.stderr)
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
            except ErcSynthError as err:
                return report_error(prog, err, debug=debug)

        return wrapped

    return decorate
