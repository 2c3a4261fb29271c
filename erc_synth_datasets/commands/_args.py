"""Command-line flags generated from a config dataclass (one flag per field, help from the field's metadata)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterable
from typing import Any

__all__ = ["add_dataclass_arguments", "dataclass_from_args"]


def add_dataclass_arguments(
    parser: argparse.ArgumentParser, cls: type, *, skip: Iterable[str] = (), required: Iterable[str] = ()
) -> None:
    """Adds `--field-name` for each field of `cls` (booleans become `--flag`); defaults stay unset (None) so that
    values from a `--config` YAML file can sit between the dataclass defaults and the flags."""
    hints = typing.get_type_hints(cls)
    skip, required = set(skip), set(required)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        tp = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if tp is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", default=None, help=help_text)
            continue
        base = next((a for a in typing.get_args(tp) if a is not type(None)), tp)
        convert = base if base in (int, float, str) else str
        parser.add_argument(
            flag,
            dest=f.name,
            type=convert,
            default=None,
            required=f.name in required,
            help=f"{help_text} (default: {default})" if default is not None else help_text,
        )


def dataclass_from_args(cls: type, args: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    """An instance of `cls` from `base` (e.g. a YAML file's values) overridden by the flags that were given."""
    values = dict(base or {})
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = value
    return cls(**values)
