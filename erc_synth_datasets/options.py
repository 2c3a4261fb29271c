"""One option parser for every `erc-synth` command: dataclass fields become flags, `--config FILE.yaml` maps 1:1.

A command's options are one or more `@dataclass`es whose fields carry `metadata={"help": ...}` (as TRL's configs do).
`OptionParser` turns every field into a flag and adds `--config FILE.yaml` and `--debug`:

- the YAML keys are the field names (an unknown key fails and the message lists the valid keys);
- flags given on the command line override the YAML, which overrides the dataclass defaults;
- `--reset NAME` puts an option that the YAML sets back to its default (`--reset data-dir`; repeat the flag or
  separate names with commas for several): the way to unset a value, since every value given on the command line is
  taken literally (`--data-dir ''` is the current folder, `--data-dir none` a folder named `none`);
- `--num-dialogues` and `--num_dialogues` are the same flag (help shows the dashed spelling);
- booleans take `--flag`, `--flag true|false` and `--no-flag`; lists take several values (`--seeds 1 2 3`);
- enums and `Literal` types become choices; a field without a default must be given (flag or YAML);
- the same thing has the same flag in every command: the output folder is `--output-dir` everywhere, with the old
  spellings `--output` and `--output_dir` kept as aliases for one release (help says so).

Field metadata understood besides `help`: `positional` (a positional argument), `choices`, `metavar`, `aliases`
(other flag names kept working), `old_names` (old names of the field, kept working as a flag and a YAML key for one
release, each use with a line on stderr), `nargs`, and `range` (`"[0, 1]"`, `"(0, inf)"`: the interval a number must
lie in, shown in the help). Every number given is checked before the dataclass is built: NaN and infinities are
refused for every `float` field, and a value outside its field's `range` is refused with the interval
(`erc_synth_datasets.configuration.check_values`).

`describe_fields` writes what the parser makes of a dataclass's fields as JSON data, and `dataclass_from_fields`
turns that data back into a plain dataclass that gives the same flags and the same `--help`: a command whose options
come from a heavy library (`erc-synth train`: `transformers.TrainingArguments`) shows its help from such a snapshot
(see `trainers.training_help`).

Why not `transformers.HfArgumentParser` (which TRL uses): `erc-synth <command> --help` must not import transformers,
and importing `transformers.hf_argparser` alone took 3.2 s and loaded 573 modules (numpy included) on the 2-core
development machine (`python -c "import transformers.hf_argparser"`, measured twice, 3.19 s and 3.21 s, against 0.20 s
for `yaml`, `argparse` and `dataclasses`), slower than the whole of a `--help` should be. This module keeps its
behaviour (one flag per field, `--no-` booleans, choices from enums, list flags) on plain argparse, and adds what it
lacks: the YAML layer with unknown-key errors, one spelling per flag with aliases, and typed errors.

Example:

```python
@dataclass
class MyOptions:
    seed: int = field(default=0, metadata={"help": "Random seed."})

(options,) = OptionParser(MyOptions, prog="erc-synth thing").parse(["--config", "x.yaml", "--seed", "3"])
```
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .configuration import (
    ConfigError,
    check_values,
    coerce_value,
    field_range,
    field_types,
    is_vocabulary_value,
    load_config_yaml,
    warn_deprecated,
)
from .errors import DEBUG_FLAG, ErcSynthError
from .files import load_yaml_text
from .registry import did_you_mean

__all__ = [
    "CANONICAL_FLAGS",
    "DEPRECATED_SPELLINGS",
    "FIELD_METADATA",
    "OptionParser",
    "RESET_FLAG",
    "asks_for_help",
    "dataclass_from_fields",
    "describe_fields",
    "make_config_parser",
    "parse_config",
]

#: Fields whose flag is spelled differently from the field name, so that the same thing has the same flag in every
#: command: field name -> (flag name, old spellings kept as aliases for one release).
CANONICAL_FLAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "output": ("output_dir", ("output", "output_dir")),
    "output_dir": ("output_dir", ("output", "output_dir")),
}
#: Old spellings that still work for one release, each with a line on stderr (`warn_deprecated`): the flag
#: `--output` and the YAML key `output` of the output folder.
DEPRECATED_SPELLINGS: dict[str, str] = {
    old: flag for flag, olds in CANONICAL_FLAGS.values() for old in olds if old != flag
}
#: The field metadata `OptionParser` reads; other keys (such as `HfArgumentParser`'s `const`) change no flag.
FIELD_METADATA = ("help", "positional", "choices", "metavar", "aliases", "old_names", "nargs", "range")
#: The flag that puts options a `--config` file sets back to their defaults.
RESET_FLAG = "--reset"
_ALIAS_NOTE = "The old spellings {old} still work for this release."
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise argparse.ArgumentTypeError(f"expected true or false, but got {text!r}")


def _has_default(spec: dataclasses.Field) -> bool:
    return spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING


def _dashed(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union or isinstance(tp, types.UnionType)


def _describe(tp: Any) -> tuple[Any, dict[str, Any]]:
    """The scalar type of a field and the argparse settings it implies (`type`, `choices`, `nargs`)."""
    if _is_union(tp):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        enums = [arg for arg in members if isinstance(arg, type) and issubclass(arg, enum.Enum)]
        if enums:
            return _describe(enums[0])
        if dict in members or any(typing.get_origin(arg) is dict for arg in members):
            return dict, {"type": str}  # a mapping is given as YAML/JSON text on the command line
        return _describe(members[0]) if members else (str, {"type": str})
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        values = typing.get_args(tp)
        return type(values[0]), {"type": type(values[0]), "choices": list(values)}
    if origin in (list, tuple, Sequence):
        args = [arg for arg in typing.get_args(tp) if arg is not Ellipsis]
        item, settings = _describe(args[0]) if args else (str, {"type": str})
        return list, {**settings, "nargs": "+", "item": item}
    if tp is dict or origin is dict:
        return dict, {"type": str}
    if is_vocabulary_value(tp):  # `Variant`: a name with a grammar, read by its own `parse`
        return tp, {"type": str, "metavar": tp.__name__.upper()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        names = [member.value for member in tp]
        if hasattr(tp, "parse"):  # the project's vocabulary refuses a wrong name itself (`coerce_value`)
            return tp, {"type": str, "metavar": "{" + ",".join(names) + "}"}
        return tp, {"type": str, "choices": names}
    if tp is bool:
        return bool, {"type": _bool}
    if tp in (int, float, str, Path):
        return tp, {"type": tp}
    return str, {"type": str}


class OptionParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` with one flag per field of the given dataclasses, `--config` and `--debug`.

    Args:
        dataclass_types: One options dataclass or several (their field names must not clash).
        prog: Program name shown in usage (`erc-synth generate`).
        description: Text shown by `--help`.
        epilog: Text shown after the options (an example command line).
        config_positional: Also take the YAML file as an optional first positional argument (`erc-synth experiment
            paper.yaml`), the same as `--config`.
    """

    def __init__(
        self,
        dataclass_types: type | Sequence[type],
        *,
        prog: str | None = None,
        description: str | None = None,
        epilog: str | None = None,
        config_positional: bool = False,
    ) -> None:
        super().__init__(
            prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        self.dataclass_types = [dataclass_types] if isinstance(dataclass_types, type) else list(dataclass_types)
        self._field_owner: dict[str, type] = {}
        # Old spelling -> flag name: the shared ones, and each field's own `old_names`.
        self._deprecated: dict[str, str] = dict(DEPRECATED_SPELLINGS)
        self.add_argument(
            "--config",
            default=None,
            metavar="FILE.yaml",
            help="A YAML file whose keys are the option names below (with underscores); flags given here override it.",
        )
        self.add_argument(
            RESET_FLAG,
            default=[],
            action="append",
            metavar="NAME[,NAME...]",
            help="Put options that --config sets back to their defaults: --reset data-dir (repeat the flag or "
            "separate names with commas for several).",
        )
        if config_positional:
            self.add_argument("config_file", nargs="?", metavar="CONFIG.yaml", help="The same as --config.")
        if not any(spec.name == "debug" for cls in self.dataclass_types for spec in dataclasses.fields(cls)):
            self.add_argument(DEBUG_FLAG, action="store_true", help="Show the full traceback of an error.")
        for cls in self.dataclass_types:
            for spec in dataclasses.fields(cls):
                if spec.init and not spec.name.startswith("_"):
                    self._add_field(cls, spec, field_types(cls).get(spec.name, spec.type))

    def _add_field(self, cls: type, spec: dataclasses.Field, tp: Any) -> None:
        if spec.name in self._field_owner:
            raise ConfigError(
                f"The option {spec.name!r} is defined by both {self._field_owner[spec.name].__name__} and "
                f"{cls.__name__}; option names must be unique within a command."
            )
        self._field_owner[spec.name] = cls
        meta = dict(spec.metadata)
        kind, settings = _describe(tp)
        settings.pop("item", None)
        help_text = meta.get("help") or ""
        kwargs: dict[str, Any] = {"type": settings["type"], "dest": spec.name, "default": argparse.SUPPRESS}
        for key in ("choices", "metavar", "nargs"):
            if key in settings:
                kwargs[key] = settings[key]
        for key in ("choices", "metavar", "nargs"):
            if key in meta:
                kwargs[key] = meta[key]
        if kwargs.get("nargs") in ("+", "*") and not meta.get("positional"):
            kwargs["action"] = "extend"  # a repeated flag adds to the list
        if meta.get("positional"):
            kwargs.pop("dest")
            if _has_default(spec):
                kwargs.setdefault("nargs", "?")
            self.add_argument(spec.name, help=help_text, **kwargs)
            return
        name, old = CANONICAL_FLAGS.get(spec.name, (spec.name, ()))
        old = (*old, *meta.get("old_names", ()))
        self._deprecated.update({alias: name for alias in meta.get("old_names", ())})
        aliases = [_dashed(alias) for alias in (*old, *meta.get("aliases", ())) if alias != name]
        aliases += [alias.replace("-", "_").replace("__", "--", 1) for alias in aliases if "-" in alias[2:]]
        aliases = list(dict.fromkeys(alias for alias in aliases if alias != _dashed(name)))
        if old:
            shown = " and ".join("--" + alias for alias in old)
            help_text = f"{help_text} {_ALIAS_NOTE.format(old=shown)}".strip()
        default = self._default_text(spec)
        allowed_range = field_range(cls, spec)
        if allowed_range:
            help_text = f"{help_text} Allowed: {allowed_range}.".strip()
        if default is not None:
            help_text = f"{help_text} (default: {default})"
        if "choices" not in kwargs:
            kwargs.setdefault("metavar", name.upper())
        if kind is bool:
            kwargs.update(nargs="?", const=True, metavar="true|false")
            self.add_argument(_dashed(name), *aliases, help=help_text, **kwargs)
            self.add_argument(
                _dashed(f"no_{name}"),
                dest=spec.name,
                action="store_false",
                default=argparse.SUPPRESS,
                help=argparse.SUPPRESS,
            )
            return
        self.add_argument(_dashed(name), *aliases, help=help_text, **kwargs)

    @staticmethod
    def _default_text(spec: dataclasses.Field) -> str | None:
        if spec.default is not dataclasses.MISSING:
            value = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            value = spec.default_factory()
        else:
            return "required"
        if value is None or value == "" or value == [] or value == {}:
            return None
        if isinstance(value, list):  # names of the vocabulary as their text, like a YAML list
            return str(
                [
                    str(item) if isinstance(item, enum.Enum) or is_vocabulary_value(type(item)) else item
                    for item in value
                ]
            )
        return str(value.value if isinstance(value, enum.Enum) else value)

    def _normalise(self, argv: Sequence[str]) -> list[str]:
        """`--a_b` and `--a_b=x` become `--a-b` and `--a-b=x` when that is a known flag (arguments after `--` kept)."""
        flags = self._option_string_actions
        out: list[str] = []
        for index, token in enumerate(argv):
            if token == "--":
                return out + list(argv[index:])
            flag, sep, value = token.partition("=")
            old = flag[2:].replace("-", "_")
            if flag.startswith("--") and old in self._deprecated and flag in flags:
                warn_deprecated(flag, _dashed(self._deprecated[old]), self.prog)
            if flag.startswith("--") and flag not in flags:
                dashed = "--" + flag[2:].replace("_", "-")
                if dashed in flags:
                    token = dashed + sep + value
            out.append(token)
        return out

    def parse(self, argv: Sequence[str] | None = None) -> tuple[Any, ...]:
        """Parses the command line into one instance per dataclass, in the order they were given.

        Raises:
            ConfigError: a bad config file, a missing required option, or a value that a dataclass refuses.
            SystemExit: bad flags (argparse prints the usage and exits with status 2), or `--help`.
        """
        *configs, _ = self.parse_with_extras(argv)
        return tuple(configs)

    def parse_with_extras(self, argv: Sequence[str] | None = None) -> tuple[Any, ...]:
        """Like `parse`, followed by an `argparse.Namespace` of the arguments that are not dataclass fields."""
        argv = list(sys.argv[1:] if argv is None else argv)
        namespace = self.parse_args(self._normalise(argv))
        given = vars(namespace)
        if given.get("config_file") is not None:
            if given.get("config") is not None:
                raise ConfigError(
                    f"Give the YAML file once, but got {given['config_file']} and --config {given['config']}."
                )
            given["config"] = given["config_file"]
        given.pop("config_file", None)
        reset = self._reset_fields(given.pop("reset", []), given)
        file_values: dict[str, Any] = {}
        if given.get("config") is not None:
            file_values = load_config_yaml(
                given["config"],
                *self.dataclass_types,
                synonyms={**_yaml_synonyms(), **self._deprecated},
                deprecated=self._deprecated,
            )
        file_values = {name: value for name, value in file_values.items() if name not in reset}
        configs = []
        for cls in self.dataclass_types:
            values = {}
            for name, value in {**file_values, **given}.items():
                if self._field_owner.get(name) is cls:
                    values[name] = self._convert(cls, name, value)
            configs.append(self._build(cls, values, given.get("config")))
        extras = argparse.Namespace(**{k: v for k, v in given.items() if k not in self._field_owner and k != "debug"})
        return (*configs, extras)

    def _reset_fields(self, names: Sequence[str], given: dict[str, Any]) -> set[str]:
        """The fields `--reset` names (a flag or field name, with or without dashes), checked: each must be an option
        of this command that has a default and that the same command line does not also set."""
        fields = set()
        for name in (part.strip() for given_names in names for part in given_names.split(",") if part.strip()):
            flag = _dashed(name.lstrip("-").replace("-", "_"))
            action = self._option_string_actions.get(flag)
            field_name = action.dest if action is not None else None
            if field_name not in self._field_owner:
                flags = [
                    option[2:]
                    for option, known in self._option_string_actions.items()
                    if known.dest in self._field_owner and option.startswith("--") and "_" not in option
                ]
                raise ConfigError(
                    f"{RESET_FLAG} {name}: {self.prog} has no option {flag}.{did_you_mean(flag[2:], flags)} "
                    "See --help."
                )
            spec = next(s for s in dataclasses.fields(self._field_owner[field_name]) if s.name == field_name)
            if not _has_default(spec):
                raise ConfigError(f"{RESET_FLAG} {name}: {flag} has no default to go back to; give it a value.")
            if field_name in given:
                raise ConfigError(
                    f"{RESET_FLAG} {name}: {flag} is also given on this command line; give one or the other."
                )
            fields.add(field_name)
        return fields

    @staticmethod
    def _convert(cls: type, name: str, value: Any) -> Any:
        tp = field_types(cls)[name]
        kind, _ = _describe(tp)
        if kind is dict and isinstance(value, str):
            import yaml

            try:
                value = load_yaml_text(value)  # as a config file: no aliases (no "billion laughs"), no key twice
            except yaml.YAMLError as err:
                raise ConfigError(f"--{name.replace('_', '-')} must be a YAML or JSON mapping: {err}") from None
            except RecursionError:
                raise ConfigError(f"--{name.replace('_', '-')} nests too deeply to be a mapping.") from None
        return coerce_value(name, tp, value, "the command line")

    def _build(self, cls: type, values: dict[str, Any], config_file: str | None) -> Any:
        missing = [
            spec.name
            for spec in dataclasses.fields(cls)
            if spec.init and not spec.name.startswith("_") and not _has_default(spec) and spec.name not in values
        ]
        if missing:
            where = f" or set it in {config_file}" if config_file else ""
            flags = ", ".join(_dashed(CANONICAL_FLAGS.get(name, (name,))[0]) for name in missing)
            raise ConfigError(f"Missing required option(s): pass {flags}{where}.")
        check_values(cls, values)  # NaN, infinities and values outside a field's "range", before the class sees them
        try:
            return cls(**values)
        except ErcSynthError:
            raise
        except (ValueError, TypeError) as err:
            # A dataclass's own validation (`__post_init__`) refusing a value: same report as a bad config value.
            raise ConfigError(f"{cls.__name__}: {err}") from err


def asks_for_help(argv: Sequence[str]) -> bool:
    """Whether the command line asks for the help: `-h` or `--help` before any `--`."""
    for token in argv:
        if token == "--":
            return False
        if token in ("-h", "--help"):
            return True
    return False


# The scalar types a described field can take, by name (the type argparse converts one value with, or `dict`).
_SCALARS: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str, "Path": Path, "dict": dict}


