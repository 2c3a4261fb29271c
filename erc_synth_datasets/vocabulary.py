"""The project's shared names, defined once: generation modes, dataset splits, training variants, and the structured
names built from them (dataset configs, results-table systems and test sets), each with one formatter and one parser.

Every module that writes or reads `meld_balanced`, `compm_natural` or `meld_real` goes through the classes below; a
name that was formatted is parsed back only by `parse` here, never with `rsplit` or a regular expression elsewhere.

Example:

```python
name = ConfigName("meld", Mode.BALANCED, persona=True)
str(name)                                              # 'meld_balanced_persona'
ConfigName.parse("meld_balanced_persona") == name      # True
SystemName.parse("compm_org").variant is Variant.ORG   # True
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from .errors import ErcSynthError

__all__ = [
    "BUILD_INFO_NAME",
    "LONG_TABLE_COLUMNS",
    "PERSONA_SUFFIX",
    "REAL_SOURCE",
    "SPLITS",
    "TEST_SET_COLUMN",
    "ConfigName",
    "LabelSource",
    "Mode",
    "VocabularyError",
    "check_curation",
    "Split",
    "SystemName",
    "TestSetName",
    "Variant",
]


class VocabularyError(ErcSynthError, ValueError):
    """A mode, split, variant or structured name that is not one of the project's (the valid ones are listed)."""


class _Vocabulary(str, Enum):
    """A closed set of names; members compare equal to, and format as, their string value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The names, in definition order."""
        return tuple(member.value for member in cls)

    @classmethod
    def parse(cls, value: object, *, what: str | None = None):  # noqa: ANN206 (the subclass itself)
        """The member named `value`.

        Raises:
            VocabularyError: `value` is not one of the names (the message lists them).
        """
        try:
            return cls(value)
        except ValueError:
            label = what or cls.__name__.lower()
            raise VocabularyError(f"{label} must be one of {list(cls.values())}, but got {value!r}.") from None


class Mode(_Vocabulary):
    """How a generation run chooses emotions: `natural` (the model chooses) or `balanced` (a target emotion per
    dialogue, cycling over the labels)."""

    NATURAL = "natural"
    BALANCED = "balanced"


class Split(_Vocabulary):
    """The splits of every dataset, real or synthetic, in this order."""

    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"


class LabelSource(_Vocabulary):
    """Where the labels a config trains on come from: the `generator` that wrote the dialogue (the paper), a
    `teacher` classifier trained on the real data (hard label and per-label probabilities), or the generator
    `resampled` k times on the fixed text (vote shares as the soft label)."""

    GENERATOR = "generator"
    TEACHER = "teacher"
    RESAMPLED = "resampled"


_CURATION_RE = re.compile(r"^(clean|top(?:[1-9]\d?|100))$")


def check_curation(policy: str | None) -> str | None:
    """`policy` when it is a curation policy name (`clean`, or `top<q>` with q a percentage 1-100), else an error.

    Raises:
        VocabularyError: naming the valid forms.
    """
    if policy is None or _CURATION_RE.match(str(policy)):
        return policy
    raise VocabularyError(
        f"A curation policy is 'clean' (drop the utterances flagged as label issues) or 'top<q>' (keep the q% with "
        f"the best label-quality scores, e.g. top50), but got {policy!r}."
    )


_VARIANT_SEPARATOR = "-"
_JOINT = "joint"
_STEPS = "steps"


