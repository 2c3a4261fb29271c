"""`context`: the speaker-prefixed dialogue context and the target utterance, one sequence-classification head.

The common strong baseline of ERC (the "context model" CoM of CoMPM without the speaker memory, and the usual
RoBERTa baseline of MELD/EmoryNLP papers).

Kept from the common baseline: one encoder sees the preceding turns as `Speaker: utterance` and then the target
utterance, the context is truncated from the left so the most recent turns survive, and a linear layer over the
first token's hidden state predicts the emotion, trained with cross-entropy.

Differs: the context and the target are the two segments of a sequence pair (`<s> context </s></s> target </s>` for
RoBERTa, `[CLS] context [SEP] target [SEP]` for BERT) with the turns joined by the separator token, instead of
speaker special tokens added to the vocabulary; any `AutoModel` backbone works.
"""

from __future__ import annotations

from .base import ErcClassifier

__all__ = ["ContextClassifier"]


class ContextClassifier(ErcClassifier):
    """Context plus target utterance in one sequence, one linear head over the first token."""

    architecture = "context"
