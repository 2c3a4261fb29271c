"""Swapping a finished folder into place so that a kill at any moment can be recovered from.

A build assembles the new folder as `.NAME.building-<pid>-*` next to `NAME`. When it is complete it is renamed to
`.NAME.ready-<pid>-*` (complete, not yet in place); the old `NAME` is renamed to `.NAME.previous-<pid>-*`; the ready
folder is renamed to `NAME`; the previous folder is deleted. Each step is one `rename`, so after a kill at any point
`recover_swap` (run by the next build, and by readers of a built folder) finds one of these states and repairs it:

| left behind by a dead process | repair |
|---|---|
| no `NAME`, a `ready` folder | finish: the ready folder becomes `NAME` |
| no `NAME`, only a `previous` folder | restore: the previous folder becomes `NAME` again |
| `NAME`, and any `building`, `ready` or `previous` folder | delete them (the swap never started or had finished) |

Folders of a process that is still running (another build) are left alone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from .files import current_umask

__all__ = ["STAGES", "make_staging_folder", "recover_swap", "swap_into_place"]

logger = logging.getLogger(__name__)

STAGES = ("building", "ready", "previous")


def _stage_prefix(output: Path, stage: str) -> str:
    return f".{output.name}.{stage}-{os.getpid()}-"


def make_staging_folder(output: str | Path) -> Path:
    """A new, empty `.NAME.building-<pid>-*` folder next to `output`, with the permissions the umask gives."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=_stage_prefix(output, "building")))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it private; the published folder should not be
    return staging


def swap_into_place(staging: str | Path, output: str | Path) -> None:
    """Renames the finished `staging` folder to `output`, moving any previous `output` aside, then deletes that."""
    staging, output = Path(staging), Path(output)
    ready = Path(tempfile.mkdtemp(dir=output.parent, prefix=_stage_prefix(output, "ready")))
    ready.rmdir()
    os.rename(staging, ready)
    if not output.exists():
        os.rename(ready, output)
        return
    previous = Path(tempfile.mkdtemp(dir=output.parent, prefix=_stage_prefix(output, "previous")))
    previous.rmdir()
    os.rename(output, previous)
    try:
        os.rename(ready, output)
    except BaseException:
        os.rename(previous, output)
        shutil.rmtree(ready, ignore_errors=True)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user
    return True


def _leftovers(output: Path) -> dict[str, list[Path]]:
    """Stage folders of `output` whose process is no longer running, newest first, by stage."""
    pattern = re.compile(rf"\.{re.escape(output.name)}\.(?P<stage>{'|'.join(STAGES)})-(?P<pid>\d+)-")
    found: dict[str, list[Path]] = {stage: [] for stage in STAGES}
    if not output.parent.is_dir():
        return found
    for entry in output.parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not _is_running(int(match.group("pid"))):
            found[match.group("stage")].append(entry)
    for entries in found.values():
        entries.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return found


def recover_swap(output: str | Path) -> list[str]:
    """Repairs what an interrupted swap into `output` left behind (see the module docstring); never raises for that.

    Returns:
        One line per repair made (also logged), empty when there was nothing to repair.
    """
    output = Path(output).absolute()
    leftovers = _leftovers(output)
    done = []
    if not output.exists():
        if leftovers["ready"]:
            os.rename(leftovers["ready"].pop(0), output)
            done.append(f"finished an interrupted swap: the completed new {output.name!r} is now in place")
        elif leftovers["previous"]:
            os.rename(leftovers["previous"].pop(0), output)
            done.append(f"restored {output.name!r} from before an interrupted build")
    for stage in STAGES:
        for entry in leftovers[stage]:
            shutil.rmtree(entry, ignore_errors=True)
            done.append(f"removed the stale {stage} folder {entry.name!r}")
    for line in done:
        logger.warning("%s: %s", output, line)
    return done
