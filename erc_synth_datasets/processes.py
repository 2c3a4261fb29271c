"""Processes and the folders they write: one writer per folder, and child processes that end with their parent.

Two processes writing the same generation run or training folder interleave their records and checkpoints without
an error. That happens to every user sooner or later: a command run twice by mistake, a job restarted while the
first is still running, or a child process left behind when its parent was stopped (`kill` ends the parent, not
the training process it launched). Two measures close it:

- `exclusive_folder(folder, what)` holds an operating-system lock on `folder/.erc-synth.lock` while a process
  writes the folder (`filelock`, the library `datasets` and `huggingface_hub` use for their caches; on Linux and
  macOS an `flock`, which the kernel releases when the process dies, even by SIGKILL, so a crash never leaves a
  stale lock). A second writer fails at once with `FolderInUseError`, naming the process that holds the folder
  (its pid, command and start time, from `folder/.erc-synth.lock.owner`). Both files are hidden, so builds, merges
  and pushes never see them. A dataset folder is rewritten by building a new one beside it and renaming it into
  place (all or nothing), so a lock inside it would leave with the old folder: `exclusive_replaced_folder` holds
  `.erc-synth.lock.NAME` beside it instead, and a second writer waits for the first (each rewrite takes seconds),
  so two commands adding configs to one dataset at once both keep theirs.
- `ChildProcesses` starts the processes a command waits for (a training run, a generation shard), each leading a
  process group of its own (POSIX). When the command ends by an exception, Ctrl-C or SIGTERM, the groups of its
  children still running are stopped (SIGTERM, then SIGKILL after a grace period), so what a child started itself
  (the processes of `accelerate launch`) stops too; on Linux each child also asks the kernel for SIGTERM when its
  parent dies (`PR_SET_PDEATHSIG`), which covers a parent killed by SIGKILL.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from .errors import ErcSynthError
from .files import write_json_atomic

__all__ = [
    "LOCK_NAME",
    "OWNER_NAME",
    "ChildProcesses",
    "FolderInUseError",
    "exclusive_folder",
    "exclusive_replaced_folder",
    "folder_holder",
]

LOCK_NAME = ".erc-synth.lock"
OWNER_NAME = ".erc-synth.lock.owner"
#: Seconds a stopped child has to exit after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 30.0


class FolderInUseError(ErcSynthError, RuntimeError):
    """Another running process holds the folder this one was asked to write."""


def _lock_files(folder: Path, *, beside: bool = False) -> tuple[Path, Path]:
    """The lock file and the owner file of `folder`: inside it, or `beside` it (`.erc-synth.lock.NAME`)."""
    if beside:
        return folder.parent / f"{LOCK_NAME}.{folder.name}", folder.parent / f"{LOCK_NAME}.{folder.name}.owner"
    return folder / LOCK_NAME, folder / OWNER_NAME


def _owner_description(owner_file: Path) -> str:
    try:
        owner = json.loads(owner_file.read_text(encoding="utf-8"))
        return f"process {owner['pid']} ({owner['what']}, started {owner['started']}: {owner['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"  # the holder has not written its owner file yet


def _try_lock(lock_file: Path, timeout: float = 0):
    """The held lock `lock_file`, or None when another process holds it (after `timeout` seconds; -1: no limit)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_file), timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


def folder_holder(folder: str | Path) -> str | None:
    """Who is writing `folder` now ("process 123 (training, started ...: python -m ...)"), or None when nobody
    holds it (also when it does not exist). Never waits and never keeps the lock."""
    lock_file, owner_file = _lock_files(Path(folder))
    if not lock_file.exists():
        return None
    lock = _try_lock(lock_file)
    if lock is None:
        return _owner_description(owner_file)
    lock.release()
    return None


