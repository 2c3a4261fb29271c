"""Continuous batching for a causal LM in this process: a finished row's slot takes the next request at once.

transformers ships its own continuous batching (`generate_batch`, `ContinuousBatchingManager`), but it does not do
what a generation run needs: it seeds one generator for the whole batch (a request's tokens would depend on its
neighbours, so a resumed run would not reproduce), it has no per-step hook for a per-request grammar mask (xgrammar
must accept each sampled token and fill the next mask), and it drops the typical-p warper and the repetition penalty.
So the refill is built on the model's own cache API instead:

- The batch is a `DynamicCache` whose rows are the requests in flight, left-padded to one length, with a 2-D
  attention mask marking the real tokens and per-row position ids (the count of a row's real tokens), so rows of
  different lengths share every forward pass. Rotary positions are baked into the cached keys, so padding columns
  added on the left never change a row's attention.
- A new request is prefilled on its own (with other new requests, left-padded among themselves) on all but its last
  prompt token; its keys and values are then padded and concatenated onto the batch. Its last prompt token is the
  input of the next batched step, like every other row's last sampled token, so all rows advance together.
- A finished row is removed from the batch (`index_select` on the batch dimension), and leading columns that no row
  uses any more are cut, so the cache stays as long as the longest request in flight, not the whole run.

Per step: repetition penalty (a per-row "seen tokens" mask), the grammar mask (xgrammar's bitmask, unpacked on the
device), transformers' temperature/top-k/top-p/typical-p warpers, then sampling with the Gumbel-max trick on noise
drawn from the request's own `torch.Generator`: a request's tokens depend only on its own seed and logits, not on
the rows that share its batch. Everything stays on the model's device; the one host synchronisation per step copies
the sampled token ids, which the grammar matchers need and which tell which rows have finished.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .base import GenerationRequest, GenerationResult, SamplingParams

__all__ = ["ContinuousBatcher", "PreparedRequest", "sampling_warpers", "supports_continuous_batching"]

#: Largest number of new requests prefilled in one forward pass (bounds the prefill's attention memory).
_PREFILL_GROUP = 8


def sampling_warpers(sampling: SamplingParams, temperature: float) -> list[Any]:
    """transformers' temperature, top-k, top-p and typical-p warpers (in that order) for `sampling`."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, TypicalLogitsWarper

    warpers: list[Any] = []
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if sampling.top_k is not None and sampling.top_k > 0:
        warpers.append(TopKLogitsWarper(sampling.top_k))
    if sampling.top_p is not None and sampling.top_p < 1.0:
        warpers.append(TopPLogitsWarper(sampling.top_p))
    if sampling.typical_p is not None and sampling.typical_p < 1.0:
        warpers.append(TypicalLogitsWarper(sampling.typical_p))
    return warpers


