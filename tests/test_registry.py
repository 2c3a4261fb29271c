"""The one registry helper: lazy entries and did-you-mean errors, shared by every registry of the project."""

from __future__ import annotations

import sys

import pytest

from erc_synth.cli import COMMANDS
from erc_synth_datasets.benchmarks import BenchmarkError, get_benchmark
from erc_synth_datasets.errors import ErcSynthError
from erc_synth_datasets.registry import Registry, RegistryError, did_you_mean
from generation.backends import BACKENDS
from trainers.errors import UnknownModelError
from trainers.models import get_model_class


def test_lazy_entries_import_only_when_looked_up(monkeypatch):
    monkeypatch.delitem(sys.modules, "fractions", raising=False)
    registry = Registry("thing", {"fraction": "fractions:Fraction"})
    assert "fractions" not in sys.modules
    assert registry.get("fraction")(1, 2).denominator == 2
    assert registry.reference("fraction") == "fractions:Fraction"


def test_unknown_names_suggest_and_list():
    registry = Registry("colour", {"blue": 1, "green": 2}, lazy=False, hint="Set `colour`.")
    with pytest.raises(RegistryError) as info:
        registry.get("gren")
    assert str(info.value) == "Unknown colour 'gren'. Did you mean 'green'? Available: blue, green. Set `colour`."
    assert isinstance(info.value, ErcSynthError)
    assert did_you_mean("RED", ["red"]) == " Did you mean 'red'?"
    assert did_you_mean("zzz", ["red"]) == ""
    with pytest.raises(RegistryError, match="A different colour named 'blue'"):
        registry.register("blue", 3)


def test_every_registry_of_the_project_uses_it():
    with pytest.raises(BenchmarkError, match=r"Unknown benchmark 'meldd'\. Did you mean 'meld'\?"):
        get_benchmark("meldd")
    with pytest.raises(UnknownModelError, match=r"Unknown architecture 'compn'\. Did you mean 'compm'"):
        get_model_class("compn")
    assert isinstance(BACKENDS, Registry) and isinstance(COMMANDS, Registry)
    with pytest.raises(ErcSynthError, match=r"Did you mean 'openai'\?"):
        BACKENDS.get("opnai")
    with pytest.raises(RegistryError, match=r"Unknown command 'buidl'\. Did you mean 'build'\?"):
        COMMANDS.get("buidl")
