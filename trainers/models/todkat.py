"""`todkat`: TODKAT, a topic-driven and knowledge-aware transformer.

Zhu, Pergola, Gui, Zhou, He, "Topic-Driven and Knowledge-Aware Transformer for Dialogue Emotion Detection", ACL 2021
(authors' code: github.com/something678/TodKat).

Kept from the paper: a pretrained encoder gives each utterance's representation; a VAE topic layer (attention pooling
of the token states, a Gaussian latent with the reparameterisation trick, a decoder reconstructing the pooled state)
gives a latent topic vector, trained with its reconstruction and KL terms; commonsense knowledge comes from a
COMET-style seq2seq generator for ATOMIC relations (`xIntent`, `xReact`, `oReact` by default, the authors' three),
written as sentences (`"PersonX will feel ..."`), and is encoded by the same encoder; a transformer layer (GELU, as
the authors' `TransformerUnit`) fuses the utterance encoding, the topic vector and the knowledge encodings, and a
linear layer over its output at the utterance's position predicts the emotion.

Differs: the topic layer is trained jointly with the classifier (`topic_loss_weight * (reconstruction + KL)` is
added to the cross-entropy) instead of in a separate topic-language-model pre-training with masked language
modelling, and it sits on the encoder's last layer rather than inside its middle layer; the knowledge is selected
per utterance by sentence-embedding similarity to the utterance (all-MiniLM-L6-v2, `trainers/knowledge.py`) rather
than by topic-guided attention over all of it, and the topic then steers the fusion through attention; the knowledge
sentences are encoded by the classifier's encoder without gradient (their encodings follow the encoder as it
trains, at the cost of a forward pass only); the dialogue is seen as in `context` (preceding turns and the target as
a sequence pair, one row per utterance) instead of one transformer pass over the whole dialogue's utterance
sequence; no COMET weights exist offline here, so tests and smoke runs use a randomly initialised stand-in
generator, whose "knowledge" carries no information.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from ..errors import TrainingConfigError
from .base import ErcClassifier, ErcConfig
from .topic import TopicLayer

__all__ = ["TodKatClassifier"]

# Segment types of the fusion sequence: [utterance, topic, knowledge_1, ..., knowledge_k].
_UTTERANCE, _TOPIC, _KNOWLEDGE = 0, 1, 2


class TodKatClassifier(ErcClassifier):
    """Utterance encoding, VAE topic vector and selected knowledge, fused by a transformer layer."""

    architecture = "todkat"
    needs_knowledge = True

    def __init__(self, config: ErcConfig, encoder: nn.Module | None = None) -> None:
        super().__init__(config, encoder)
        args = self.args
        if self.hidden_size % args.fusion_heads:
            raise TrainingConfigError(
                f"fusion_heads={args.fusion_heads} must divide the encoder's hidden size {self.hidden_size}; set "
                "fusion_heads to a divisor of it (e.g. 4 or 8 for 384, 8 or 16 for 1024)."
            )
        self.topic = TopicLayer(self.hidden_size, topic_size=args.topic_size)
        self.segment_embeddings = nn.Embedding(3, self.hidden_size)
        self.fusion = nn.TransformerEncoderLayer(
            d_model=self.hidden_size,
            nhead=args.fusion_heads,
            dim_feedforward=2 * self.hidden_size,
            dropout=args.classifier_dropout,
            activation="gelu",
            batch_first=True,
        )
        self.post_init()

    def encode_knowledge(
        self, knowledge_input_ids: torch.Tensor | None, knowledge_attention_mask: torch.Tensor | None, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """First-token encodings of the knowledge sentences, without gradient, and which of them exist.

        Args:
            knowledge_input_ids: `(batch, sentences, length)`, padded sentences all padding; None: no knowledge.
            knowledge_attention_mask: Same shape.
            batch: Rows in the batch.

        Returns:
            `(batch, sentences, hidden)` encodings (zeros where absent) and `(batch, sentences)` booleans.
        """
        device = self.classifier.weight.device
        if knowledge_input_ids is None or knowledge_input_ids.shape[1] == 0:
            return torch.zeros(batch, 0, self.hidden_size, device=device), torch.zeros(
                batch, 0, dtype=torch.bool, device=device
            )
        exists = knowledge_attention_mask[:, :, 0].bool()
        encodings = torch.zeros(*exists.shape, self.hidden_size, device=device)
        if exists.any():
            ids, mask = knowledge_input_ids[exists], knowledge_attention_mask[exists]
            width = int(mask.sum(dim=1).max())
            with torch.no_grad():
                encoded = self.hidden_states(ids[:, :width], mask[:, :width])
            encodings = encodings.to(encoded.dtype)
            encodings[exists] = self.pool(encoded, mask[:, :width])  # each knowledge sentence on its own
        return encodings, exists

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        target_mask: torch.Tensor | None = None,
        knowledge_input_ids: torch.Tensor | None = None,
        knowledge_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        target_probs: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        hidden = self.hidden_states(input_ids, attention_mask, token_type_ids)
        utterance = self.pool(hidden, attention_mask, target_mask)
        topic = self.topic(hidden, attention_mask)
        knowledge, exists = self.encode_knowledge(knowledge_input_ids, knowledge_attention_mask, len(input_ids))
        sequence = torch.cat([utterance.unsqueeze(1), topic.topic.unsqueeze(1), knowledge.to(utterance.dtype)], 1)
        segments = torch.full(sequence.shape[:2], _KNOWLEDGE, dtype=torch.long, device=sequence.device)
        segments[:, _UTTERANCE], segments[:, _TOPIC] = _UTTERANCE, _TOPIC
        padding = torch.cat([torch.zeros(len(sequence), 2, dtype=torch.bool, device=sequence.device), ~exists], 1)
        fused = self.fusion(sequence + self.segment_embeddings(segments), src_key_padding_mask=padding)
        logits = self.classifier(self.dropout(fused[:, 0]))
        loss = None
        if labels is not None:
            loss = self.loss(logits, labels, target_probs, sample_weight) + self.args.topic_loss_weight * topic.loss
        return SequenceClassifierOutput(loss=loss, logits=logits)