@dataclass(frozen=True)
class Variant:
    """A training protocol, written `org`, `org-steps`, or `[joint-]<mode>[-<labels>][-<curation>]`.

    - `org`: the real train split only (trained to convergence on the real validation split);
    - `org-steps`: the same, for as many optimiser steps as the pretrained variants of its seed took;
    - `natural`, `balanced` (the paper): stage 1 on that synthetic config, then stage 2 on the real train split;
    - `natural-teacher`, `natural-clean`, `balanced-teacher-top50`: stage 1 on a derived config
      (`meld_natural_teacher`, ...: relabelled by a teacher and/or curated);
    - `joint-natural-teacher`: the synthetic and the real train split in one stage.

    Args:
        mode: The synthetic mode trained on; None for the Org variants.
        labels: Whose labels the synthetic config carries.
        curation: The curation policy applied to it (`clean`, `top<q>`), or None.
        joint: One stage over real and synthetic data instead of two.
        steps_matched: `org-steps` (only with `mode=None`).
    """

    mode: Mode | None = None
    labels: LabelSource = LabelSource.GENERATOR
    curation: str | None = None
    joint: bool = False
    steps_matched: bool = False

    ORG: ClassVar[Variant]
    ORG_STEPS: ClassVar[Variant]
    NATURAL: ClassVar[Variant]
    BALANCED: ClassVar[Variant]

    def __post_init__(self) -> None:
        if self.mode is not None:
            object.__setattr__(self, "mode", Mode.parse(self.mode, what="mode"))
        object.__setattr__(self, "labels", LabelSource.parse(self.labels, what="label source"))
        check_curation(self.curation)
        if self.mode is None and (self.labels is not LabelSource.GENERATOR or self.curation or self.joint):
            raise VocabularyError("An Org variant trains on real data only: it has no labels, curation or joint.")
        if self.steps_matched and self.mode is not None:
            raise VocabularyError("Only the Org variant can be steps-matched ('org-steps').")

    @property
    def is_org(self) -> bool:
        """Whether this variant trains on the real data only (`org` or `org-steps`)."""
        return self.mode is None

    @property
    def value(self) -> str:
        return str(self)

    def __str__(self) -> str:
        if self.mode is None:
            return Variant._ORG_NAME + (_VARIANT_SEPARATOR + _STEPS if self.steps_matched else "")
        parts = [_JOINT] if self.joint else []
        parts.append(self.mode.value)
        if self.labels is not LabelSource.GENERATOR:
            parts.append(self.labels.value)
        if self.curation:
            parts.append(self.curation)
        return _VARIANT_SEPARATOR.join(parts)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        if isinstance(other, Variant):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def config_name(self, benchmark: str) -> ConfigName | None:
        """The synthetic config this variant trains on for `benchmark` (None for the Org variants)."""
        if self.mode is None:
            return None
        return ConfigName(benchmark, self.mode, labels=self.labels, curation=self.curation)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The source paper's variants (`org`, `natural`, `balanced`), the default of an experiment."""
        return (str(cls.ORG), str(cls.NATURAL), str(cls.BALANCED))

    @classmethod
    def parse(cls, value: object, *, what: str | None = None) -> Variant:
        """Reads `org`, `org-steps`, `natural`, `joint-balanced-teacher-top50`, ... back into its parts.

        Raises:
            VocabularyError: `value` does not follow the grammar (the message gives it).
        """
        if isinstance(value, Variant):
            return value
        text = str(value)
        label = what or "variant"
        error = VocabularyError(
            f"A {label} is 'org', 'org-steps' or '[joint-]<mode>[-<labels>][-<curation>]' with mode in "
            f"{list(Mode.values())}, labels in {[s.value for s in LabelSource if s is not LabelSource.GENERATOR]} "
            f"and curation 'clean' or 'top<q>' (e.g. natural, natural-teacher, joint-balanced-teacher-top50), but "
            f"got {value!r}."
        )
        parts = text.split(_VARIANT_SEPARATOR)
        if parts == [cls._ORG_NAME]:
            return cls()
        if parts == [cls._ORG_NAME, _STEPS]:
            return cls(steps_matched=True)
        joint = parts[0] == _JOINT
        parts = parts[1:] if joint else parts
        if not parts or parts[0] not in Mode.values() or len(parts) > 3:
            raise error
        mode, rest = Mode(parts[0]), parts[1:]
        labels = LabelSource.GENERATOR
        if rest and rest[0] in LabelSource.values() and rest[0] != LabelSource.GENERATOR.value:
            labels, rest = LabelSource(rest[0]), rest[1:]
        curation = None
        if rest and _CURATION_RE.match(rest[0]):
            curation, rest = rest[0], rest[1:]
        if rest:
            raise error
        return cls(mode, labels, curation, joint=joint)

    _ORG_NAME: ClassVar[str] = "org"


Variant.ORG = Variant()
Variant.ORG_STEPS = Variant(steps_matched=True)
Variant.NATURAL = Variant(Mode.NATURAL)
Variant.BALANCED = Variant(Mode.BALANCED)


SPLITS: tuple[str, ...] = Split.values()
PERSONA_SUFFIX = "persona"
REAL_SOURCE = "real"
TEST_SET_COLUMN = "test_set"
#: The file in each config folder of a built dataset that records the runs it was built from (written by the build,
#: read by the statistics).
BUILD_INFO_NAME = "build_info.json"
#: Columns of the per-seed results table (`table_per_seed.csv`) that `experiment` writes and `significance` reads.
LONG_TABLE_COLUMNS: tuple[str, ...] = (TEST_SET_COLUMN, "variant", "seed", "score")

_SEPARATOR = "_"


def _split_suffix(text: str, suffixes: tuple[str, ...], what: str, example: str) -> tuple[str, str]:
    head, sep, tail = text.rpartition(_SEPARATOR)
    if not sep or not head or tail not in suffixes:
        raise VocabularyError(f"A {what} is written <name>_<{'|'.join(suffixes)}> (e.g. {example}), but got {text!r}.")
    return head, tail


