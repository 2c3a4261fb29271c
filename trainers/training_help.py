"""`erc-synth train --help` without importing transformers: a snapshot of `TrainingArguments`' options.

`erc-synth train` takes one flag per field of `ModelArguments`, `DataArguments` and `ErcTrainingArguments`, and most
of the last are `transformers.TrainingArguments`' own (114 of them in transformers 5.24). Importing transformers for
them made `erc-synth train --help` take about 4 s on the 2-core development machine, where every other command's
help takes a fraction of a second. So the help, and only the help, is rendered from `training_arguments.json`, a
snapshot of what `OptionParser` makes of `TrainingArguments`' fields (name, type, choices, default, help; see
`erc_synth_datasets.options.describe_fields`), shipped as package data. The project's own fields are read from the
real dataclasses (`ModelArguments`, `DataArguments`, `ErcTrainingFields` in the transformers-free
`trainers.config`), so adding a field there needs no new snapshot; a real run is still parsed with the real
`ErcTrainingArguments`.

Why this design:

- Only the third-party part is snapshotted, and it changes only when transformers does. The snapshot records the
  transformers version it was made from and is used only when that version is installed (a check of the
  installed package's metadata, which imports nothing); with any other version the help imports transformers as
  before, so it is never wrong, only slower.
- It cannot drift unnoticed: tests/test_cli_imports.py fails when the snapshot differs from the installed
  transformers' `TrainingArguments`, and when the help rendered from it differs from the real parser's help by one
  character or one flag.
- Rejected: a lazy `--help` action that imports transformers anyway (no faster); help text written by hand (drifts,
  and would be 114 options to keep up to date); a snapshot of the whole rendered help (changes with every project
  field and with the terminal width); building every parse from the snapshot (a different transformers version
  would then parse real runs with the wrong options).

Rewrite the snapshot after upgrading transformers: `python -m trainers.training_help` (`--check` only compares).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path
from typing import Any

from erc_synth_datasets.files import write_json_atomic
from erc_synth_datasets.options import dataclass_from_fields, describe_fields

from .config import ErcTrainingFields

__all__ = ["SNAPSHOT_NAME", "help_training_arguments", "load_snapshot", "main", "make_snapshot", "snapshot_path"]

SNAPSHOT_NAME = "training_arguments.json"


def snapshot_path() -> Path:
    """Where the snapshot ships: `trainers/training_arguments.json` (package data)."""
    return Path(str(files("trainers").joinpath(SNAPSHOT_NAME)))


def _installed_transformers() -> str | None:
    try:
        return version("transformers")
    except PackageNotFoundError:
        return None


def make_snapshot() -> dict[str, Any]:
    """The snapshot of the installed transformers' `TrainingArguments` (imports transformers)."""
    from transformers import TrainingArguments

    return {"transformers": _installed_transformers(), "fields": describe_fields(TrainingArguments)}


def load_snapshot() -> dict[str, Any]:
    """The shipped snapshot: `{"transformers": version, "fields": [one `describe_fields` entry per field]}`."""
    return json.loads(snapshot_path().read_text(encoding="utf-8"))


def help_training_arguments() -> type | None:
    """A stand-in of `ErcTrainingArguments` that gives the same flags and help, built without transformers.

    Returns:
        The stand-in dataclass (`ErcTrainingFields` over the snapshot of `TrainingArguments`, in the real class's
        field order), or None when the snapshot was made from another transformers version than the installed one
        (or is missing): then the caller uses the real class.
    """

    try:
        snapshot = load_snapshot()
    except (OSError, ValueError):
        return None
    if snapshot.get("transformers") is None or snapshot["transformers"] != _installed_transformers():
        return None
    base = dataclass_from_fields("TrainingArguments", snapshot["fields"])
    return dataclasses.make_dataclass("ErcTrainingArguments", [], bases=(ErcTrainingFields, base))


def main(argv: list[str] | None = None) -> int:
    """Writes the snapshot of the installed transformers (or, with `--check`, says whether it is up to date)."""
    parser = argparse.ArgumentParser(prog="python -m trainers.training_help", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Only compare; exit status 1 when the snapshot differs.")
    args = parser.parse_args(argv)

    fresh, path = make_snapshot(), snapshot_path()
    current = load_snapshot() if path.is_file() else None
    if args.check:
        same = current == fresh
        print(f"{path}: {'up to date with' if same else 'differs from'} transformers {fresh['transformers']}")
        return 0 if same else 1
    write_json_atomic(path, fresh)
    print(f"{path}: {len(fresh['fields'])} fields of transformers {fresh['transformers']}'s TrainingArguments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
