"""The torch thread count of every command that runs a model on the CPU (generate, train, quality, predict).

torch's default is one thread per core it sees. Its threads wait for each other at every operation, so one thread
on a core that another process holds slows all of them: on 2 cores, one busy single-threaded process beside
generation cut it to a third of its quiet speed with 2 threads, and to 93% with 1 (docs/generation.md). The default
here is therefore the CPUs this process can actually have:

1. the CPUs it may run on (`os.sched_getaffinity`, so `taskset` and cpusets count),
2. no more than its cgroup CPU quota allows (`cpu.max`, or v1 `cpu.cfs_quota_us / cpu.cfs_period_us`), rounded
   down,
3. less the CPUs other processes keep busy now (`/proc/stat` over half a second, this process's own use taken out;
   a CPU counts as free when at least `FREE_CPU_SHARE` of it is),
4. shared between the processes of one launch on this machine (`LOCAL_WORLD_SIZE`),
5. never more than torch's own default, and at least 1.

A value the user gives wins: the command's `--num-threads`, else `OMP_NUM_THREADS` in the environment. The choice
and its reason are logged once per process and recorded by the caller (the run manifest, results.json).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .configuration import ConfigError
from .machine import CGROUP_ROOT, PROC_SELF_CGROUP, PROC_STAT, cpu_quota, measure_busy_cpus, usable_cpu_ids

__all__ = [
    "FREE_CPU_SHARE",
    "NUM_THREADS_FLAG",
    "NUM_THREADS_RANGE",
    "THREADS_LINE_PREFIX",
    "CpuAvailability",
    "ThreadChoice",
    "apply_torch_threads",
    "choose_threads",
    "measure_cpus",
    "num_threads_field",
]

#: The flag every command gives the thread count (the dataclass field is `num_threads`).
NUM_THREADS_FLAG = "--num-threads"
NUM_THREADS_RANGE = "[1, 4096]"
#: How the one line that states the choice starts (informational, on stderr, before any error of the command).
THREADS_LINE_PREFIX = "torch threads: "
#: A CPU counts as free for a thread when at least this share of it is idle.
FREE_CPU_SHARE = 0.75
#: Environment variables that set the thread count for this process, read in this order (`OMP_NUM_THREADS` is
#: torch's own).
_THREAD_VARIABLES = ("OMP_NUM_THREADS",)


def num_threads_field(purpose: str) -> Any:
    """The `num_threads` field of a command's options: unset (None) chooses from the machine (this module)."""
    return field(
        default=None,
        metadata={
            "range": NUM_THREADS_RANGE,
            "help": f"torch CPU threads for {purpose}. Default: the CPUs this process can have (its affinity and "
            "cgroup quota, less the CPUs other processes keep busy, at least 1; OMP_NUM_THREADS when set); "
            "the choice and its reason are logged.",
        },
    )


@dataclass(frozen=True)
class CpuAvailability:
    """What the thread choice is made from.

    Attributes:
        affinity: CPUs this process may run on.
        quota: CPUs of time its cgroup allows (None: no quota).
        busy: CPUs among `affinity` other processes keep busy (None: unknown).
        torch_default: torch's own default thread count (None: unknown).
        processes: Processes of one launch sharing these CPUs (`LOCAL_WORLD_SIZE`).
    """

    affinity: int
    quota: float | None = None
    busy: float | None = None
    torch_default: int | None = None
    processes: int = 1


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count chosen, where it came from (`automatic`, the flag, or an environment variable) and why."""

    num_threads: int
    source: str
    reason: str
    cpus: CpuAvailability | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record stored with a run (manifest `runtime.threads`, results.json `threads`)."""
        record: dict[str, Any] = {"num_threads": self.num_threads, "source": self.source, "reason": self.reason}
        if self.cpus is not None:
            record["cpus"] = asdict(self.cpus)
        return record

    def describe(self) -> str:
        return f"{THREADS_LINE_PREFIX}{self.num_threads} ({self.reason})"


def _plural(count: float, word: str) -> str:
    text = f"{count:g}" if isinstance(count, int) else f"{count:.2f}".rstrip("0").rstrip(".")
    return f"{text} {word}" + ("" if count == 1 else "s")