@dataclass(frozen=True)
class ConfigName:
    """The name of one config of a synthetic dataset: `<benchmark>_<mode>`, plus `_persona` for persona runs (which
    are never pooled with plain runs of the same mode), then, for a config derived from another one, the label source
    (`_teacher`, `_resampled`) and the curation policy (`_clean`, `_top50`).

    Args:
        benchmark: The benchmark's registry name.
        mode: The generation mode.
        persona: Whether the dialogues were conditioned on personas.
        labels: Whose labels the config carries (the generator's for a built config).
        curation: The curation policy applied to it, or None.
    """

    benchmark: str
    mode: Mode
    persona: bool = False
    labels: LabelSource = LabelSource.GENERATOR
    curation: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.parse(self.mode, what="mode"))
        object.__setattr__(self, "labels", LabelSource.parse(self.labels, what="label source"))
        check_curation(self.curation)
        if not self.benchmark:
            raise VocabularyError("A config name needs a benchmark name, but got an empty one.")

    def __str__(self) -> str:
        parts = [self.benchmark, self.mode.value] + ([PERSONA_SUFFIX] if self.persona else [])
        if self.labels is not LabelSource.GENERATOR:
            parts.append(self.labels.value)
        if self.curation:
            parts.append(self.curation)
        return _SEPARATOR.join(parts)

    @property
    def base(self) -> ConfigName:
        """The built config this one derives from (itself for a built config)."""
        return ConfigName(self.benchmark, self.mode, persona=self.persona)

    @property
    def is_derived(self) -> bool:
        """Whether the config was relabelled or curated from a built config."""
        return self.labels is not LabelSource.GENERATOR or self.curation is not None

    @property
    def curation_source(self) -> ConfigName:
        """The relabelled config a curated one is selected from: the generator's labels are judged by the teacher's
        probabilities (`meld_natural_clean` from `meld_natural_teacher`); any other source's labels by its own
        (`meld_natural_resampled_top50` from `meld_natural_resampled`)."""
        labels = LabelSource.TEACHER if self.labels is LabelSource.GENERATOR else self.labels
        return ConfigName(self.benchmark, self.mode, persona=self.persona, labels=labels)

    @classmethod
    def parse(cls, text: str) -> ConfigName:
        """Reads `meld_balanced`, `meld_balanced_persona` or `meld_natural_teacher_top50` back into its parts.

        Raises:
            VocabularyError: `text` does not end with a mode (and optionally `_persona`, a label source, a curation).
        """
        head, curation, labels, persona = text, None, LabelSource.GENERATOR, False
        stem, sep, tail = head.rpartition(_SEPARATOR)
        if sep and stem and _CURATION_RE.match(tail):
            head, curation = stem, tail
        stem, sep, tail = head.rpartition(_SEPARATOR)
        if sep and stem and tail in LabelSource.values() and tail != LabelSource.GENERATOR.value:
            head, labels = stem, LabelSource(tail)
        if head.endswith(_SEPARATOR + PERSONA_SUFFIX):
            head, persona = head[: -len(_SEPARATOR + PERSONA_SUFFIX)], True
        benchmark, mode = _split_suffix(head, Mode.values(), "dataset config name", "meld_balanced")
        return cls(benchmark, Mode(mode), persona=persona, labels=labels, curation=curation)


@dataclass(frozen=True)
class SystemName:
    """A column of a results table: `<architecture>_<variant>`, e.g. `compm_natural` or `context_natural-teacher`."""

    architecture: str
    variant: Variant

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", Variant.parse(self.variant, what="variant"))

    def __str__(self) -> str:
        return f"{self.architecture}{_SEPARATOR}{self.variant}"

    @property
    def baseline(self) -> SystemName:
        """The same architecture without synthetic pretraining (`<architecture>_org`)."""
        return SystemName(self.architecture, Variant.ORG)

    @classmethod
    def parse(cls, text: str) -> SystemName:
        """Reads `compm_natural` back into its parts.

        Raises:
            VocabularyError: `text` does not end with a variant.
        """
        architecture, sep, variant = text.rpartition(_SEPARATOR)
        if not sep or not architecture:
            raise VocabularyError(
                f"A system name is written <architecture>_<variant> (e.g. compm_natural), but got {text!r}."
            )
        return cls(architecture, Variant.parse(variant))

    @classmethod
    def try_parse(cls, text: str) -> SystemName | None:
        """Like `parse`, but None for a name that is not `<architecture>_<variant>`."""
        try:
            return cls.parse(text)
        except VocabularyError:
            return None


@dataclass(frozen=True)
class TestSetName:
    """A row of a results table: `<benchmark>_real` (the real test split) or `<benchmark>_<mode>` (a synthetic one)."""

    __test__ = False  # not a pytest test class

    benchmark: str
    source: str

    def __post_init__(self) -> None:
        if self.source != REAL_SOURCE:
            object.__setattr__(self, "source", Mode.parse(self.source, what="test set source").value)

    def __str__(self) -> str:
        return f"{self.benchmark}{_SEPARATOR}{self.source}"

    @classmethod
    def parse(cls, text: str) -> TestSetName:
        """Reads `meld_real` or `meld_natural` back into its parts."""
        benchmark, source = _split_suffix(text, (REAL_SOURCE, *Mode.values()), "test set name", "meld_real")
        return cls(benchmark, source)
