"""`compm`: CoMPM, a context model combined with a pre-trained memory of the speaker's earlier utterances.

Lee and Lee, "CoMPM: Context Modeling with Speaker's Pre-trained Memory Tracking for Emotion Recognition in
Conversation", NAACL 2022.

Kept from the paper: the context model (CoM) encodes the dialogue so far and the target utterance, with the first
token's hidden state as its output; the pre-trained memory (PM) encodes each earlier utterance of the *same speaker*
with a frozen pretrained encoder (its first-token embedding), a 2-layer GRU (dropout 0.3, zero initial state) tracks
those embeddings from oldest to newest, and its last output is added to the CoM output before one linear layer;
a speaker with no earlier utterance contributes a zero vector. The frozen PM and the trainable CoM start from the
same checkpoint by default.

Differs: speakers are written as `Name:` text prefixes, not special tokens; the context and the target are the two
segments of a sequence pair (see `context`); batches of utterances from different dialogues are trained together
(the reference code trains one utterance at a time), with the memories of a batch encoded in one call; dropout is
applied before the linear layer; the memory may be capped (`memory_max_turns`, `memory_max_length`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from ..errors import TrainingConfigError
from .base import ErcClassifier, ErcConfig, backbone_from_config

__all__ = ["CoMPMClassifier"]


class CoMPMClassifier(ErcClassifier):
    """Context model plus a GRU over the frozen encoder's embeddings of the speaker's earlier utterances."""

    architecture = "compm"
    needs_memory = True

    def __init__(
        self, config: ErcConfig, encoder: nn.Module | None = None, memory_encoder: nn.Module | None = None
    ) -> None:
        super().__init__(config, encoder)
        if memory_encoder is None:
            memory_encoder = backbone_from_config(config.memory_backbone_config or config.backbone_config)
        self.memory_encoder = memory_encoder
        if int(self.memory_encoder.config.hidden_size) != self.hidden_size:
            memory_path = self.args.memory_model_name_or_path or self.args.model_name_or_path
            raise TrainingConfigError(
                f"The memory encoder {memory_path!r} has hidden size {self.memory_encoder.config.hidden_size}, but "
                f"the context encoder {self.args.model_name_or_path!r} has {self.hidden_size}; set "
                "memory_model_name_or_path to a checkpoint of the same size and tokenizer (or leave it unset)."
            )
        self.memory_encoder.requires_grad_(False)
        self.memory_encoder.eval()
        self.speaker_gru = nn.GRU(
            self.hidden_size,
            self.hidden_size,
            num_layers=self.args.gru_layers,
            dropout=self.args.gru_dropout if self.args.gru_layers > 1 else 0.0,
            batch_first=True,
        )
        self.post_init()

    def train(self, mode: bool = True) -> CoMPMClassifier:
        super().train(mode)
        self.memory_encoder.eval()  # frozen: no dropout in the pre-trained memory
        return self

    def track_memory(self, memory_input_ids: torch.Tensor | None, memory_attention_mask: torch.Tensor | None):
        """The GRU's last output over each speaker memory, zeros where the speaker has no earlier utterance.

        Args:
            memory_input_ids: `(batch, turns, length)` token ids, oldest utterance first, padded turns all padding.
            memory_attention_mask: Same shape; a turn exists where its first position is attended.

        Returns:
            `(batch, hidden)`.
        """
        batch = memory_input_ids.shape[0] if memory_input_ids is not None else None
        device = self.classifier.weight.device
        if memory_input_ids is None or memory_input_ids.shape[1] == 0:
            # Still run the GRU (on zeros), so every trainable parameter takes part in the graph (needed by DDP).
            n = batch or 1
            memory = torch.zeros(n, 1, self.hidden_size, device=device)
            counts = torch.zeros(n, dtype=torch.long, device=device)
        else:
            exists = memory_attention_mask[:, :, 0].bool()
            counts = exists.sum(dim=1)
            flat_ids, flat_mask = memory_input_ids[exists], memory_attention_mask[exists]
            width = int(flat_mask.sum(dim=1).max())
            with torch.no_grad():
                states = self.memory_encoder(
                    input_ids=flat_ids[:, :width], attention_mask=flat_mask[:, :width]
                ).last_hidden_state
                embeddings = self.pool(states, flat_mask[:, :width])  # each memory turn is one utterance
            memory = torch.zeros(*exists.shape, self.hidden_size, device=device, dtype=embeddings.dtype)
            memory[exists] = embeddings
        lengths = counts.clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(memory.float(), lengths, batch_first=True, enforce_sorted=False)
        _, hidden = self.speaker_gru(packed)
        tracked = hidden[-1]  # last layer, last valid step of each sequence
        return tracked * (counts > 0).unsqueeze(1).to(tracked.dtype)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        target_mask: torch.Tensor | None = None,
        memory_input_ids: torch.Tensor | None = None,
        memory_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        target_probs: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        context = self.encode(input_ids, attention_mask, token_type_ids, target_mask)
        if memory_input_ids is None:
            memory_input_ids = torch.zeros(input_ids.shape[0], 0, 1, dtype=torch.long, device=input_ids.device)
        tracked = self.track_memory(memory_input_ids, memory_attention_mask)
        logits = self.classifier(self.dropout(context + tracked.to(context.dtype)))
        loss = None if labels is None else self.loss(logits, labels, target_probs, sample_weight)
        return SequenceClassifierOutput(loss=loss, logits=logits)
