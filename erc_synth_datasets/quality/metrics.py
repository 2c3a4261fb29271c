"""Text-level quality metrics of dialogues: degeneracy, lexical diversity and shape, each a pure function.

Every function here takes plain dialogues (`Dialogue`) and returns numbers, so the same definition serves the
quality report (synthetic and real side by side) and the generation-time filters (`generation.filters`).

Words are lower-cased runs of letters, digits and apostrophes (`word_tokens`); an utterance's *normalised form*
(`normalize_utterance`) is its words joined by single spaces, so "Oh my God!" and "oh, my god" are the same
utterance.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Dialogue",
    "ShingleIndex",
    "distinct_n",
    "follows_legend_order",
    "is_repetitive",
    "jaccard",
    "label_entropy",
    "near_duplicate_share",
    "ngrams",
    "normalize_utterance",
    "repeated_utterance_flags",
    "sample_by_tokens",
    "self_overlap",
    "shingles",
    "word_tokens",
]

_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Dialogue:
    """One dialogue as the quality metrics see it.

    Args:
        speakers: Speaker of each utterance.
        utterances: The utterances, in order.
        emotions: Label id of each utterance (canonical order of the benchmark, 0-based).
    """

    speakers: tuple[str, ...]
    utterances: tuple[str, ...]
    emotions: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("speakers", "utterances", "emotions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not len(self.speakers) == len(self.utterances) == len(self.emotions):
            raise ValueError(
                "speakers, utterances and emotions must have the same length, but got "
                f"{len(self.speakers)}, {len(self.utterances)} and {len(self.emotions)}."
            )

    @property
    def text(self) -> str:
        """The utterances joined by newlines (what dialogue-level encoders and classifiers read)."""
        return "\n".join(self.utterances)


def word_tokens(text: str) -> list[str]:
    """Lower-cased words of a text: `"Oh, my God!"` -> `["oh", "my", "god"]`."""
    return _WORD.findall(text.lower())


def normalize_utterance(text: str) -> str:
    """The form under which two utterances count as the same: words, lower-cased, single spaces."""
    return " ".join(word_tokens(text))


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams of a token sequence, in order (empty when it is shorter than `n`)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def is_repetitive(utterance: str, *, threshold: float = 0.7, n: int = 3) -> bool:
    """Whether an utterance repeats itself: fewer than `threshold` of its word n-grams are distinct.

    An utterance with fewer than `n + 1` words has at most one n-gram and is never repetitive.

    Example:
        >>> is_repetitive("I know I know I know I know")
        True
    """
    grams = ngrams(word_tokens(utterance), n)
    if len(grams) < 2:
        return False
    return len(set(grams)) / len(grams) < threshold


def repeated_utterance_flags(utterances: Sequence[str]) -> list[bool]:
    """For each utterance, whether its normalised form already occurred earlier in the same dialogue.

    The first occurrence is not a repeat; an utterance without any word is never one.

    Example:
        >>> repeated_utterance_flags(["Hi!", "Hello.", "hi"])
        [False, False, True]
    """
    seen: set[str] = set()
    flags = []
    for utterance in utterances:
        form = normalize_utterance(utterance)
        flags.append(bool(form) and form in seen)
        seen.add(form)
    return flags


def follows_legend_order(emotions: Sequence[int], *, min_run: int = 4) -> bool:
    """Whether a dialogue's first `min_run` labels step through the legend in order (k, k+1, k+2, ...).

    This is the signature of a model copying the numbered legend instead of labelling its own utterances; it starts
    at the first entry or at a later one.

    Example:
        >>> follows_legend_order([0, 1, 2, 3, 0])
        True
        >>> follows_legend_order([1, 2, 3, 4])
        True
        >>> follows_legend_order([0, 1, 2])
        False
    """
    if len(emotions) < min_run:
        return False
    start = emotions[0]
    return list(emotions[:min_run]) == list(range(start, start + min_run))


def label_entropy(emotions: Sequence[int]) -> float:
    """Shannon entropy (bits) of the labels within one dialogue: 0 when every utterance has the same label."""
    if not emotions:
        return 0.0
    counts = Counter(emotions)
    total = len(emotions)
    return -sum(c / total * math.log2(c / total) for c in counts.values()) + 0.0


def sample_by_tokens(utterances: Sequence[str], budget: int, *, seed: int = 0) -> list[list[str]]:
    """Utterances drawn in a seeded random order until they hold at least `budget` words (tokenised).

    Distinct-n falls as a corpus grows, so two corpora are compared on samples of the same number of words.
    """
    order = list(range(len(utterances)))
    random.Random(seed).shuffle(order)
    sample: list[list[str]] = []
    total = 0
    for i in order:
        if total >= budget:
            break
        tokens = word_tokens(utterances[i])
        sample.append(tokens)
        total += len(tokens)
    return sample


def distinct_n(token_lists: Iterable[Sequence[str]], n: int) -> float | None:
    """Distinct n-grams / n-grams over utterances (n-grams never cross an utterance); None when there are none.

    Example:
        >>> distinct_n([["a", "b", "a", "b"]], 2)
        0.6666666666666666
    """
    counts: Counter[tuple[str, ...]] = Counter()
    for tokens in token_lists:
        counts.update(ngrams(tokens, n))
    total = sum(counts.values())
    return len(counts) / total if total else None


def self_overlap(documents: Sequence[Sequence[str]], *, n: int = 3) -> float | None:
    """Mean share of a document's word n-grams that also occur in another document of the set.

    An n-gram-overlap analogue of self-BLEU: 0 when no two documents share a phrase, 1 when every phrase of every
    document occurs elsewhere. Compare sets of the same size only. None when no document has an n-gram.
    """
    grams = [set(ngrams(list(doc), n)) for doc in documents]
    frequency: Counter[tuple[str, ...]] = Counter()
    for doc in grams:
        frequency.update(doc)
    shares = [sum(frequency[g] > 1 for g in doc) / len(doc) for doc in grams if doc]
    return sum(shares) / len(shares) if shares else None


def shingles(utterances: Sequence[str], *, n: int = 3) -> frozenset[tuple[str, ...]]:
    """The set of word n-grams of a dialogue (across utterance boundaries), for near-duplicate detection.

    A dialogue shorter than `n` words gives its whole word sequence as one shingle, so it still matches itself.
    """
    tokens = [token for utterance in utterances for token in word_tokens(utterance)]
    if len(tokens) < n:
        return frozenset({tuple(tokens)}) if tokens else frozenset()
    return frozenset(ngrams(tokens, n))


def jaccard(first: frozenset | set, second: frozenset | set) -> float:
    """|A ∩ B| / |A ∪ B|; 0 when both are empty."""
    union = len(first | second)
    return len(first & second) / union if union else 0.0


class ShingleIndex:
    """Near-duplicate search over dialogues by shingle Jaccard similarity, exact, through an inverted index.

    Only dialogues sharing at least one shingle with the query are scored, so a check costs time in proportion to
    the overlap, not to the number of dialogues held.

    Args:
        threshold: Two dialogues are near-duplicates when the Jaccard similarity of their shingles is >= this.
        n: Shingle length in words.
    """

    def __init__(self, threshold: float, *, n: int = 3) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], but got threshold={threshold}.")
        self.threshold = threshold
        self.n = n
        self._sizes: list[int] = []
        self._postings: dict[tuple[str, ...], list[int]] = {}

    def __len__(self) -> int:
        return len(self._sizes)

    def best_match(self, utterances: Sequence[str]) -> tuple[int, float] | None:
        """The most similar held dialogue at or above the threshold, as (position added, similarity), or None."""
        query = shingles(utterances, n=self.n)
        if not query:
            return None
        shared: Counter[int] = Counter()
        for shingle in query:
            shared.update(self._postings.get(shingle, ()))
        best: tuple[int, float] | None = None
        for position, common in shared.items():
            similarity = common / (len(query) + self._sizes[position] - common)
            if similarity >= self.threshold and (best is None or similarity > best[1]):
                best = (position, similarity)
        return best

    def add(self, utterances: Sequence[str]) -> int:
        """Holds a dialogue; returns its position."""
        position = len(self._sizes)
        query = shingles(utterances, n=self.n)
        self._sizes.append(len(query))
        for shingle in query:
            self._postings.setdefault(shingle, []).append(position)
        return position


def near_duplicate_share(dialogues: Sequence[Sequence[str]], threshold: float, *, n: int = 3) -> float | None:
    """Share of dialogues (utterance lists) that are near-duplicates of an earlier one; None for an empty set."""
    if not dialogues:
        return None
    index = ShingleIndex(threshold, n=n)
    duplicates = 0
    for utterances in dialogues:
        duplicates += index.best_match(utterances) is not None
        index.add(utterances)
    return duplicates / len(dialogues)
