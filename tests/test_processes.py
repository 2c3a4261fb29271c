"""One writer per folder and children that end with their parent, on real processes: a second generation run or
training run into a folder in use fails at once naming the holder, a killed holder frees the folder, and stopping
an experiment (SIGTERM, or SIGKILL on Linux) stops the training process it launched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from helpers import run_scripted

from erc_synth_datasets.processes import (
    LOCK_NAME,
    OWNER_NAME,
    ChildProcesses,
    FolderInUseError,
    exclusive_folder,
    exclusive_replaced_folder,
    folder_holder,
)

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
WAIT_SECONDS = 120  # an upper bound for a process to start or stop on a busy machine, not a timing claim


def _hold(folder: Path, how: str = "exclusive_folder") -> subprocess.Popen:
    """A separate process that holds `folder` (with `how`) until it is killed; returns once it holds it."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from erc_synth_datasets.processes import {how}
        with {how}({str(folder)!r}, "holding it for a test"):
            print("held", flush=True)
            time.sleep(600)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie left for a parent that does not reap it counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return "\nState:\tZ" in status


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {WAIT_SECONDS} s: {what}"
        time.sleep(0.2)


def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_holder_frees_the_folder(tmp_path):
    folder = tmp_path / "run"
    holder = _hold(folder)
    try:
        described = folder_holder(folder)
        assert described is not None and f"process {holder.pid} (holding it for a test" in described
        with pytest.raises(FolderInUseError, match=rf"'{folder}' is in use: process {holder.pid} \(holding"):
            with exclusive_folder(folder, "generation"):
                pytest.fail("entered a folder that another process holds")
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock, no stale lock file blocks the next writer
        holder.wait()
    assert folder_holder(folder) is None
    with exclusive_folder(folder, "generation"):
        owner = json.loads((folder / OWNER_NAME).read_text())
        assert owner["pid"] == os.getpid() and owner["what"] == "generation"
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME, OWNER_NAME]  # hidden: builds never see them
    assert folder_holder(tmp_path / "never-made") is None


def test_generation_into_a_run_folder_in_use_fails_before_writing_and_continues_after(tmp_path):
    folder = tmp_path / "run"
    holder = _hold(folder)
    try:
        with pytest.raises(FolderInUseError, match=f"process {holder.pid}"):
            run_scripted(folder, num_dialogues=3)
        assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME, OWNER_NAME]  # no record, no manifest
    finally:
        holder.kill()
        holder.wait()
    summary, _ = run_scripted(folder, num_dialogues=3)
    assert summary.accepted == 3


