"""The one option parser: YAML 1:1, flags override, both spellings, aliases, typed errors."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.options import OptionParser, asks_for_help, dataclass_from_fields, describe_fields


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class _Options:
    source: str = field(metadata={"help": "What to read.", "positional": True})
    num_items: int = field(default=2, metadata={"help": "How many."})
    rate: float = field(default=0.5, metadata={"help": "A rate."})
    output: str | None = field(default=None, metadata={"help": "Output folder."})
    names: list[str] = field(default_factory=list, metadata={"help": "Names."})
    seeds: list[int] = field(default_factory=lambda: [1], metadata={"help": "Seeds."})
    flag: bool = field(default=True, metadata={"help": "A switch."})
    kind: Literal["a", "b"] = field(default="a", metadata={"help": "A kind."})
    colour: Colour = field(default=Colour.RED, metadata={"help": "A colour."})
    where: Path | None = field(default=None, metadata={"help": "A path."})
    extra: dict = field(default_factory=dict, metadata={"help": "A mapping."})

    def __post_init__(self) -> None:
        if self.num_items < 0:
            raise ValueError(f"num_items must be >= 0, but got {self.num_items}.")


@dataclass
class _Required:
    name: str = field(metadata={"help": "A required name."})


def parser() -> OptionParser:
    return OptionParser(_Options, prog="erc-synth thing")


def test_defaults_yaml_and_flags_in_that_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("num_items: 5\nrate: 1\nnames: [x, y]\nkind: b\ncolour: blue\nextra: {k: 1}\n", encoding="utf-8")
    (plain,) = parser().parse(["src"])
    assert plain == _Options(source="src")
    (options,) = parser().parse(["src", "--config", str(path), "--rate", "0.25", "--no-flag", "--seeds", "3", "4"])
    assert options == _Options(
        source="src",
        num_items=5,
        rate=0.25,
        names=["x", "y"],
        seeds=[3, 4],
        flag=False,
        kind="b",
        colour=Colour.BLUE,
        extra={"k": 1},
    )
    (again,) = parser().parse(["src", "--config", str(path), "--num-items", "7", "--extra", "{k: 2}"])
    assert again.num_items == 7 and again.extra == {"k": 2} and again.rate == 1.0


def test_both_spellings_and_the_output_aliases():
    for argv in (
        ["s", "--num-items", "3", "--output-dir", "o"],
        ["s", "--num_items", "3", "--output_dir", "o"],
        ["s", "--num_items=3", "--output", "o"],
        ["s", "--num-items=3", "--output=o"],
    ):
        (options,) = parser().parse(argv)
        assert (options.num_items, options.output) == (3, "o"), argv
    (options,) = parser().parse(["s", "--flag", "false", "--where", "a/b"])
    assert options.flag is False and options.where == Path("a/b")


def test_help_shows_one_spelling_and_names_the_old_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parser().parse(["--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # help wraps lines
    assert "--output-dir" in out and "--num-items" in out and "--num_items" not in out
    assert "The old spellings --output and --output_dir still work for this release." in out
    assert "--config FILE.yaml" in out and "--debug" in out and "(default: 2)" in out


def test_unknown_yaml_keys_list_the_valid_ones(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("num_itmes: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown keys \['num_itmes'\]; valid keys are: .*num_items"):
        parser().parse(["s", "--config", str(path)])
    path.write_text("output_dir: o\n", encoding="utf-8")  # the flag's name is accepted as the key too
    assert parser().parse(["s", "--config", str(path)])[0].output == "o"
    path.write_text("colour: green\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'colour' must be one of \['red', 'blue'\], but got 'green'"):
        parser().parse(["s", "--config", str(path)])


def test_bad_values_are_typed_errors(capsys):
    with pytest.raises(ConfigError, match="num_items must be >= 0, but got -1"):
        parser().parse(["s", "--num-items", "-1"])
    with pytest.raises(ConfigError, match=r"Missing required option\(s\): pass --name"):
        OptionParser(_Required).parse([])
    with pytest.raises(SystemExit) as exit_info:  # a wrong flag is a usage error, as with any argparse parser
        parser().parse(["s", "--kind", "c"])
    assert exit_info.value.code == 2 and "invalid choice: 'c'" in capsys.readouterr().err


def test_a_required_field_may_come_from_the_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: from-file\n", encoding="utf-8")
    assert OptionParser(_Required).parse(["--config", str(path)]) == (_Required(name="from-file"),)
    assert OptionParser(_Required).parse(["--config", str(path), "--name", "flag"]) == (_Required(name="flag"),)


def test_described_fields_give_the_same_flags_and_help_through_json():
    described = json.loads(json.dumps(describe_fields(_Options)))
    assert described[0] == {
        "name": "source",
        "type": "str",
        "list": False,
        "default": None,
        "required": True,
        "metadata": {"help": "What to read.", "positional": True},
    }
    assert [(d["name"], d["type"], d["list"], d.get("choices"), d["default"]) for d in described[5:9]] == [
        ("seeds", "int", True, None, "[1]"),
        ("flag", "bool", False, None, "True"),
        ("kind", "str", False, ["a", "b"], "a"),
        ("colour", "str", False, ["red", "blue"], "red"),
    ]
    stand_in = OptionParser(dataclass_from_fields("_Options", described), prog="erc-synth thing")
    real = parser()
    assert stand_in.format_help() == real.format_help()

    def actions(p: OptionParser) -> list[tuple]:
        return [(a.option_strings, a.dest, a.nargs, a.const, a.default, a.type, a.choices, a.help) for a in p._actions]

    assert actions(stand_in) == actions(real)


def test_asks_for_help_stops_at_the_end_of_the_options():
    assert asks_for_help(["--seed", "3", "-h"]) and asks_for_help(["--help"])
    assert not asks_for_help(["src", "--", "--help"]) and not asks_for_help(["--helpful"]) and not asks_for_help([])
