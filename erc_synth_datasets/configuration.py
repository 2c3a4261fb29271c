"""Dataclass configurations with a `--config file.yaml` and command-line overrides, shared by every subcommand.

A configuration is a plain `@dataclass` whose fields carry `metadata={"help": ...}` (as TRL's configs do). The same
fields are:

- the keys of a YAML file (1:1; an unknown key fails and the message lists the valid keys),
- the command-line flags (`--num_dialogues` or `--num-dialogues`), which override the YAML.

Example:

```python
@dataclass
class MyConfig:
    seed: int = field(default=0, metadata={"help": "Random seed."})

parser = make_config_parser(MyConfig, prog="erc-synth thing", description="Does a thing.")
(config,) = parse_config(parser, ["--config", "x.yaml", "--seed", "3"])
```

Flags are built by `transformers.HfArgumentParser` (booleans get `--flag`/`--no-flag`, lists take several values).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .files import read_yaml_mapping

__all__ = [
    "ConfigError",
    "config_from_dict",
    "config_to_dict",
    "load_config_yaml",
    "make_config_parser",
    "parse_config",
    "save_config_yaml",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value, key or file is wrong (the message says what was received and what is expected)."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(name: str, tp: Any, value: Any, source: str) -> Any:
    """Checks (and gently converts: int -> float, scalar -> one-element list) a YAML value against a field type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(tp, types.UnionType)):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for candidate in non_none:
            try:
                return _coerce(name, candidate, value, source)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{source}: {name!r} must be one of {list(args)}, but got {value!r}.")
        return value
    if origin in (list, tuple):
        item_type = args[0] if args else Any
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce(name, item_type, item, source) for item in items]
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {name!r} must be true or false, but got {value!r}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {name!r} must be a number, but got {value!r}.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {name!r} must be an integer, but got {value!r}.")
        return value
    if tp is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{source}: {name!r} must be a string, but got {value!r}.")
        return str(value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {name!r} must be a mapping, but got {value!r}.")
        return value
    return value


def config_from_dict(cls: type[T], data: dict[str, Any], *, source: str = "configuration") -> T:
    """Builds a config dataclass from plain data; unknown keys fail and the message lists the valid keys.

    Args:
        cls: The config dataclass.
        data: Field values (e.g. a YAML file's mapping).
        source: What `data` came from, for error messages (a file name).

    Raises:
        ConfigError: an unknown key, or a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of {cls.__name__} fields, but got {type(data).__name__}.")
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(
            f"{source} has unknown keys {unknown} for {cls.__name__}; valid keys are: {', '.join(sorted(types_))}."
        )
    values = {key: _coerce(key, types_[key], value, source) for key, value in data.items()}
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config's fields as plain data (the YAML layout `config_from_dict` reads)."""
    return dataclasses.asdict(config)


def load_config_yaml(path: str | Path, *dataclass_types: type) -> dict[str, Any]:
    """Reads a YAML config whose keys must be fields of the given dataclasses (checked and type-converted).

    Returns:
        The mapping of field name to value.

    Raises:
        ConfigError: the file is missing, is not a mapping, has unknown keys (the valid ones are listed) or values
            of the wrong type.
    """
    path = Path(path)
    data = read_yaml_mapping(
        path, what="Config file", error=ConfigError, missing_hint="check the --config path", allow_empty=True
    )
    types_: dict[str, Any] = {}
    for cls in dataclass_types:
        types_.update(_field_types(cls))
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(
            f"Config file {str(path)!r} has unknown keys {unknown}; valid keys are: {', '.join(sorted(types_))}."
        )
    return {key: _coerce(key, types_[key], value, f"Config file {str(path)!r}") for key, value in data.items()}


def save_config_yaml(config: Any, path: str | Path) -> None:
    """Writes a config as YAML (readable back by `--config`)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")


def make_config_parser(
    dataclass_types: type | Sequence[type], *, prog: str | None = None, description: str | None = None
) -> argparse.ArgumentParser:
    """An argument parser with one flag per dataclass field plus `--config FILE.yaml`.

    Args:
        dataclass_types: One config dataclass or several (their field names must not clash).
        prog: Program name shown in usage (`erc-synth generate`).
        description: Text shown by `--help`.
    """
    from transformers import HfArgumentParser

    classes = [dataclass_types] if isinstance(dataclass_types, type) else list(dataclass_types)
    parser = HfArgumentParser(
        classes, prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE.yaml",
        help="A YAML file whose keys are the options below (without dashes); flags given here override it.",
    )
    return parser


def parse_config(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, *, return_namespace: bool = False
) -> tuple[Any, ...]:
    """Parses `--config` (YAML defaults) and then the flags, returning one instance per dataclass of the parser.

    Args:
        parser: A parser from `make_config_parser` (more arguments, such as positionals, may have been added to it).
        argv: The command line (default: `sys.argv[1:]`).
        return_namespace: Also return, last, an `argparse.Namespace` with the arguments that are not dataclass
            fields (positionals added to the parser, `config`).

    Raises:
        ConfigError: a bad config file, or a value rejected by a dataclass's own validation.
        SystemExit: bad flags (argparse prints the usage), as with any command-line parser.
    """
    argv = list(argv) if argv is not None else None
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    classes = list(parser.dataclass_types)  # type: ignore[attr-defined]
    values = load_config_yaml(known.config, *classes) if known.config is not None else {}
    # The YAML becomes the parser's defaults for this call only (the parser may be reused).
    saved_defaults = dict(parser._defaults)
    saved_actions = [(action, action.default, action.required) for action in parser._actions]
    try:
        parser.set_defaults(**values)
        for action in parser._actions:
            if action.dest in values:
                # A field given in the YAML is no longer required on the command line.
                action.required = False
        outputs = parser.parse_args_into_dataclasses(args=argv)  # type: ignore[attr-defined]
    finally:
        parser._defaults = saved_defaults
        for action, default, required in saved_actions:
            action.default, action.required = default, required
    # HfArgumentParser appends a namespace with the extra arguments (here: --config) after the dataclasses.
    configs = tuple(output for output in outputs if not isinstance(output, argparse.Namespace))
    if not return_namespace:
        return configs
    extras = [output for output in outputs if isinstance(output, argparse.Namespace)]
    return (*configs, extras[0] if extras else argparse.Namespace())