def test_the_generate_command_names_the_process_holding_its_output(tmp_path):
    folder = tmp_path / "run"
    holder = _hold(folder)
    try:
        command = [sys.executable, "-m", "erc_synth.cli", "generate", "--benchmark", "meld", "--mode", "natural"]
        done = subprocess.run(
            [*command, "--num-dialogues", "2", "--output-dir", str(folder)],
            env=ENV, cwd=REPO, capture_output=True, text=True, timeout=WAIT_SECONDS,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"is in use: process {holder.pid} (holding it for a test" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (folder / "manifest.json").exists()


def _parent_script(pid_file: Path) -> str:
    """A parent that starts a child with `ChildProcesses`; the child starts a grandchild of its own (as `accelerate
    launch` starts the training processes), writes both pids, and waits."""
    child = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from pathlib import Path
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path({str(pid_file)!r}).write_text(f"{{__import__('os').getpid()}} {{grandchild.pid}}")
        grandchild.wait()
        """
    )
    return textwrap.dedent(
        f"""
        import signal, sys
        from erc_synth_datasets.processes import ChildProcesses
        # Python leaves SIGINT ignored when it starts ignored (a background job of a shell without job control):
        # the parent takes it as an interactive `python` would, however the suite was started.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with ChildProcesses() as children:
            sys.exit(children.start([sys.executable, "-c", {child!r}]).wait())
        """
    )


def _family(pid_file: Path) -> list[int]:
    _wait_until(
        lambda: pid_file.exists() and len(pid_file.read_text().split()) == 2, "the child's and grandchild's pids"
    )
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert not any(_gone(pid) for pid in pids)
    return pids


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_parent_stops_its_children(tmp_path, stop):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", _parent_script(pid_file)], env=ENV)
    family = _family(pid_file)
    parent.send_signal(stop)  # to the parent only, as `kill PID` does; the children are not signalled by the test
    parent.wait(timeout=WAIT_SECONDS)
    assert parent.returncode != 0
    for pid in family:
        _wait_until(lambda: _gone(pid), f"process {pid} to end after the parent got {stop.name}")  # noqa: B023


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_child_ends_when_its_parent_is_killed_with_sigkill(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", _parent_script(pid_file)], env=ENV)
    child, grandchild = _family(pid_file)
    try:
        parent.kill()  # cannot be caught: only the kernel's parent-death signal reaches the child
        parent.wait()
        _wait_until(lambda: _gone(child), f"child {child} to end after its parent was killed")
    finally:  # the kernel signals the direct child only: the grandchild is this test's to clean up
        if not _gone(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_children_that_ignore_sigterm_are_killed_after_the_grace_period(tmp_path):
    stubborn = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True)"
    stubborn += "; time.sleep(600)"
    with pytest.raises(RuntimeError, match="the command failed"):
        with ChildProcesses(grace_seconds=0.5) as children:
            child = children.start([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, text=True)
            assert child.stdout.readline().strip() == "ready"
            raise RuntimeError("the command failed")
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_stopping_an_experiment_stops_its_training_run_and_frees_the_run_folder(tmp_path, benchmark_fixtures):
    from erc_synth.commands.experiment import main
    from trainers.testing import make_tiny_encoder

    out = tmp_path / "experiment"
    config = {
        "name": "stop",
        "output_dir": str(out),
        "architectures": ["context"],
        "variants": ["org"],
        "benchmarks": ["meld"],
        "seeds": [1],
        "data_dirs": {"meld": str(benchmark_fixtures / "meld")},
        "test_modes": [],
        "train_overrides": {
            "model_name_or_path": make_tiny_encoder(tmp_path / "encoder"), "max_length": 48,
            "num_train_epochs": 1, "per_device_train_batch_size": 8, "disable_tqdm": True,
            "dataloader_pin_memory": False, "save_final_model": False,
        },
    }  # fmt: skip
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = out / "runs" / "meld" / "context_org" / "seed-1"

    # A process holding the run folder (a run started by hand, a second experiment) is named before anything runs.
    holder = _hold(run_dir)
    try:
        assert main([str(path)]) == 1
    finally:
        holder.kill()
        holder.wait()
    assert not (run_dir / "train_config.yaml").exists()

    runner = subprocess.Popen(
        [sys.executable, "-m", "erc_synth.commands.experiment", str(path)],
        env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def training_pid() -> int | None:
        try:
            owner = json.loads((run_dir / OWNER_NAME).read_text())
        except (OSError, ValueError):
            return None
        return owner["pid"] if owner["pid"] != holder.pid else None

    _wait_until(lambda: training_pid() is not None or runner.poll() is not None, "the training run to start")
    trainer = training_pid()
    assert trainer is not None and trainer != runner.pid, "the experiment ended before its run started"
    runner.terminate()  # SIGTERM to the experiment only, as `kill PID` sends it
    runner.wait(timeout=WAIT_SECONDS)
    _wait_until(lambda: _gone(trainer), f"training process {trainer} to end with its experiment")
    assert folder_holder(run_dir) is None
    assert not (run_dir / "results.json").exists()

    assert main([str(path)]) == 0  # the run folder is free: the run starts again and finishes
    assert json.loads((run_dir / "results.json").read_text())["status"] == "complete"


def test_two_builds_into_one_dataset_folder_at_once_keep_both_configs(tmp_path):
    """A dataset folder is rewritten whole (built beside it, then swapped in): two writers at once would each copy
    the configs they found and the second swap would drop the first one's config. The second waits instead."""
    from datasets import load_dataset
    from run_fixtures import write_run

    runs = {mode: write_run(tmp_path / mode, mode=mode, num_dialogues=8) for mode in ("natural", "balanced")}
    dataset = tmp_path / "erc-synth"
    holder = _hold(dataset, "exclusive_replaced_folder")
    builds = {}
    try:
        with pytest.raises(FolderInUseError, match=rf"'{dataset}' is in use: process {holder.pid} \(holding"):
            with exclusive_replaced_folder(dataset, "a test", wait=False):
                pytest.fail("entered a folder that another process holds")
        for mode, run in runs.items():
            command = [sys.executable, "-m", "erc_synth.cli", "build", str(run), "--output-dir", str(dataset)]
            builds[mode] = subprocess.Popen(
                command, env=ENV, stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{mode}.err", "w"), text=True
            )
        for mode in runs:  # both builds have started and wait for the holder, so both run at once below
            _wait_until(
                lambda mode=mode: (
                    f"waiting for process {holder.pid} (holding it for a test"
                    in (tmp_path / f"{mode}.err").read_text()
                ),
                f"the {mode} build waiting for the folder",
            )
        assert not dataset.exists()  # nothing was written while the holder held it
    finally:
        holder.kill()
        holder.wait()
    for mode, build in builds.items():
        assert build.wait(timeout=WAIT_SECONDS) == 0, (tmp_path / f"{mode}.err").read_text()
    for mode in runs:
        assert (dataset / f"meld_{mode}" / "build_info.json").is_file()
        assert len(load_dataset(str(dataset), f"meld_{mode}", split="train")) > 0
    # The lock lives beside the folder, never inside what is built, loaded or pushed.
    assert not [p.name for p in dataset.iterdir() if "lock" in p.name]
    assert (tmp_path / f"{LOCK_NAME}.erc-synth").exists()
