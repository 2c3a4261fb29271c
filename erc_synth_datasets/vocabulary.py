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

from dataclasses import dataclass
from enum import Enum

from .errors import ErcSynthError

__all__ = [
    "BUILD_INFO_NAME",
    "LONG_TABLE_COLUMNS",
    "PERSONA_SUFFIX",
    "REAL_SOURCE",
    "SPLITS",
    "TEST_SET_COLUMN",
    "ConfigName",
    "Mode",
    "VocabularyError",
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


class Variant(_Vocabulary):
    """A training protocol: `org` fine-tunes on the real benchmark only; `natural`/`balanced` pretrain on that
    synthetic config first."""

    ORG = "org"
    NATURAL = "natural"
    BALANCED = "balanced"

    @property
    def mode(self) -> Mode | None:
        """The synthetic mode pretrained on, or None for `org`."""
        return None if self is Variant.ORG else Mode(self.value)


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
    are never pooled with plain runs of the same mode).

    Args:
        benchmark: The benchmark's registry name.
        mode: The generation mode.
        persona: Whether the dialogues were conditioned on personas.
    """

    benchmark: str
    mode: Mode
    persona: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.parse(self.mode, what="mode"))
        if not self.benchmark:
            raise VocabularyError("A config name needs a benchmark name, but got an empty one.")

    def __str__(self) -> str:
        parts = [self.benchmark, self.mode.value] + ([PERSONA_SUFFIX] if self.persona else [])
        return _SEPARATOR.join(parts)

    @classmethod
    def parse(cls, text: str) -> ConfigName:
        """Reads `meld_balanced` or `meld_balanced_persona` back into its parts.

        Raises:
            VocabularyError: `text` does not end with a mode (and optionally `_persona`).
        """
        head, tail = text, ""
        if text.endswith(_SEPARATOR + PERSONA_SUFFIX):
            head, tail = text[: -len(_SEPARATOR + PERSONA_SUFFIX)], PERSONA_SUFFIX
        benchmark, mode = _split_suffix(head, Mode.values(), "dataset config name", "meld_balanced")
        return cls(benchmark, Mode(mode), persona=bool(tail))


@dataclass(frozen=True)
class SystemName:
    """A column of a results table: `<architecture>_<variant>`, e.g. `compm_natural`."""

    architecture: str
    variant: Variant

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", Variant.parse(self.variant, what="variant"))

    def __str__(self) -> str:
        return f"{self.architecture}{_SEPARATOR}{self.variant.value}"

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
        architecture, variant = _split_suffix(text, Variant.values(), "system name", "compm_natural")
        return cls(architecture, Variant(variant))

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
