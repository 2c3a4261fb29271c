"""The build's swap into place survives a kill at any point, published files follow the umask, and a full disk gives
one clear error naming the folder (a real, size-limited tmpfs in a private mount namespace)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import write_run

from erc_synth_datasets.build import BuildConfig, build_dataset
from erc_synth_datasets.files import DiskFullError, write_text_atomic
from erc_synth_datasets.processes import LOCK_NAME
from erc_synth_datasets.swap import recover_swap

REPO = Path(__file__).resolve().parents[1]


def _configs(folder: Path) -> list[str]:
    return sorted(p.parent.name for p in folder.glob("*/build_info.json"))


def _stage_folders(parent: Path) -> list[str]:
    """The hidden staging folders of a build (the folder's lock files beside it stay by design)."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") and not p.name.startswith(LOCK_NAME))


def _dead_pid() -> int:
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(process.stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "balanced": write_run(root / "meld_balanced", "meld", "balanced", num_dialogues=10, seed=1),
        "natural": write_run(root / "meld_natural", "meld", "natural", num_dialogues=10, seed=2),
    }


_KILL_BETWEEN_RENAMES = """
import os, signal, sys
from erc_synth_datasets.build import BuildConfig, build_dataset

rename = os.rename

def rename_then_die(source, target):
    rename(source, target)
    if ".previous-" in os.fspath(target):  # the old folder has just been moved aside
        os.kill(os.getpid(), signal.SIGKILL)

os.rename = rename_then_die
build_dataset([sys.argv[1]], BuildConfig(output=sys.argv[2]))
"""


@pytest.mark.slow
def test_kill_between_the_two_renames_is_finished_by_the_next_build(runs, tmp_path):
    out = tmp_path / "erc-synth"
    build_dataset([runs["balanced"]], BuildConfig(output=str(out)))
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_BETWEEN_RENAMES, str(runs["natural"]), str(out)], cwd=REPO, capture_output=True
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    # The window the kill hit: no dataset folder, only the moved-aside old one and the complete new one.
    assert not out.exists()
    assert [name.rsplit(".", 1)[1].split("-")[0] for name in _stage_folders(tmp_path)] == ["previous", "ready"]

    repairs = recover_swap(out)
    assert len(repairs) == 2 and repairs[0].startswith("finished an interrupted swap")
    assert _configs(out) == ["meld_balanced", "meld_natural"]
    assert _stage_folders(tmp_path) == []
    # A later build carries every config over.
    build_dataset([runs["balanced"]], BuildConfig(output=str(out)))
    assert _configs(out) == ["meld_balanced", "meld_natural"]


@pytest.mark.slow
@pytest.mark.parametrize("left", ["previous", "previous+building", "previous+ready+building-of-live-process"])
def test_interrupted_swap_states_are_repaired_by_the_next_build(runs, tmp_path, left):
    out = tmp_path / "erc-synth"
    build_dataset([runs["balanced"]], BuildConfig(output=str(out)))
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    dead = _dead_pid()
    os.rename(out, tmp_path / f".erc-synth.previous-{dead}-a1")
    if "building" in left:
        (tmp_path / f".erc-synth.building-{dead}-b2" / "meld_natural").mkdir(parents=True)
    live = tmp_path / f".erc-synth.building-{os.getpid()}-c3"
    if "live" in left:
        # A complete-looking ready folder of a dead build whose old folder still exists is not used...
        shutil.copytree(tmp_path / f".erc-synth.previous-{dead}-a1", tmp_path / f".erc-synth.ready-{dead}-d4")
        (tmp_path / f".erc-synth.ready-{dead}-d4" / "README.md").write_text("newer\n")
        live.mkdir()
    result = build_dataset([runs["natural"]], BuildConfig(output=str(out)))
    assert result.kept_configs == ["meld_balanced"]
    assert _configs(out) == ["meld_balanced", "meld_natural"]
    assert set(before) <= {p.relative_to(out).as_posix() for p in out.rglob("*")}
    # ...when there is none in place it finishes the swap instead; folders of running builds are left alone.
    assert _stage_folders(tmp_path) == ([live.name] if "live" in left else [])


