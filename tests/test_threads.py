"""The torch thread choice and the machine figures it is made from, on files of the real formats in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.machine import (
    available_memory_bytes,
    busy_cpus,
    cgroup_memory_available,
    cpu_quota,
    measure_busy_cpus,
    read_cpu_times,
)
from erc_synth_datasets.threads import CpuAvailability, apply_torch_threads, choose_threads, measure_cpus

GIB = 1 << 30


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")
    return path


def _v2_root(tmp_path: Path, levels: dict[str, dict[str, str]], cgroup: str = "/") -> tuple[Path, Path]:
    """A cgroup v2 mount with the files of each level (`""` is the root), and a /proc/self/cgroup naming `cgroup`."""
    root = tmp_path / "cgroup"
    _write(root / "cgroup.controllers", "cpuset cpu io memory pids\n")
    for level, files in levels.items():
        for name, text in files.items():
            _write(root / level / name, text)
    return root, _write(tmp_path / "self_cgroup", f"0::{cgroup}\n")


def _stat(cpus: dict[int, tuple[int, int]]) -> str:
    """A /proc/stat text whose `cpuN` lines have `(busy, idle)` ticks (busy split over user and system)."""
    lines = [f"cpu  {sum(b for b, _ in cpus.values())} 0 0 {sum(i for _, i in cpus.values())} 0 0 0 0 0 0"]
    lines += [f"cpu{n} {busy - busy // 4} 0 {busy // 4} {idle} 0 0 0 0 0 0" for n, (busy, idle) in cpus.items()]
    lines += ["intr 12345 0 0", "ctxt 999", "btime 1700000000", "processes 42", "procs_running 3"]
    return "\n".join(lines) + "\n"


# -- cgroup CPU quota --------------------------------------------------------------------------------------------


def test_v2_quota_of_one_and_a_half_cpus(tmp_path):
    root, membership = _v2_root(tmp_path, {"": {"cpu.max": "150000 100000\n"}})
    assert cpu_quota(root, membership) == 1.5


def test_v2_without_quota_is_none(tmp_path):
    root, membership = _v2_root(tmp_path, {"": {"cpu.max": "max 100000\n"}})
    assert cpu_quota(root, membership) is None


def test_v2_smallest_quota_over_the_levels_wins(tmp_path):
    levels = {
        "": {"cpu.max": "max 100000\n"},
        "batch.slice": {"cpu.max": "50000 100000\n"},
        "batch.slice/job-7.scope": {"cpu.max": "400000 100000\n"},
    }
    root, membership = _v2_root(tmp_path, levels, "/batch.slice/job-7.scope")
    assert cpu_quota(root, membership) == 0.5


def test_v2_host_path_absent_in_the_container_reads_the_mount_root(tmp_path):
    root, membership = _v2_root(tmp_path, {"": {"cpu.max": "100000 100000\n"}}, "/kubepods/pod1/container9")
    assert cpu_quota(root, membership) == 1.0


def test_v2_hybrid_mount_under_unified(tmp_path):
    root = tmp_path / "cgroup"
    _write(root / "unified" / "cgroup.controllers", "cpu\n")
    _write(root / "unified" / "cpu.max", "200000 100000\n")
    membership = _write(tmp_path / "self_cgroup", "1:name=systemd:/\n0::/\n")
    assert cpu_quota(root, membership) == 2.0


@pytest.mark.parametrize("folder", ["cpu", "cpu,cpuacct"])
def test_v1_quota_and_period(tmp_path, folder):
    root = tmp_path / "cgroup"
    _write(root / folder / "docker" / "abc" / "cpu.cfs_quota_us", "100000\n")
    _write(root / folder / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    _write(root / folder / "cpu.cfs_quota_us", "-1\n")
    _write(root / folder / "cpu.cfs_period_us", "100000\n")
    membership = _write(tmp_path / "self_cgroup", "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    assert cpu_quota(root, membership) == 1.0


def test_v1_unlimited_and_unreadable_are_none(tmp_path):
    root = tmp_path / "cgroup"
    _write(root / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu" / "cpu.cfs_period_us", "100000\n")
    membership = _write(tmp_path / "self_cgroup", "1:cpu:/\n")
    assert cpu_quota(root, membership) is None
    assert cpu_quota(tmp_path / "missing", tmp_path / "missing_cgroup") is None


# -- memory ------------------------------------------------------------------------------------------------------


def test_v2_memory_room_counts_inactive_file_cache_as_free(tmp_path):
    files = {
        "memory.max": f"{4 * GIB}\n",
        "memory.current": f"{3 * GIB}\n",
        "memory.stat": f"anon 1\ninactive_file {GIB}\n",
    }
    root, membership = _v2_root(tmp_path, {"": files})
    assert cgroup_memory_available(root, membership) == 2 * GIB


def test_v1_memory_limit_and_no_limit(tmp_path):
    root = tmp_path / "cgroup"
    _write(root / "memory" / "job" / "memory.limit_in_bytes", f"{2 * GIB}\n")
    _write(root / "memory" / "job" / "memory.usage_in_bytes", f"{GIB // 2}\n")
    _write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")
    _write(root / "memory" / "memory.usage_in_bytes", f"{5 * GIB}\n")
    membership = _write(tmp_path / "self_cgroup", "4:memory:/job\n")
    assert cgroup_memory_available(root, membership) == 3 * GIB // 2


def test_available_memory_is_the_smaller_of_the_cgroup_room_and_memavailable(tmp_path):
    files = {"memory.max": f"{2 * GIB}\n", "memory.current": "0\n"}
    root, membership = _v2_root(tmp_path, {"": files})
    meminfo = _write(tmp_path / "meminfo", f"MemTotal: {32 << 20} kB\nMemAvailable: {16 << 20} kB\n")
    assert available_memory_bytes(meminfo, root, membership) == 2 * GIB
    unlimited, membership = _v2_root(tmp_path / "free", {"": {"memory.max": "max\n", "memory.current": "5\n"}})
    assert available_memory_bytes(meminfo, unlimited, membership) == 16 * GIB


# -- other work ------------------------------------------------------------------------------------------------


def test_busy_cpus_from_two_reads_of_proc_stat_less_our_own_use(tmp_path):
    before = read_cpu_times(_write(tmp_path / "stat0", _stat({0: (1000, 5000), 1: (2000, 4000), 2: (0, 9000)})))
    # Over 1 s (100 ticks per CPU): cpu0 fully busy, cpu1 half, cpu2 (not ours) fully busy.
    after = read_cpu_times(_write(tmp_path / "stat1", _stat({0: (1100, 5000), 1: (2050, 4050), 2: (100, 9000)})))
    assert busy_cpus(before, after, {0, 1}, own_cpu_seconds=0.0, seconds=1.0) == 1.5
    assert busy_cpus(before, after, {0, 1}, own_cpu_seconds=0.5, seconds=1.0) == 1.0
    assert busy_cpus(before, after, {0, 1}, own_cpu_seconds=3.0, seconds=1.0) == 0.0


def test_unreadable_stat_falls_back_to_the_load_average(tmp_path):
    busy = measure_busy_cpus({0, 1}, seconds=0.0, path=tmp_path / "no_stat")
    assert busy is not None and 0.0 <= busy <= 2.0


def test_measure_reads_the_live_machine():
    cpus = measure_cpus(torch_default=4, seconds=0.05, environ={})
    assert cpus.affinity >= 1 and cpus.torch_default == 4 and cpus.processes == 1
    assert cpus.busy is not None and 0.0 <= cpus.busy <= cpus.affinity


def test_measure_uses_quota_files_and_launch_size(tmp_path):
    root, membership = _v2_root(tmp_path, {"": {"cpu.max": "100000 100000\n"}})
    cpus = measure_cpus(seconds=0.0, root=root, membership=membership, environ={"LOCAL_WORLD_SIZE": "2"})
    assert cpus.quota == 1.0 and cpus.processes == 2


# -- the choice ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "threads"),
    [
        (CpuAvailability(affinity=2, busy=0.05), 2),  # a quiet 2-core machine
        (CpuAvailability(affinity=2, busy=1.02), 1),  # one busy single-threaded process beside us
        (CpuAvailability(affinity=2, busy=2.0), 1),  # four of them: never fewer than one
        (CpuAvailability(affinity=2, busy=0.3), 1),  # a CPU a third busy is not a free one
        (CpuAvailability(affinity=64, quota=1.0, busy=3.0), 1),  # a container limited to 1 CPU on a large machine
        (CpuAvailability(affinity=64, quota=4.5, busy=0.0), 4),
        (CpuAvailability(affinity=1, busy=0.0), 1),  # taskset -c 0
        (CpuAvailability(affinity=16, busy=0.0, torch_default=8), 8),  # torch counts physical cores
        (CpuAvailability(affinity=16, busy=0.0, processes=4), 4),  # accelerate launch --num_processes 4
        (CpuAvailability(affinity=4, quota=None, busy=None), 4),  # nothing known beyond the affinity
    ],
)
def test_automatic_choice(cpus, threads):
    choice = choose_threads(cpus, environ={})
    assert choice.num_threads == threads
    assert choice.source == "automatic"
    assert f"{cpus.affinity} CPU" in choice.reason


def test_reason_and_record_name_every_limit():
    choice = choose_threads(CpuAvailability(affinity=8, quota=1.5, busy=1.0, torch_default=8), environ={})
    assert choice.num_threads == 1
    assert choice.reason == "8 CPUs in this process's affinity; cgroup quota 1.5 CPUs; 1 CPU busy with other processes"
    record = choice.to_dict()
    assert record["num_threads"] == 1 and record["source"] == "automatic"
    assert record["cpus"] == {"affinity": 8, "quota": 1.5, "busy": 1.0, "torch_default": 8, "processes": 1}


def test_the_users_value_wins():
    loaded = CpuAvailability(affinity=2, busy=2.0)
    assert choose_threads(loaded, requested=2, environ={"OMP_NUM_THREADS": "1"}).num_threads == 2
    choice = choose_threads(loaded, environ={"OMP_NUM_THREADS": "3"})
    assert (choice.num_threads, choice.source) == (3, "OMP_NUM_THREADS")


@pytest.mark.parametrize("value", [0, -2, True, 1.5])
def test_bad_requested_value_names_the_flag(value):
    with pytest.raises(ConfigError, match=r"--num-threads must be a whole number in \[1, 4096\]"):
        choose_threads(CpuAvailability(affinity=2), requested=value, environ={})


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_environment_value_names_the_variable(value):
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS must be a whole number"):
        choose_threads(CpuAvailability(affinity=2), environ={"OMP_NUM_THREADS": value})


def test_apply_sets_torch_and_logs_once():
    import torch

    before = torch.get_num_threads()
    messages: list[str] = []
    try:
        # 3: a value no other test of this process asks for, so this is its first choice for it.
        first = apply_torch_threads(3, log=messages.append)
        again = apply_torch_threads(3, log=messages.append)
        assert torch.get_num_threads() == 3
        assert first is again
        assert messages == ["torch threads: 3 (--num-threads 3)"]
    finally:
        torch.set_num_threads(before)


def test_a_process_restricted_to_one_cpu_gets_one_thread(tmp_path):
    """A real process restricted to CPU 0 (as `taskset -c 0` does) measures one CPU and chooses one thread."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from erc_synth_datasets.threads import choose_threads, measure_cpus; "
        "cpus = measure_cpus(seconds=0.05, environ={}); "
        "print(json.dumps([cpus.affinity, choose_threads(cpus, environ={}).num_threads]))"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(done.stdout) == [1, 1]
