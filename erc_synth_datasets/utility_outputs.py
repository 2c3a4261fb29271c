"""The utility measurement of a benchmark inside a dataset folder, and the block its configs' card sections show.

A release measures what the synthetic configs of one benchmark are worth (`trainers.utility.run_utility`, which
writes `utility.json` and `utility.md`) and stores both in the dataset folder as `utility/<benchmark>/`; every config
of that benchmark then shows the Markdown (variants against both Orgs, the exact Friedman p-values, the floors and
the curve) in its card section, and the JSON is the same figures for programs.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from .errors import ErcSynthError
from .files import read_json_file

__all__ = [
    "UTILITY_FILES",
    "UTILITY_FOLDER",
    "UtilityReportError",
    "card_utility_section",
    "read_utility",
    "store_utility",
    "utility_folder",
]

logger = logging.getLogger(__name__)

#: The folder of a dataset repository that holds each benchmark's utility measurement.
UTILITY_FOLDER = "utility"

#: File names of a utility measurement, by kind (as `run_utility` writes them).
UTILITY_FILES = {"json": "utility.json", "markdown": "utility.md"}


class UtilityReportError(ErcSynthError, ValueError):
    """A stored `utility.json` cannot be read back; the message names the file and what is wrong."""


def utility_folder(dataset_folder: str | Path, benchmark: str) -> Path:
    return Path(dataset_folder) / UTILITY_FOLDER / benchmark


def store_utility(work: str | Path, dataset_folder: str | Path, benchmark: str) -> Path:
    """Copies the utility files of a finished measurement (`work`) into `<dataset folder>/utility/<benchmark>/`."""
    target = utility_folder(dataset_folder, benchmark)
    target.mkdir(parents=True, exist_ok=True)
    for name in UTILITY_FILES.values():
        staged = target / f".{name}.tmp"
        shutil.copyfile(Path(work) / name, staged)
        staged.replace(target / name)
    return target


def read_utility(dataset_folder: str | Path, benchmark: str) -> dict[str, Any] | None:
    """The stored utility report of `benchmark`, or None when there is none (or it is not readable JSON)."""
    path = utility_folder(dataset_folder, benchmark) / UTILITY_FILES["json"]
    if not path.is_file():
        return None
    try:
        return read_json_file(path, what="Utility report", error=UtilityReportError)
    except UtilityReportError as err:
        logger.warning("%s; the card leaves the utility report out.", err)
        return None


def card_utility_section(dataset_folder: str | Path, benchmark: str) -> str | None:
    """The utility block of a config's card section, from the stored Markdown; None when there is none."""
    path = utility_folder(dataset_folder, benchmark) / UTILITY_FILES["markdown"]
    if not path.is_file() or read_utility(dataset_folder, benchmark) is None:
        return None
    body = path.read_text(encoding="utf-8").strip()
    # The stored Markdown's headings sit below the config's own heading level.
    body = "\n".join(f"###{line}" if line.startswith("#") else line for line in body.splitlines())
    return (
        "#### Utility\n\n"
        f"What the synthetic {benchmark} configs are worth for training a classifier (`trainers.utility`): every "
        "variant against the converged and the steps-matched Org, exact Friedman p-values (Bonferroni), the "
        f"floors; figures in `{UTILITY_FOLDER}/{benchmark}/{UTILITY_FILES['json']}`.\n\n" + body + "\n"
    )
