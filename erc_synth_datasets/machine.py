"""What this process may use of the machine: its CPUs (affinity, cgroup quota, the share other work already takes)
and its memory (cgroup limit, available RAM).

Every reader takes the paths it reads as arguments (defaulting to the live `/proc` and `/sys/fs/cgroup` files), so
tests write files of the real formats to a temporary folder and pass them. Nothing here imports torch;
`erc_synth_datasets.threads` turns these figures into a thread count.

cgroup files read (both versions, every level from this process's cgroup up to the mount's root, the smallest limit
winning, as the kernel applies them):

- v2: `cpu.max` (`"<quota> <period>"` or `"max <period>"`), `memory.max` (`"max"` or bytes), `memory.current`,
  `memory.stat` (`inactive_file`);
- v1: `cpu.cfs_quota_us` (`-1`: none) and `cpu.cfs_period_us`, `memory.limit_in_bytes`, `memory.usage_in_bytes`,
  `memory.stat` (`total_inactive_file`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CGROUP_ROOT",
    "MEMINFO",
    "PROC_SELF_CGROUP",
    "PROC_STAT",
    "CpuTimes",
    "available_memory_bytes",
    "busy_cpus",
    "cgroup_memory_available",
    "cpu_quota",
    "measure_busy_cpus",
    "read_cpu_times",
    "usable_cpu_ids",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
PROC_STAT = Path("/proc/stat")
MEMINFO = Path("/proc/meminfo")

#: A cgroup v1 memory limit at or above this is the kernel's "no limit" (a page-rounded 2**63 - 1).
_V1_NO_LIMIT = 1 << 60


def usable_cpu_ids() -> set[int]:
    """The CPUs this process may run on (`os.sched_getaffinity`; every CPU where the platform cannot say)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


# -- cgroups -----------------------------------------------------------------------------------------------------