@contextmanager
def _holding(
    folder: Path, what: str, *, beside: bool, wait: bool, on_wait: Callable[[str], None] | None
) -> Iterator[None]:
    lock_file, owner_file = _lock_files(folder, beside=beside)
    lock = _try_lock(lock_file)
    if lock is None and wait:
        if on_wait is not None:
            on_wait(_owner_description(owner_file))
        lock = _try_lock(lock_file, timeout=-1)
    if lock is None:
        raise FolderInUseError(
            f"{str(folder)!r} is in use: {_owner_description(owner_file)} is writing to it. Two processes writing one "
            f"folder would mix their files; wait for that process to finish (or stop it), then run this again, or "
            "choose another folder."
        )
    try:
        owner = {
            "pid": os.getpid(),
            "what": what,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv) or sys.executable,
        }
        write_json_atomic(owner_file, owner)
        yield
    finally:
        lock.release()


@contextmanager
def exclusive_folder(
    folder: str | Path, what: str, *, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Holds `folder` (created if needed) for this process while the block runs.

    Args:
        folder: The folder this process writes.
        what: What the process does there, for the other process's error ("generation", "training").
        wait: When another process holds the folder, wait for it instead of failing (for a step that several
            processes share and the first one does for all, such as preparing the data of an experiment).
        on_wait: Called once with the holder's description when this process has to wait.

    Raises:
        FolderInUseError: another running process holds the folder (and `wait` is False); the message names it and
            the fix.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _holding(folder, what, beside=False, wait=wait, on_wait=on_wait):
        yield


def _report_wait(holder: str) -> None:
    print(f"waiting for {holder}: it is rewriting the same folder", file=sys.stderr, flush=True)


@contextmanager
def exclusive_replaced_folder(
    folder: str | Path, what: str, *, wait: bool = True, on_wait: Callable[[str], None] | None = _report_wait
) -> Iterator[None]:
    """Holds `folder`, which is replaced as a whole (built beside it, then renamed into place), while the block runs.

    The lock is `.erc-synth.lock.NAME` beside the folder (its parent is created if needed); by default a second
    writer waits for the first and says so on stderr, then reads the folder as the first left it.

    Raises:
        FolderInUseError: another running process holds the folder and `wait` is False.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _holding(folder, what, beside=True, wait=wait, on_wait=on_wait):
        yield


def _parent_death_signal() -> Any:
    """A `preexec_fn` that makes the child receive SIGTERM when this process dies (Linux), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it after fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


class ChildProcesses:
    """The processes a command starts and waits for; any still running when the block ends by an exception, Ctrl-C
    or SIGTERM are stopped.

        with ChildProcesses() as children:
            code = children.start(command, stdout=log).wait()

    Inside the block, SIGTERM to this process raises `SystemExit(143)` in its main thread (Python's default would
    end the process at once and leave the children running); the previous handler is restored afterwards.
    """

    def __init__(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self.processes: list[subprocess.Popen] = []
        self._previous_handler: Any = None

    def start(self, command: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen:
        """Starts `command` (`subprocess.Popen` keyword arguments) as a child that ends with this process.

        On POSIX the child leads a process group of its own, so that stopping it stops what it started too (the
        training processes under `accelerate launch`)."""
        process = subprocess.Popen(
            list(command), preexec_fn=_parent_death_signal(), start_new_session=_GROUPS, **popen_kwargs
        )
        self.processes.append(process)
        return process

    def __enter__(self) -> ChildProcesses:
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            if self._previous_handler is not None:
                signal.signal(signal.SIGTERM, self._previous_handler)
                self._previous_handler = None

    def stop(self) -> None:
        """Stops every child still running and its process group: SIGTERM, then SIGKILL for what is left after the
        grace period."""
        running = [process for process in self.processes if process.poll() is None]
        for process in running:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            while _signal(process, 0) and time.monotonic() < deadline:  # the rest of its group, if any
                time.sleep(0.1)
            _signal(process, getattr(signal, "SIGKILL", signal.SIGTERM))  # whatever is still there
            process.wait()


#: Children lead their own process group where the platform has them.
_GROUPS = hasattr(os, "killpg")


def _signal(process: subprocess.Popen, signum: int) -> bool:
    """Sends `signum` (0: none, only the check) to the child's process group (POSIX), or to the child; returns
    whether there was anything to send it to."""
    try:
        if _GROUPS:
            os.killpg(process.pid, signum)
        elif process.poll() is None and signum:
            process.send_signal(signum)
        else:
            return process.poll() is None
    except (ProcessLookupError, PermissionError):
        return False  # already gone
    return True


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