def supports_continuous_batching(model: Any) -> bool:
    """Whether `model`'s cache is made only of full-attention dynamic layers (the layout the refill edits)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        cache = DynamicCache(config=model.config)
    except (TypeError, ValueError):
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


@dataclass
class PreparedRequest:
    """A request with its prompt tokenized and its grammar compiled (None: unconstrained)."""

    request: GenerationRequest
    prompt_ids: list[int]
    grammar: Any = None


@dataclass
class _Row:
    """Host-side state of one request in flight."""

    prepared: PreparedRequest
    generator: Any
    matcher: Any
    tokens: list[int] = field(default_factory=list)
    grammar_failed: bool = False


class ContinuousBatcher:
    """Keeps up to `slots` requests decoding together and refills a slot as soon as its request finishes.

    Args:
        model: A loaded causal LM whose cache is made of dynamic full-attention layers
            (`supports_continuous_batching`).
        eos_token_id: The token that ends a completion.
        vocab_size: Size of the model's logits (the grammar bitmask's width).
        slots: How many requests decode at once.
        sampling: Decoding settings shared by every request; temperature 0 (or None treated as 1) as in `generate`.
    """

    def __init__(self, model: Any, eos_token_id: int, vocab_size: int, slots: int, sampling: SamplingParams) -> None:
        import torch

        self.model = model
        self.device = next(model.parameters()).device
        self.eos_token_id = eos_token_id
        self.vocab_size = vocab_size
        self.slots = max(1, int(slots))
        self.sampling = sampling
        self.temperature = 1.0 if sampling.temperature is None else sampling.temperature
        self.warpers = sampling_warpers(sampling, self.temperature) if self.temperature > 0 else []
        penalty = sampling.repetition_penalty
        self.penalty = None if penalty is None or penalty == 1.0 else float(penalty)
        self._bit_shifts = torch.arange(32, dtype=torch.int32, device=self.device)
        self._bitmask: Any = None
        # transformers renamed the forward's `past_key_values` to `cache`; use whichever the model takes.
        self._cache_argument = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._reset()

    def _reset(self) -> None:
        self.rows: list[_Row] = []
        self.cache: Any = None
        self.mask: Any = None  # [rows, cached length] 1 for real tokens, 0 for padding
        self.next_input: Any = None  # [rows] the token each row feeds at the next step
        self.positions: Any = None  # [rows] that token's position
        self.seen: Any = None  # [rows, vocab] tokens seen so far (repetition penalty only)

    # -- the loop -------------------------------------------------------------------------------------------

    def run(
        self, source: Callable[[], PreparedRequest | None], decode: Callable[[list[int]], str]
    ) -> Iterator[tuple[GenerationRequest, GenerationResult]]:
        """Yields `(request, result)` as each request finishes, asking `source` for a new one for every free slot.

        Args:
            source: The next prepared request, or None when there is none right now.
            decode: Turns a completion's token ids into its text.
        """
        import torch

        while True:
            incoming: list[PreparedRequest] = []
            while len(self.rows) + len(incoming) < self.slots:
                prepared = source()
                if prepared is None:
                    break
                incoming.append(prepared)
            try:
                # Only the tensor work runs in inference mode: the caller's code between two results does not.
                with torch.inference_mode():
                    for start in range(0, len(incoming), _PREFILL_GROUP):
                        self._admit(incoming[start : start + _PREFILL_GROUP])
                    if not self.rows:
                        return
                    finished = self._step()
                    done = [self.rows[i] for i in finished]
                    if finished:
                        self._remove(finished)
            except (RuntimeError, ValueError) as err:
                admitted = {id(row.prepared) for row in self.rows}
                failed = [row.prepared.request for row in self.rows]
                failed += [p.request for p in incoming if id(p) not in admitted]
                self._reset()
                message = f"{type(err).__name__}: {err}"
                for request in failed:
                    yield request, GenerationResult(text="", error=message)
                continue
            for row in done:
                yield row.prepared.request, self._result(row, decode)

    def _result(self, row: _Row, decode: Callable[[list[int]], str]) -> GenerationResult:
        return GenerationResult(
            text=decode(row.tokens),
            prompt_tokens=len(row.prepared.prompt_ids),
            completion_tokens=len(row.tokens),
            extra={"grammar_failed": True} if row.grammar_failed else {},
        )

    # -- batch membership -----------------------------------------------------------------------------------

    def _admit(self, group: list[PreparedRequest]) -> None:
        """Prefills `group` (all prompt tokens but the last) and appends its rows to the batch."""
        import torch
        from transformers import DynamicCache

        if not group:
            return
        device = self.device
        heads = [p.prompt_ids[:-1] for p in group]
        width = max(len(h) for h in heads)
        group_mask = torch.zeros(len(group), width, dtype=torch.long, device=device)
        cache = DynamicCache(config=self.model.config)
        if width > 0:
            ids = torch.zeros(len(group), width, dtype=torch.long, device=device)
            for i, head in enumerate(heads):
                if head:
                    ids[i, width - len(head) :] = torch.tensor(head, device=device)
                    group_mask[i, width - len(head) :] = 1
            positions = (group_mask.cumsum(-1) - 1).clamp(min=0)
            self.model(
                input_ids=ids,
                attention_mask=group_mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_argument: cache},
            )
        layers = self._layers_of(cache, len(group), width)
        next_input = torch.tensor([p.prompt_ids[-1] for p in group], dtype=torch.long, device=device)
        positions = torch.tensor([len(h) for h in heads], dtype=torch.long, device=device)
        seen = None
        if self.penalty is not None:
            seen = torch.zeros(len(group), self.vocab_size, dtype=torch.bool, device=device)
            for i, p in enumerate(group):
                seen[i, torch.tensor(p.prompt_ids[:-1], dtype=torch.long, device=device)] = True
        self.rows.extend(
            _Row(
                prepared=p,
                generator=torch.Generator(device=device).manual_seed(p.request.seed),
                matcher=_matcher(p.grammar),
            )
            for p in group
        )
        if self.cache is None:
            self.cache, self.mask, self.next_input, self.positions, self.seen = (
                cache,
                group_mask,
                next_input,
                positions,
                seen,
            )
            return
        length = self.mask.shape[1]
        total = max(length, width)
        for layer, (keys, values) in zip(self.cache.layers, layers, strict=True):
            layer.keys = torch.cat([_pad_left(layer.keys, total), _pad_left(keys, total)], dim=0)
            layer.values = torch.cat([_pad_left(layer.values, total), _pad_left(values, total)], dim=0)
        self.mask = torch.cat([_pad_left(self.mask, total), _pad_left(group_mask, total)], dim=0)
        self.next_input = torch.cat([self.next_input, next_input])
        self.positions = torch.cat([self.positions, positions])
        if seen is not None:
            self.seen = torch.cat([self.seen, seen])

    def _layers_of(self, cache: Any, rows: int, width: int) -> list[tuple[Any, Any]]:
        """Each layer's (keys, values) of a prefilled group; empty tensors of the batch's layout when nothing was
        prefilled (one-token prompts)."""
        import torch

        if width > 0:
            return [(layer.keys, layer.values) for layer in cache.layers]
        if self.cache is None:
            raise ValueError("The first prompts of a batch must have at least two tokens.")
        result = []
        for layer in self.cache.layers:
            shape = (rows, layer.keys.shape[1], 0, layer.keys.shape[3])
            empty = torch.zeros(shape, dtype=layer.keys.dtype, device=layer.keys.device)
            result.append((empty, empty.clone()))
        return result

    def _remove(self, finished: list[int]) -> None:
        """Drops the finished rows and the leading columns that no remaining row uses."""
        import torch

        gone = set(finished)
        keep = [i for i in range(len(self.rows)) if i not in gone]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        mask = self.mask.index_select(0, index)
        used = mask.any(dim=0)
        first = int(used.to(torch.int8).argmax()) if bool(used.any()) else mask.shape[1]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, first:]
            layer.values = layer.values.index_select(0, index)[:, :, first:]
        self.mask = mask[:, first:]
        self.next_input = self.next_input.index_select(0, index)
        self.positions = self.positions.index_select(0, index)
        if self.seen is not None:
            self.seen = self.seen.index_select(0, index)

    # -- one decoding step ----------------------------------------------------------------------------------

    def _step(self) -> list[int]:
        """Feeds every row's next input, samples a token per row; returns the indices of rows that finished."""
        import torch

        rows = len(self.rows)
        mask = torch.cat([self.mask, torch.ones(rows, 1, dtype=self.mask.dtype, device=self.device)], dim=1)
        output = self.model(
            input_ids=self.next_input[:, None],
            attention_mask=mask,
            position_ids=self.positions[:, None],
            use_cache=True,
            **{self._cache_argument: self.cache},
        )
        self.mask = mask
        scores = output.logits[:, -1, :].float()
        if self.penalty is not None:
            self.seen[torch.arange(rows, device=self.device), self.next_input] = True
            penalised = torch.where(scores < 0, scores * self.penalty, scores / self.penalty)
            scores = torch.where(self.seen, penalised, scores)
        scores = self._apply_grammar(scores)
        for warper in self.warpers:
            scores = warper(None, scores)
        if self.temperature > 0:
            noise = torch.stack(
                [
                    torch.rand(scores.shape[1], generator=row.generator, device=self.device, dtype=torch.float32)
                    for row in self.rows
                ]
            )
            gumbel = -torch.log(-torch.log(noise.clamp_(min=1e-20, max=1.0 - 1e-7)))
            sampled = torch.argmax(torch.log_softmax(scores, dim=-1) + gumbel, dim=-1)
        else:
            sampled = torch.argmax(scores, dim=-1)
        self.next_input = sampled
        self.positions = self.positions + 1
        finished = []
        for index, (row, token) in enumerate(zip(self.rows, sampled.tolist(), strict=True)):
            row.tokens.append(token)
            if row.matcher is not None and not row.grammar_failed and not row.matcher.is_terminated():
                if not row.matcher.accept_token(token):
                    row.grammar_failed = True
            if token == self.eos_token_id or len(row.tokens) >= self.sampling.max_new_tokens:
                finished.append(index)
        return finished

    def _apply_grammar(self, scores: Any) -> Any:
        """Masks, for each row with a live grammar, every token its grammar does not allow next."""
        import xgrammar as xgr

        live = [
            i
            for i, row in enumerate(self.rows)
            if row.matcher is not None and not row.grammar_failed and not row.matcher.is_terminated()
        ]
        if not live:
            return scores
        rows = len(self.rows)
        if self._bitmask is None or self._bitmask.shape[0] < rows:
            self._bitmask = xgr.allocate_token_bitmask(max(rows, self.slots), self.vocab_size)
        bitmask = self._bitmask[:rows]
        bitmask.fill_(-1)
        for i in live:
            self.rows[i].matcher.fill_next_token_bitmask(bitmask, i)
        words = bitmask.to(self.device, non_blocking=True)
        allowed = ((words.unsqueeze(-1) >> self._bit_shifts) & 1).reshape(rows, -1)[:, : scores.shape[1]]
        return scores.masked_fill(allowed == 0, -math.inf)


def _matcher(grammar: Any) -> Any:
    """A fresh xgrammar matcher of `grammar` (None when unconstrained; xgrammar is then not needed)."""
    if grammar is None:
        return None
    import xgrammar as xgr

    return xgr.GrammarMatcher(grammar)


def _pad_left(tensor: Any, length: int) -> Any:
    """`tensor` with zeros added on the left of its sequence dimension (the last of a mask, the third of a cache
    tensor) up to `length`."""
    import torch

    dim = 1 if tensor.dim() == 2 else 2
    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)