def _membership(path: Path) -> list[tuple[list[str], str]]:
    """`(controllers, cgroup path)` per line of a `/proc/<pid>/cgroup` file (`id:controllers:path`; v2 has no
    controllers); empty when the file cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    lines = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            lines.append(([c for c in parts[1].split(",") if c], parts[2]))
    return lines


def _with_ancestors(base: Path, cgroup: str) -> list[Path]:
    """`base/cgroup` and every folder above it up to `base`, deepest first, those that exist. In a container whose
    `/proc/self/cgroup` names a host path that its own mount does not have, only `base` (its own cgroup) exists."""
    parts = [p for p in cgroup.strip("/").split("/") if p and p not in (".", "..")]
    folders = [base.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    return [folder for folder in folders if folder.is_dir()]


def _cgroup_folders(controller: str, root: Path, membership: Path) -> tuple[list[Path], list[Path]]:
    """The cgroup folders whose limits apply to this process for `controller` (`cpu`, `memory`): the v2 ones (a pure
    v2 mount at `root`, or a hybrid one at `root/unified`) and the v1 ones (`root/cpu`, `root/cpu,cpuacct`, ...)."""
    v2: list[Path] = []
    v1: list[Path] = []
    for controllers, cgroup in _membership(membership):
        if not controllers:
            for base in (root, root / "unified"):
                if (base / "cgroup.controllers").is_file():
                    v2 += _with_ancestors(base, cgroup)
        elif controller in controllers:
            for name in dict.fromkeys((",".join(controllers), controller)):
                v1 += _with_ancestors(root / name, cgroup)
    return list(dict.fromkeys(v2)), list(dict.fromkeys(v1))


def _read_words(path: Path) -> list[str] | None:
    try:
        return path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    words = _read_words(path)
    if not words:
        return None
    try:
        return int(words[0])
    except ValueError:
        return None


def cpu_quota(root: Path = CGROUP_ROOT, membership: Path = PROC_SELF_CGROUP) -> float | None:
    """The CPUs this process's cgroups allow it (quota / period; 1.5 means one and a half CPUs of time per period),
    the smallest over every level; None when no level sets a quota (or nothing can be read).

    Args:
        root: The cgroup mount (`/sys/fs/cgroup`).
        membership: This process's `/proc/self/cgroup`.
    """
    quotas = []
    v2, v1 = _cgroup_folders("cpu", root, membership)
    for folder in v2:
        words = _read_words(folder / "cpu.max")
        if words and len(words) == 2 and words[0] != "max":
            try:
                quota, period = int(words[0]), int(words[1])
            except ValueError:
                continue
            if quota > 0 and period > 0:
                quotas.append(quota / period)
    for folder in v1:
        quota, period = _read_int(folder / "cpu.cfs_quota_us"), _read_int(folder / "cpu.cfs_period_us")
        if quota is not None and period and quota > 0:
            quotas.append(quota / period)
    return min(quotas) if quotas else None


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    return 0


def cgroup_memory_available(root: Path = CGROUP_ROOT, membership: Path = PROC_SELF_CGROUP) -> int | None:
    """Bytes this process's cgroups still let it take (limit minus usage, reclaimable file cache counted as free),
    the smallest over every level; None when no level sets a limit."""
    room = []
    v2, v1 = _cgroup_folders("memory", root, membership)
    for folder in v2:
        words = _read_words(folder / "memory.max")
        usage = _read_int(folder / "memory.current")
        if words and words[0] != "max" and usage is not None:
            try:
                limit = int(words[0])
            except ValueError:
                continue
            room.append(limit - usage + _stat_value(folder / "memory.stat", "inactive_file"))
    for folder in v1:
        limit, usage = _read_int(folder / "memory.limit_in_bytes"), _read_int(folder / "memory.usage_in_bytes")
        if limit is not None and usage is not None and limit < _V1_NO_LIMIT:
            room.append(limit - usage + _stat_value(folder / "memory.stat", "total_inactive_file"))
    return max(0, min(room)) if room else None


def available_memory_bytes(
    meminfo: Path = MEMINFO, root: Path = CGROUP_ROOT, membership: Path = PROC_SELF_CGROUP
) -> int | None:
    """Memory this process can still take: the system's available memory (`MemAvailable`), lowered to what its
    cgroup limit leaves; None when neither can be read."""
    figures = [cgroup_memory_available(root, membership)]
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                figures.append(int(line.split()[1]) * 1024)
                break
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        pass
    known = [figure for figure in figures if figure is not None]
    if not known and meminfo == MEMINFO:
        try:
            known.append(int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (ValueError, OSError, AttributeError):
            pass
    return min(known) if known else None


# -- what other work takes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuTimes:
    """Cumulative busy and total time (in clock ticks) of each CPU, as one read of `/proc/stat` gives them."""

    busy: dict[int, int]
    total: dict[int, int]


def read_cpu_times(path: Path = PROC_STAT) -> CpuTimes | None:
    """The per-CPU `cpuN` lines of a `/proc/stat` file; None when it cannot be read.

    Busy time is user, nice, system, irq, softirq and steal (time another guest took counts as taken); idle and
    iowait are free. Guest time is already inside user and nice.
    """
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    busy, total = {}, {}
    for line in text.splitlines():
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit() or len(values) < 4:
            continue
        ticks = [int(value) for value in values[:8]]
        ticks += [0] * (8 - len(ticks))
        user, nice, system, idle, iowait, irq, softirq, steal = ticks
        cpu = int(name[3:])
        busy[cpu] = user + nice + system + irq + softirq + steal
        total[cpu] = busy[cpu] + idle + iowait
    return CpuTimes(busy, total) if busy else None


def busy_cpus(before: CpuTimes, after: CpuTimes, cpus: set[int], own_cpu_seconds: float, seconds: float) -> float:
    """How many of `cpus` other work kept busy between two reads of `/proc/stat`: their busy share times their
    number, less this process's own CPU time over the same `seconds`; clamped to [0, len(cpus)]."""
    shares = []
    for cpu in cpus:
        if cpu not in before.total or cpu not in after.total:
            continue
        total = after.total[cpu] - before.total[cpu]
        if total > 0:
            shares.append(min(1.0, max(0.0, (after.busy[cpu] - before.busy[cpu]) / total)))
    if not shares:
        return 0.0
    busy = sum(shares) / len(shares) * len(cpus)
    own = own_cpu_seconds / seconds if seconds > 0 else 0.0
    return min(float(len(cpus)), max(0.0, busy - own))


def measure_busy_cpus(cpus: set[int], seconds: float = 0.5, path: Path = PROC_STAT) -> float | None:
    """CPUs among `cpus` that other processes keep busy now, measured over `seconds` from `/proc/stat`; where it
    cannot be read, the 1-minute load average less this process (capped at the number of CPUs); None if neither."""
    before = read_cpu_times(path)
    if before is not None:
        started, own_started = time.monotonic(), time.process_time()
        time.sleep(seconds)
        after = read_cpu_times(path)
        if after is not None:
            elapsed = time.monotonic() - started
            return busy_cpus(before, after, cpus, time.process_time() - own_started, elapsed)
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return min(float(len(cpus)), max(0.0, load - 1.0))
