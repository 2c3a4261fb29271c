"""The shared names: one formatter and one parser per structured name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from erc_synth_datasets.vocabulary import (
    SPLITS,
    ConfigName,
    Mode,
    Split,
    SystemName,
    TestSetName,
    Variant,
    VocabularyError,
)

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)


def test_the_closed_sets():
    assert Mode.values() == ("natural", "balanced")
    assert SPLITS == ("train", "validation", "test") == tuple(str(split) for split in Split)
    assert Variant.values() == ("org", "natural", "balanced")
    assert Variant.ORG.mode is None and Variant.BALANCED.mode is Mode.BALANCED
    assert f"{Mode.NATURAL}" == "natural" == Mode.NATURAL
    with pytest.raises(VocabularyError, match=r"mode must be one of \['natural', 'balanced'\], but got 'balnced'"):
        Mode.parse("balnced", what="mode")


@given(benchmark=_NAMES, mode=st.sampled_from(list(Mode)), persona=st.booleans())
def test_config_names_round_trip(benchmark, mode, persona):
    name = ConfigName(benchmark, mode, persona=persona)
    assert ConfigName.parse(str(name)) == name


@given(architecture=_NAMES, variant=st.sampled_from(list(Variant)))
def test_system_names_round_trip(architecture, variant):
    name = SystemName(architecture, variant)
    assert SystemName.parse(str(name)) == name
    assert str(name.baseline) == f"{architecture}_org"


def test_persona_configs_are_their_own():
    assert str(ConfigName("meld", "balanced", persona=True)) == "meld_balanced_persona"
    assert str(ConfigName("meld", "balanced")) == "meld_balanced"
    assert ConfigName.parse("my_bench_natural") == ConfigName("my_bench", Mode.NATURAL)
    assert TestSetName.parse("meld_real") == TestSetName("meld", "real")
    assert str(TestSetName("iemocap", Mode.BALANCED)) == "iemocap_balanced"


@pytest.mark.parametrize("text", ["meld", "meld_org", "_natural", "meld_persona", "natural"])
def test_bad_config_names_say_the_form(text):
    with pytest.raises(VocabularyError, match=r"written <name>_<natural\|balanced>"):
        ConfigName.parse(text)
    assert SystemName.try_parse("tod") is None
