"""Typed errors of the training package; each message says what was received, what was expected and how to fix it."""

from __future__ import annotations

from erc_synth_datasets.errors import ErcSynthError

__all__ = [
    "EvaluationCountError",
    "EvaluationOrderError",
    "LabelSpaceError",
    "TrainingConfigError",
    "UnknownModelError",
]


class TrainingConfigError(ErcSynthError, ValueError):
    """A training or experiment setting is wrong or inconsistent."""


class UnknownModelError(ErcSynthError, KeyError):
    """An architecture name is not in the classifier registry."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class LabelSpaceError(ErcSynthError, ValueError):
    """Two datasets (or a dataset and its benchmark) do not share the same label names in the same order."""


class EvaluationCountError(RuntimeError):
    """The number of evaluated utterances differs from the number of utterances in the split."""


class EvaluationOrderError(RuntimeError):
    """Predictions came back in another order than the rows of the split they score."""
