"""Dataclass configurations as plain data and YAML: checked, type-converted, unknown keys refused.

A configuration is a plain `@dataclass` whose fields carry `metadata={"help": ...}` (as TRL's configs do); its field
names are the keys of a YAML file (1:1; an unknown key fails and the message lists the valid keys). The command-line
side (one flag per field, flags overriding the YAML) is `erc_synth_datasets.options.OptionParser`.

Example:

```python
@dataclass
class MyConfig:
    seed: int = field(default=0, metadata={"help": "Random seed."})

config = config_from_dict(MyConfig, load_config_yaml("x.yaml", MyConfig))
```
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ErcSynthError
from .files import read_yaml_mapping

__all__ = [
    "ConfigError",
    "coerce_value",
    "config_from_dict",
    "config_to_dict",
    "field_types",
    "load_config_yaml",
    "save_config_yaml",
]

T = TypeVar("T")


class ConfigError(ErcSynthError, ValueError):
    """A configuration value, key or file is wrong (the message says what was received and what is expected)."""


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of every `__init__` field of a config dataclass."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved here: use the field's own
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(cls) if f.init}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce_value(name: str, tp: Any, value: Any, source: str) -> Any:
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
                return coerce_value(name, candidate, value, source)
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
        return [coerce_value(name, item_type, item, source) for item in items]
    if tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            valid = [member.value for member in tp]
            raise ConfigError(f"{source}: {name!r} must be one of {valid}, but got {value!r}.") from None
    if tp is Path:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{source}: {name!r} must be a path, but got {value!r}.")
        return Path(value)
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
    types_ = field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(
            f"{source} has unknown keys {unknown} for {cls.__name__}; valid keys are: {', '.join(sorted(types_))}."
        )
    values = {key: coerce_value(key, types_[key], value, source) for key, value in data.items()}
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config's fields as plain data (the YAML layout `config_from_dict` reads; enum members become values)."""
    return {key: _plain(value) for key, value in dataclasses.asdict(config).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def load_config_yaml(
    path: str | Path, *dataclass_types: type, synonyms: dict[str, str] | None = None
) -> dict[str, Any]:
    """Reads a YAML config whose keys must be fields of the given dataclasses (checked and type-converted).

    Args:
        path: The YAML file.
        dataclass_types: The config dataclasses whose fields are the valid keys.
        synonyms: Other accepted keys, key -> field name (`output_dir` for a field named `output`).

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
        types_.update(field_types(cls))
    synonyms = {key: name for key, name in (synonyms or {}).items() if name in types_ and key not in types_}
    data = {synonyms.get(key, key): value for key, value in data.items()}
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(
            f"Config file {str(path)!r} has unknown keys {unknown}; valid keys are: {', '.join(sorted(types_))}."
        )
    return {key: coerce_value(key, types_[key], value, f"Config file {str(path)!r}") for key, value in data.items()}


def save_config_yaml(config: Any, path: str | Path) -> None:
    """Writes a config as YAML (readable back by `--config`)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
