"""The shared names: one formatter and one parser per structured name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from erc_synth_datasets.vocabulary import (
    SPLITS,
    ConfigName,
    LabelSource,
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


@given(architecture=_NAMES, variant=st.sampled_from([Variant.parse(v) for v in Variant.values()]))
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


_CURATIONS = st.one_of(st.none(), st.just("clean"), st.integers(1, 100).map(lambda q: f"top{q}"))


@given(
    benchmark=_NAMES,
    mode=st.sampled_from(list(Mode)),
    persona=st.booleans(),
    labels=st.sampled_from(list(LabelSource)),
    curation=_CURATIONS,
)
def test_derived_config_names_round_trip(benchmark, mode, persona, labels, curation):
    name = ConfigName(benchmark, mode, persona=persona, labels=labels, curation=curation)
    assert ConfigName.parse(str(name)) == name
    assert name.base == ConfigName(benchmark, mode, persona=persona)
    assert name.is_derived == (labels is not LabelSource.GENERATOR or curation is not None)


@given(
    architecture=_NAMES,
    mode=st.sampled_from(list(Mode)),
    labels=st.sampled_from(list(LabelSource)),
    curation=_CURATIONS,
    joint=st.booleans(),
)
def test_every_variant_round_trips_and_names_its_config(architecture, mode, labels, curation, joint):
    variant = Variant(mode, labels, curation, joint=joint)
    assert Variant.parse(str(variant)) == variant
    assert SystemName.parse(f"{architecture}_{variant}") == SystemName(architecture, variant)
    assert variant.config_name("meld") == ConfigName("meld", mode, labels=labels, curation=curation)


def test_the_org_variants():
    assert str(Variant.ORG_STEPS) == "org-steps" and Variant.parse("org-steps").is_org
    assert Variant.parse("org") == Variant.ORG == "org" and Variant.ORG.config_name("meld") is None
    assert str(Variant.parse("joint-natural-teacher")) == "joint-natural-teacher"


@pytest.mark.parametrize("text", ["natural-top0", "natural-top101", "org-teacher", "teacher", "natural-clean-teacher"])
def test_bad_variants_say_the_grammar(text):
    with pytest.raises(VocabularyError, match=r"'org', 'org-steps' or '\[joint-\]<mode>"):
        Variant.parse(text)
