"""Eager attention for grouped-query models that does not copy the key/value cache at every step.

transformers' eager attention (`eager_attention_forward` in the Llama family) first repeats every key/value head for
the query heads that share it (`repeat_kv`: `expand` then `reshape`, a full copy of the layer's cached keys and
values), then multiplies. In decoding, with one query token per row against a long cache, that copy is most of the
step: SmolLM2-135M (9 query heads, 3 key/value heads) in bf16 on CPU spent 59% of a 32-row step in `aten::copy_`
after 300 decoded tokens (`benchmarks/profile_decoding_step.py --turns 12 --warm-steps 300`, docs/generation.md).

`grouped_eager_attention` computes the same thing without the copy: the query heads of one group are stacked along
the query axis, so each key/value head is multiplied once, as it lies in the cache, by all of its queries; the scores
are computed transposed (keys x queries), the layout in which torch's CPU bf16 kernels read a slice of the cache
without copying it. Softmax runs in float32 like transformers' eager path. It is meant for bf16 on CPU (float32 keeps
the library's SDPA, which is faster there). It is registered with transformers' `AttentionInterface` (and the
eager mask with `AttentionMaskInterface`) under `GROUPED_EAGER`, the name a model is loaded with
(`attn_implementation=GROUPED_EAGER`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["GROUPED_EAGER", "grouped_eager_attention", "register_grouped_eager"]

#: The `attn_implementation` name of `grouped_eager_attention`.
GROUPED_EAGER = "erc_synth_grouped_eager"


def grouped_eager_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """transformers' attention-function signature: `query` [batch, heads, q, dim], `key` and `value`
    [batch, kv heads, keys, dim], `attention_mask` additive [batch, 1, q, keys] (or None). Returns the output
    [batch, q, heads, dim] and the weights [batch, kv heads, groups x q, keys]."""
    import torch

    batch, heads, length, dim = query.shape
    kv_heads, keys = key.shape[1], key.shape[-2]
    groups = heads // kv_heads
    # Query head h belongs to key/value head h // groups (the order `repeat_kv` makes): a view for a contiguous query.
    stacked = query.reshape(batch, kv_heads, groups * length, dim)
    # oneDNN (torch's CPU bf16 matrix-product path) builds and caches a kernel for every new shape, and decoding makes
    # a new shape at every step (one more cached key): its cache grew a long bf16 run by gigabytes (a 2.9 GiB peak
    # became 8.1). torch's own kernel takes about the same time here and keeps nothing.
    mkldnn = torch.backends.mkldnn
    with mkldnn.flags(enabled=False, deterministic=mkldnn.deterministic, allow_tf32=mkldnn.allow_tf32):
        # The scores transposed, [batch, kv heads, keys, groups x q]: the cached keys are a column slice of the cache
        # buffers, which keys @ queries^T reads as it lies (queries @ keys^T made torch copy it in bf16).
        scores = torch.matmul(key, stacked.transpose(2, 3)) * scaling
        if attention_mask is not None:
            mask = attention_mask[:, :, :, :keys].transpose(2, 3)[:, :, :, None, :]  # [batch, 1, keys, 1, q]
            scores = (scores.view(batch, kv_heads, keys, groups, length) + mask).view(batch, kv_heads, keys, -1)
        weights = torch.softmax(scores, dim=2, dtype=torch.float32).to(query.dtype).transpose(2, 3)
        weights = torch.nn.functional.dropout(weights, p=dropout, training=module.training)
        output = torch.matmul(weights, value).view(batch, heads, length, dim)
    return output.transpose(1, 2).contiguous(), weights


def register_grouped_eager() -> str:
    """Registers `grouped_eager_attention` and the eager mask with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(GROUPED_EAGER, grouped_eager_attention)
    AttentionMaskInterface.register(GROUPED_EAGER, eager_mask)
    return GROUPED_EAGER
