"""Typed errors of the significance statistics."""

from __future__ import annotations

from erc_synth_datasets.errors import ErcSynthError

__all__ = ["ComparisonError", "SignificanceError", "TableError"]


class SignificanceError(ErcSynthError, ValueError):
    """Base class of every error raised by `trainers.significance`."""


class TableError(SignificanceError):
    """A scores table is malformed: missing or non-numeric cells, duplicate names, too few systems or test sets."""


class ComparisonError(SignificanceError):
    """A requested comparison is invalid: an unknown system, a system compared with itself, a bad specification."""