def _scalar_name(kind: Any, settings: dict[str, Any], where: str) -> str:
    if kind is dict:
        return "dict"
    converter = settings["type"]
    if converter is _bool:
        return "bool"
    name = getattr(converter, "__name__", None)
    if name not in _SCALARS or _SCALARS[name] is not converter:
        raise ConfigError(f"{where}: cannot describe a flag that converts its value with {converter!r}.")
    return name


def describe_fields(cls: type) -> list[dict[str, Any]]:
    """What `OptionParser` makes of each field of a dataclass, as JSON data (the inverse of `dataclass_from_fields`).

    Each entry has `name`; `type`, the scalar a value is read as (`bool`, `int`, `float`, `str`, `Path` or `dict`);
    `list` when the flag takes several values; `choices` when the type is an enum or a `Literal`; `default`, the text
    `--help` shows after "default:" (None when it shows none); `required` when the field has no default; and
    `metadata`, the keys of the field's metadata that `OptionParser` reads (`FIELD_METADATA`).

    Raises:
        ConfigError: a field whose type gives a flag that this data cannot describe.
    """
    types = field_types(cls)
    described = []
    for spec in dataclasses.fields(cls):
        if not spec.init or spec.name.startswith("_"):
            continue
        kind, settings = _describe(types.get(spec.name, spec.type))
        entry: dict[str, Any] = {
            "name": spec.name,
            "type": _scalar_name(kind, settings, f"{cls.__name__}.{spec.name}"),
            "list": "nargs" in settings,
        }
        if "choices" in settings:
            entry["choices"] = list(settings["choices"])
        required = not _has_default(spec)
        entry["default"] = None if required else OptionParser._default_text(spec)
        entry["required"] = required
        # Choices and aliases may be any collection (`dict_keys` in TrainingArguments): JSON has lists.
        entry["metadata"] = {
            key: value if value is None or isinstance(value, (str, int, float)) else list(value)
            for key, value in spec.metadata.items()
            if key in FIELD_METADATA
        }
        described.append(entry)
    return described