def _user_value(
    requested: int | None, environ: dict[str, str] | None, flag: str, cpus: CpuAvailability | None = None
) -> ThreadChoice | None:
    """The user's thread count: `requested` (the flag), else a thread variable of the environment; None if neither.

    Raises:
        ConfigError: the value is not a whole number of at least 1.
    """
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ConfigError(f"{flag} must be a whole number in {NUM_THREADS_RANGE}, but got {requested!r}.")
        return ThreadChoice(requested, flag, f"{flag} {requested}", cpus)
    environ = os.environ if environ is None else environ
    for name in _THREAD_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(
                    f"{name} must be a whole number of at least 1 (or unset), but got {name}={value!r}; "
                    f"unset it or pass {flag}."
                )
            return ThreadChoice(int(value), name, f"{name}={value} in the environment", cpus)
    return None


def choose_threads(
    cpus: CpuAvailability,
    requested: int | None = None,
    environ: dict[str, str] | None = None,
    flag: str = NUM_THREADS_FLAG,
) -> ThreadChoice:
    """The thread count for a process with `cpus` available (the rules in the module docstring).

    Args:
        cpus: What the machine gives this process (`measure_cpus`).
        requested: The user's value (the command's `flag`); wins over everything.
        environ: The environment (`os.environ`); a thread variable set in it wins over the automatic choice.
        flag: The option named in errors and reasons.

    Raises:
        ConfigError: `requested` or a thread variable is not a whole number of at least 1.
    """
    given = _user_value(requested, environ, flag, cpus)
    if given is not None:
        return given
    threads = cpus.affinity
    reasons = [f"{_plural(cpus.affinity, 'CPU')} in this process's affinity"]
    if cpus.quota is not None:
        threads = min(threads, max(1, math.floor(cpus.quota)))
        reasons.append(f"cgroup quota {_plural(cpus.quota, 'CPU')}")
    if cpus.busy is not None:
        free = math.floor(cpus.affinity - cpus.busy + (1 - FREE_CPU_SHARE))
        threads = min(threads, free)
        reasons.append(f"{_plural(round(cpus.busy, 2), 'CPU')} busy with other processes")
    if cpus.processes > 1:
        threads //= cpus.processes
        reasons.append(f"shared by {cpus.processes} processes")
    if cpus.torch_default is not None and cpus.torch_default < threads:
        threads = cpus.torch_default
        reasons.append(f"torch's default {cpus.torch_default}")
    return ThreadChoice(max(1, threads), "automatic", "; ".join(reasons), cpus)


def measure_cpus(
    torch_default: int | None = None,
    seconds: float = 0.5,
    root: Path = CGROUP_ROOT,
    membership: Path = PROC_SELF_CGROUP,
    stat: Path = PROC_STAT,
    environ: dict[str, str] | None = None,
) -> CpuAvailability:
    """What this machine gives this process now (affinity, cgroup quota, busy CPUs over `seconds`)."""
    environ = os.environ if environ is None else environ
    ids = usable_cpu_ids()
    processes = environ.get("LOCAL_WORLD_SIZE", "1")
    return CpuAvailability(
        affinity=len(ids),
        quota=cpu_quota(root, membership),
        busy=measure_busy_cpus(ids, seconds, stat),
        torch_default=torch_default,
        processes=int(processes) if processes.isdigit() and int(processes) > 0 else 1,
    )


_applied: dict[int | None, ThreadChoice] = {}
#: torch's default thread count, read before this process first sets one (afterwards torch reports our choice).
_torch_default: list[int] = []


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def apply_torch_threads(
    requested: int | None = None, log: Callable[[str], None] | None = None, flag: str = NUM_THREADS_FLAG
) -> ThreadChoice:
    """Chooses the thread count (the user's value, else `choose_threads` on `measure_cpus`), sets it with
    `torch.set_num_threads` and logs it; the first choice of this process for the same `requested` is reused (the
    machine is measured and the choice logged once).

    Args:
        requested: The user's value, or None to choose from the machine.
        log: Where the choice is reported (default: stderr).
        flag: The option of the calling command, named in errors and reasons.

    Raises:
        ConfigError: `requested` or `OMP_NUM_THREADS` is not a whole number of at least 1.
    """
    import torch

    if not _torch_default:
        _torch_default.append(torch.get_num_threads())
    choice = _applied.get(requested)
    if choice is None:
        choice = _user_value(requested, None, flag) or choose_threads(
            measure_cpus(torch_default=_torch_default[0]), flag=flag
        )
        _applied[requested] = choice
        (log or _stderr)(choice.describe())
    torch.set_num_threads(choice.num_threads)
    return choice
