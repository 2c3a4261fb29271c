"""A variational topic layer: a latent topic vector per utterance from an encoder's token states.

After TODKAT's topic-augmented language model (Zhu et al., ACL 2021): the token states are pooled by attention, a
VAE encoder maps the pooled state to the mean and log-variance of a Gaussian latent (the topic), a sample of it
(the mean outside training) is decoded back into the pooled state, and the topic vector in the encoder's hidden
size is what the classifier sees. The layer's own objective is the reconstruction of the pooled state (Gaussian
log-likelihood with unit variance, up to a constant) plus the KL divergence of the latent from a standard normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["TopicLayer", "TopicOutput"]


@dataclass
class TopicOutput:
    """What the topic layer returns for a batch.

    Attributes:
        topic: `(batch, hidden)` the topic vector in the encoder's hidden size.
        mean: `(batch, topic_size)` mean of the latent.
        log_variance: `(batch, topic_size)` log-variance of the latent.
        reconstruction_loss: Scalar, mean over the batch of half the squared error of the decoded pooled state.
        kl_loss: Scalar, mean over the batch of KL(q(z | utterance) || N(0, I)).
    """

    topic: torch.Tensor
    mean: torch.Tensor
    log_variance: torch.Tensor
    reconstruction_loss: torch.Tensor
    kl_loss: torch.Tensor

    @property
    def loss(self) -> torch.Tensor:
        """The layer's own objective: reconstruction plus KL."""
        return self.reconstruction_loss + self.kl_loss


class TopicLayer(nn.Module):
    """Attention pooling, a Gaussian latent topic with the reparameterisation trick, and its decoder.

    Args:
        hidden_size: The encoder's hidden size (input and output of the layer).
        topic_size: Dimension of the latent topic.
        inner_size: Width of the VAE encoder's and decoder's hidden layer.
    """

    def __init__(self, hidden_size: int, topic_size: int = 64, inner_size: int = 256) -> None:
        super().__init__()
        self.attention = nn.Linear(hidden_size, 1)
        self.encoder = nn.Sequential(nn.Linear(hidden_size, inner_size), nn.Tanh())
        self.to_mean = nn.Linear(inner_size, topic_size)
        self.to_log_variance = nn.Linear(inner_size, topic_size)
        self.decoder = nn.Sequential(nn.Linear(topic_size, inner_size), nn.Tanh(), nn.Linear(inner_size, hidden_size))
        self.to_topic = nn.Linear(topic_size, hidden_size)

    def pool(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Attention-weighted mean of the attended token states, `(batch, hidden)`."""
        scores = self.attention(hidden_states).squeeze(-1).float()
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1).to(hidden_states.dtype)
        return torch.einsum("bt,bth->bh", weights, hidden_states)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> TopicOutput:
        """The topic of each row from its token states.

        Args:
            hidden_states: `(batch, tokens, hidden)` the encoder's last hidden states.
            attention_mask: `(batch, tokens)`, 1 for real tokens.
        """
        pooled = self.pool(hidden_states, attention_mask).float()
        inner = self.encoder(pooled)
        mean, log_variance = self.to_mean(inner), self.to_log_variance(inner).clamp(-10.0, 10.0)
        if self.training:
            latent = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
        else:
            latent = mean
        # The target is detached so that the reconstruction trains the topic layer, not the encoder to be easy
        # to reconstruct.
        reconstruction = 0.5 * (self.decoder(latent) - pooled.detach()).pow(2).sum(dim=-1).mean()
        kl = -0.5 * (1 + log_variance - mean.pow(2) - log_variance.exp()).sum(dim=-1).mean()
        topic = self.to_topic(latent).to(hidden_states.dtype)
        return TopicOutput(topic, mean, log_variance, reconstruction, kl)