def dataclass_from_fields(name: str, described: Sequence[dict[str, Any]], *, bases: tuple[type, ...] = ()) -> type:
    """A plain dataclass whose fields give the flags and the `--help` that `describe_fields` described.

    It is made to show the help, not to hold values: a field's default is the text the help shows, and nothing
    checks a value. `bases` are dataclasses whose fields come first (a subclass's fields replace them in place).
    """
    specs = []
    for entry in described:
        tp: Any = _SCALARS[entry["type"]]
        if entry.get("choices"):
            tp = typing.Literal[tuple(entry["choices"])]
        if entry.get("list"):
            tp = list[tp]
        options: dict[str, Any] = {"metadata": dict(entry.get("metadata", {}))}
        if not entry.get("required"):
            options["default"] = entry.get("default")
        specs.append((entry["name"], tp, dataclasses.field(**options)))
    return dataclasses.make_dataclass(name, specs, bases=bases)


def _yaml_synonyms() -> dict[str, str]:
    """YAML keys accepted for a field besides its name: the canonical flag names (`output_dir` for a field named
    `output`) and the old spellings (`output` for `output_dir`)."""
    return {
        **{flag: name for name, (flag, _) in CANONICAL_FLAGS.items() if flag != name},
        **DEPRECATED_SPELLINGS,
    }


def make_config_parser(
    dataclass_types: type | Sequence[type], *, prog: str | None = None, description: str | None = None
) -> OptionParser:
    """An `OptionParser` for the given options dataclasses (kept for callers of the earlier API)."""
    return OptionParser(dataclass_types, prog=prog, description=description)


def parse_config(
    parser: OptionParser, argv: Sequence[str] | None = None, *, return_namespace: bool = False
) -> tuple[Any, ...]:
    """`parser.parse(argv)`, or `parser.parse_with_extras(argv)` when `return_namespace` (the earlier API)."""
    return parser.parse_with_extras(argv) if return_namespace else parser.parse(argv)