def test_ready_folder_is_used_when_nothing_is_in_place(runs, tmp_path):
    out = tmp_path / "erc-synth"
    build_dataset([runs["balanced"], runs["natural"]], BuildConfig(output=str(out)))
    dead = _dead_pid()
    os.rename(out, tmp_path / f".erc-synth.ready-{dead}-e5")
    assert recover_swap(out)[0].startswith("finished an interrupted swap")
    assert _configs(out) == ["meld_balanced", "meld_natural"]
    assert recover_swap(out) == []


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_published_files_follow_the_umask(runs, tmp_path, umask):
    previous = os.umask(umask)
    try:
        out = tmp_path / "erc-synth"
        build_dataset([runs["balanced"]], BuildConfig(output=str(out)))
        written = write_text_atomic(tmp_path / "manifest.json", "{}\n")
    finally:
        os.umask(previous)
    files = [written, *(p for p in out.rglob("*") if p.is_file())]
    assert {p.suffix for p in files} >= {".json", ".parquet", ".md"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: oct(0o666 & ~umask) for p in files}
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {oct(0o777 & ~umask)}


_FULL_DISK = """
import json, sys
from pathlib import Path
from erc_synth_datasets.build import BuildConfig, build_dataset
from erc_synth_datasets.files import DiskFullError, write_text_atomic
from erc_synth_datasets.processes import LOCK_NAME

disk, run = Path(sys.argv[1]), sys.argv[2]
outcome = {}
write_text_atomic(disk / "kept.txt", "old\\n")
try:
    write_text_atomic(disk / "kept.txt", "x" * 200_000)
except DiskFullError as err:
    outcome["write"] = str(err)
outcome["kept"] = (disk / "kept.txt").read_text()
try:
    build_dataset([run], BuildConfig(output=str(disk / "erc-synth")))
except DiskFullError as err:
    outcome["build"] = str(err)
outcome["left"] = sorted(p.name for p in disk.iterdir() if not p.name.startswith(LOCK_NAME))
print(json.dumps(outcome))
"""


@pytest.mark.slow
def test_full_disk_gives_one_clear_error_naming_the_folder(runs, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed; a private size-limited tmpfs cannot be mounted")
    disk = tmp_path / "small-disk"
    disk.mkdir()
    script = tmp_path / "full_disk.py"
    script.write_text(_FULL_DISK)
    command = f"mount -t tmpfs -o size=64k tmpfs {disk} && {sys.executable} {script} {disk} {runs['balanced']}"
    process = subprocess.run(["unshare", "-rm", "sh", "-c", command], cwd=REPO, capture_output=True, text=True)
    if "mount" in process.stderr and process.returncode != 0 and not process.stdout:
        pytest.skip(f"cannot mount a tmpfs in a private namespace here: {process.stderr.strip()[:200]}")
    assert process.returncode == 0, process.stderr[-3000:]
    outcome = json.loads(process.stdout.strip().splitlines()[-1])
    assert outcome["write"].startswith(f"No space left on the device holding {str(disk)!r} while writing kept.txt")
    assert outcome["kept"] == "old\n"
    assert outcome["build"].startswith(
        f"No space left on the device holding {str(disk)!r} while writing the dataset folder 'erc-synth'"
    )
    assert "Traceback" not in outcome["build"]
    assert outcome["left"] == ["kept.txt"]  # no temporary file, no staging folder, no half dataset
    assert issubclass(DiskFullError, OSError)


def test_reading_a_built_folder_repairs_an_interrupted_swap_first(runs, tmp_path):
    from erc_synth_datasets.stats import dataset_folder_configs

    out = tmp_path / "erc-synth"
    build_dataset([runs["balanced"]], BuildConfig(output=str(out)))
    os.rename(out, tmp_path / f".erc-synth.previous-{_dead_pid()}-f6")
    assert dataset_folder_configs(out) == ["meld_balanced"]
    assert _stage_folders(tmp_path) == []
