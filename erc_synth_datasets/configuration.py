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

Numbers are checked by the fields' metadata, not by hand in every dataclass (`check_values`, `check_fields`): a
`float` field must be a finite number (NaN and infinities are refused everywhere), and a field whose metadata has
`"range": "[0, 1]"` (brackets include the bound, parentheses exclude it, `inf` for no upper bound) must lie in that
interval; for a list field each item is checked. A dataclass whose number fields come from a library (and so cannot
carry our metadata) gives their ranges in a class attribute `field_ranges` (field name -> range), read the same way
(`field_range`). `OptionParser` checks every value given on the command line or in a
config file this way before the dataclass is built, and a dataclass built elsewhere calls `check_fields(self)` in
its `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import sys
import types
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ErcSynthError
from .files import read_yaml_mapping

__all__ = [
    "FIELD_RANGES_ATTRIBUTE",
    "ConfigError",
    "Interval",
    "check_fields",
    "check_values",
    "coerce_value",
    "config_from_dict",
    "config_to_dict",
    "field_range",
    "field_types",
    "is_vocabulary_value",
    "load_config_yaml",
    "output_dir_alias",
    "renamed_field",
    "save_config_yaml",
    "take_old_output",
    "take_old_value",
    "warn_deprecated",
]

T = TypeVar("T")

#: The class attribute (a `ClassVar[dict[str, str]]`) giving the ranges of fields a dataclass inherits from a library.
FIELD_RANGES_ATTRIBUTE = "field_ranges"


class ConfigError(ErcSynthError, ValueError):
    """A configuration value, key or file is wrong (the message says what was received and what is expected)."""


def _old_name_message(old: str, new: str) -> str:
    return f"`{old}` is the old name of `{new}`; it still works for this release, use `{new}`."


def warn_deprecated(old: str, new: str, where: str) -> None:
    """The one message for an old spelling a user wrote (a flag or a YAML key): one line on stderr, since it still
    works for this release."""
    print(f"{where}: {old} is the old spelling of {new}; it still works for this release, use {new}.", file=sys.stderr)


def renamed_field(old: str, new: str) -> Callable[[type[T]], type[T]]:
    """Class decorator (above `@dataclass`): `old`, the old name of an options class's field `new`, still works for
    one release as an attribute, with a `DeprecationWarning`. The class also declares `old: InitVar[...] = None`
    after its fields and passes it to `take_old_value` in `__post_init__`, so that it still works as a keyword of
    the constructor."""
    message = _old_name_message(old, new)

    def decorate(cls: type[T]) -> type[T]:
        def get(self: Any) -> Any:
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            return getattr(self, new)

        def set_(self: Any, value: Any) -> None:
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            setattr(self, new, value)

        setattr(cls, old, property(get, set_))
        return cls

    return decorate


#: `output`, the old name of `output_dir` (see `renamed_field`).
output_dir_alias = renamed_field("output", "output_dir")


def take_old_value(config: Any, old: str, new: str, value: Any, *, what: str = "value", stacklevel: int = 3) -> None:
    """Moves a value given under the old keyword `old` into the field `new` (see `renamed_field`).

    Raises:
        ConfigError: both names are given, with different values.
    """
    if value is None:
        return
    warnings.warn(_old_name_message(old, new), DeprecationWarning, stacklevel=stacklevel)
    default = next(spec.default for spec in dataclasses.fields(config) if spec.name == new)
    if getattr(config, new) not in (None, default, value):
        raise ConfigError(
            f"Give the {what} once, as {new}, but got {new}={getattr(config, new)!r} and the old {old}={value!r}."
        )
    setattr(config, new, value)


def take_old_output(config: Any, output: Any) -> None:
    """`take_old_value` for `output`, the old name of `output_dir`."""
    take_old_value(config, "output", "output_dir", output, what="output folder", stacklevel=4)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of every `__init__` field of a config dataclass."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved here: use the field's own
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(cls) if f.init}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def is_vocabulary_value(tp: Any) -> bool:
    """A dataclass of the project's vocabulary written as one name (`Variant`): it reads itself with `parse`."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp) and hasattr(tp, "parse")


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
    if is_vocabulary_value(tp):  # `Variant`: one name with a grammar, read by its own `parse`
        try:
            return tp.parse(value)
        except ValueError as err:
            raise ConfigError(f"{source}: {name}: {err}") from None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if hasattr(tp, "parse"):  # the project's vocabulary (`Mode`, `Split`): its own message, the same everywhere
            try:
                return tp.parse(value, what=name)
            except ValueError as err:
                raise ConfigError(f"{source}: {err}") from None
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


@dataclass(frozen=True)
class Interval:
    """The interval a number option must lie in, read from a field's `"range"` metadata (`"(0, 1]"`, `"[1, inf)"`)."""

    low: float
    high: float
    low_closed: bool = True
    high_closed: bool = True

    @classmethod
    def parse(cls, text: str) -> Interval:
        text = text.strip()
        if len(text) < 5 or text[0] not in "[(" or text[-1] not in "])" or "," not in text:
            raise ConfigError(f"A field's range must look like '[0, 1]' or '(0, inf)', but got {text!r}.")
        low, high = (part.strip() for part in text[1:-1].split(",", 1))
        return cls(float(low), float(high), text[0] == "[", text[-1] == "]")

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def __str__(self) -> str:
        def show(bound: float) -> str:
            return "inf" if math.isinf(bound) else f"{bound:g}" if not float(bound).is_integer() else str(int(bound))

        return (
            f"{'[' if self.low_closed else '('}{show(self.low)}, {show(self.high)}{']' if self.high_closed else ')'}"
        )


def field_range(cls: type, spec: dataclasses.Field) -> str | None:
    """The interval a number field must lie in (`"[0, 1]"`): its `"range"` metadata, else `cls.field_ranges`."""
    return spec.metadata.get("range") or getattr(cls, FIELD_RANGES_ATTRIBUTE, {}).get(spec.name)


def _option_name(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _is_number_type(tp: Any) -> bool:
    """Whether a field type is `int` or `float` (optionally `| None`, or a list of them) and not `bool`."""
    members = (
        typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, list, tuple) or isinstance(tp, types.UnionType)
        else (tp,)
    )
    members = tuple(m for m in members if m is not type(None))
    return bool(members) and all(m in (int, float) for m in members)


def _check_number(name: str, value: Any, allowed_range: str | None, number_type: bool) -> None:
    if number_type and (isinstance(value, bool) or (value is not None and not isinstance(value, (int, float)))):
        allowed = f"a number in {allowed_range}" if allowed_range else "a number"
        raise ConfigError(f"{_option_name(name)} ({name}) must be {allowed}, but got {value!r}.")
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    interval = Interval.parse(allowed_range) if allowed_range else None
    allowed = f"a number in {interval}" if interval is not None else "a finite number"
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{_option_name(name)} ({name}) must be {allowed}, but got {value!r}.")
    if interval is not None and value not in interval:
        what = "an integer" if isinstance(value, int) else "a number"
        raise ConfigError(f"{_option_name(name)} ({name}) must be {what} in {interval}, but got {value!r}.")


def check_values(cls: type, values: dict[str, Any]) -> None:
    """Checks the numbers among `values` (field name -> value) against `cls`'s fields: finite, and within each
    field's range (`field_range`; lists item by item).

    Raises:
        ConfigError: naming the option, the allowed interval and the value received.
    """
    specs = {spec.name: spec for spec in dataclasses.fields(cls)}
    types_ = field_types(cls)
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            continue
        number_type = _is_number_type(types_.get(name))
        allowed_range = field_range(cls, spec)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            _check_number(name, item, allowed_range, number_type)


def check_fields(config: Any) -> None:
    """`check_values` on every field of a dataclass instance (call it from `__post_init__`)."""
    check_values(type(config), {spec.name: getattr(config, spec.name) for spec in dataclasses.fields(config)})


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
    check_values(cls, values)
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config's fields as plain data (the YAML layout `config_from_dict` reads; names of the vocabulary, enum
    members and `Variant`s, become their text)."""
    return {spec.name: _plain(getattr(config, spec.name)) for spec in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if is_vocabulary_value(type(value)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def load_config_yaml(
    path: str | Path,
    *dataclass_types: type,
    synonyms: dict[str, str] | None = None,
    deprecated: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Reads a YAML config whose keys must be fields of the given dataclasses (checked and type-converted).

    Args:
        path: The YAML file.
        dataclass_types: The config dataclasses whose fields are the valid keys.
        synonyms: Other accepted keys, key -> field name (`output_dir` for a field named `output`).
        deprecated: Old keys among the synonyms (old key -> its new name): using one prints a warning line.

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
    for key in sorted(set(data) & set(synonyms) & set(deprecated or {})):
        warn_deprecated(f"the key {key!r}", repr(synonyms[key]), f"Config file {str(path)!r}")
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
