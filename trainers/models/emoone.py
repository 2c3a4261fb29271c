"""`emoone`: "The Emotion is Not One-hot Encoding": a student trained on grayscale labels from a teacher.

Lee, "The Emotion is Not One-hot Encoding: Learning with Grayscale Label for Emotion Recognition in Conversation",
INTERSPEECH 2022.

Kept from the paper (its teacher-based "self" method, S/SA): a teacher of the same architecture is first trained with
one-hot labels; its softmax over the labels for each training utterance (in eval mode) is the utterance's grayscale
label, the similarity of the gold emotion to every other one as the model sees it; the student is trained with
`onehot_weight * CE(one-hot) + grayscale_weight * CE(grayscale)` (the paper's two loss weights, 1 and 1 by default).
`grayscale="teacher_post"` is the paper's adjusted variant (SA): when the teacher gives the gold label less than 0.5,
the gold label gets 0.5 and the other labels share the rest in proportion.

Differs: the teacher's distributions are computed once per stage and stored with the training rows (the reference
runs the frozen teacher at every step; the values are the same because the teacher is in eval mode); the encoder
input is the `context` model's; the category (C), word-embedding (W) and future-self (F) grayscale methods are not
implemented.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from .base import ErcClassifier

__all__ = ["EmoOneClassifier", "grayscale_labels"]


def grayscale_labels(teacher_probs: torch.Tensor, labels: torch.Tensor, mode: str = "teacher") -> torch.Tensor:
    """Grayscale labels from a teacher's label distribution.

    Args:
        teacher_probs: `(n, num_labels)` softmax outputs of the teacher.
        labels: `(n,)` gold label ids.
        mode: `teacher` (the distribution as is) or `teacher_post` (gold label lifted to at least 0.5).

    Returns:
        `(n, num_labels)` rows summing to 1.
    """
    probs = teacher_probs.float()
    if mode == "teacher":
        return probs
    rows = torch.arange(len(labels))
    gold = probs[rows, labels]
    rest = (1.0 - gold).clamp(min=1e-12)
    adjusted = probs * (0.5 / rest).unsqueeze(1)
    adjusted[rows, labels] = 0.5
    return torch.where((gold >= 0.5).unsqueeze(1), probs, adjusted)


class EmoOneClassifier(ErcClassifier):
    """The `context` classifier with the one-hot plus grayscale loss; without `soft_labels` it is the teacher."""

    architecture = "emoone"
    needs_teacher = True

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        target_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        soft_labels: torch.Tensor | None = None,
        target_probs: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        logits = self.logits(input_ids, attention_mask, token_type_ids, target_mask)
        loss = None
        if labels is not None:
            # The "one-hot" term is against the row's soft targets when the data carries them.
            loss = self.loss(logits, labels, target_probs, sample_weight)
            if soft_labels is not None:
                log_probs = nn.functional.log_softmax(logits.float(), dim=-1)
                grayscale = -(soft_labels.float() * log_probs).sum(dim=-1)
                grayscale = (grayscale if sample_weight is None else grayscale * sample_weight.float()).mean()
                loss = self.args.onehot_weight * loss + self.args.grayscale_weight * grayscale
        return SequenceClassifierOutput(loss=loss, logits=logits)
