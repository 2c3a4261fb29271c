"""Continuous batching for a causal LM in this process: a finished row's slot takes the next request at once.

transformers ships its own continuous batching (`generate_batch`, `ContinuousBatchingManager`), but it does not do
what a generation run needs: it seeds one generator for the whole batch (a request's tokens would depend on its
neighbours, so a resumed run would not reproduce), it has no per-step hook for a per-request grammar mask (xgrammar
must accept each sampled token and fill the next mask), and it drops the typical-p warper and the repetition penalty.
So the refill is built on the model's own cache API instead:

- The batch lives in preallocated buffers, one keys and one values buffer per layer of shape [slots, heads, capacity,
  head dim], handed to the model as a `DynamicCache` whose layers (`_slab_layer_class`) write each step's keys and
  values in place and return views of the rows in flight and the columns in use. transformers' `DynamicLayer`
  concatenates the whole cache onto the new token at every step instead, a copy that grows with the cache
  (docs/generation.md, "Measurements", has runs before and after). Rows of different lengths are right-aligned on one
  end column and left-padded, with a 2-D attention mask marking the real tokens and per-row position ids (the count of
  a row's real tokens), so every row shares every forward pass. Rotary positions are baked into the cached keys, so
  moving a row's columns never changes its attention.
- A new request is prefilled on its own (with other new requests, left-padded among themselves) on all but its last
  prompt token; its keys and values are then copied into a free row of the buffers, ending on the end column. Its last
  prompt token is the input of the next batched step, like every other row's last sampled token.
- Prompts repeat: two requests with the same utterance count (and target emotion, and persona) have the same prompt;
  their seeds make the dialogues differ. The keys and values of the last `prompt_cache` distinct prompts are kept, so
  a prompt is prefilled once and each later request with it only copies them into its row (a prompt's keys and
  values do not depend on the padding or the other prompts of its group: padding is masked out and positions count
  real tokens only).
- A finished row's slot is refilled by moving the last row in flight into it, and leading columns no row uses any
  more are dropped from the views. When the end column reaches the capacity, the columns in use move back to the
  start, or into larger buffers when they would leave less than an eighth free: memory is set by the slots and the
  longest request in flight (the first buffers already hold the first prompts plus `max_new_tokens`), never by the
  number of requests in the run, and no step copies the cache.
- The first buffers hold as many rows as the first admissions bring (a run of 4 dialogues needs 4 rows, not every
  slot: the buffers of 32 slots of SmolLM2 at `--max-new-tokens 1536` are 2.35 GiB, written on allocation); a later
  admission that needs more rows moves the rows in flight into buffers of every slot, once.

Per step: repetition penalty (a per-row "seen tokens" mask), the grammar mask (xgrammar's bitmask, unpacked on the
device), the top-k candidates (`topk`; the same set as transformers' top-k warper but for ties at the k-th score),
transformers' temperature/top-p/typical-p warpers on those candidates only (the rest of the vocabulary has
probability 0 after top-k, so they give the same distribution), then sampling with the Gumbel-max trick on noise
drawn from the request's own `torch.Generator`: a request's tokens depend only on its own seed and logits, not on
the rows that share its batch. Everything stays on the model's device; the one host synchronisation per step copies
the sampled token ids, which the grammar matchers need and which tell which rows have finished. A row finishes at
its end-of-sequence token, at `max_new_tokens`, or, with `SamplingParams.max_loop_tokens`, as soon as it has fallen
into a loop (`LoopDetector`): such a row would otherwise decode alone for hundreds of steps after every other row has
finished, and its retry could only start after it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .base import GenerationRequest, GenerationResult, LoopDetector, SamplingParams

__all__ = ["ContinuousBatcher", "PreparedRequest", "sampling_warpers", "supports_continuous_batching"]

#: Largest number of new requests prefilled in one forward pass (bounds the prefill's attention memory).
_PREFILL_GROUP = 8
#: Distinct prompts whose prefilled keys and values are kept for reuse (SmolLM2-135M: 7.8 MB for a 170-token prompt).
PROMPT_CACHE_ENTRIES = 16
#: ... and their tokens at most, so that long prompts of a large model keep little memory (Llama-3-8B: 512 MiB).
PROMPT_CACHE_TOKENS = 4096


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
    loop: LoopDetector
    tokens: list[int] = field(default_factory=list)
    grammar_failed: bool = False
    looped: bool = False


class ContinuousBatcher:
    """Keeps up to `slots` requests decoding together and refills a slot as soon as its request finishes.

    Args:
        model: A loaded causal LM whose cache is made of dynamic full-attention layers
            (`supports_continuous_batching`).
        eos_token_id: The token that ends a completion.
        vocab_size: Size of the model's logits (the grammar bitmask's width).
        slots: How many requests decode at once.
        sampling: Decoding settings shared by every request; temperature 0 (or None treated as 1) as in `generate`.
        initial_headroom: Columns the first buffers hold beyond the first prompts (default `max_new_tokens`); they
            grow when full, so a small value only costs a few more moves.
        prompt_cache: How many distinct prompts' prefilled keys and values are kept (`PROMPT_CACHE_TOKENS` tokens at
            most), so that a repeated prompt is prefilled once (0: every request is prefilled).
    """

    def __init__(
        self,
        model: Any,
        eos_token_id: int,
        vocab_size: int,
        slots: int,
        sampling: SamplingParams,
        initial_headroom: int | None = None,
        prompt_cache: int = PROMPT_CACHE_ENTRIES,
    ) -> None:
        import torch

        self.model = model
        self.device = next(model.parameters()).device
        self.eos_token_id = eos_token_id
        self.vocab_size = vocab_size
        self.slots = max(1, int(slots))
        self.sampling = sampling
        self.initial_headroom = sampling.max_new_tokens if initial_headroom is None else max(0, int(initial_headroom))
        self.prompt_cache = max(0, int(prompt_cache))
        self.prefilled_tokens = 0  # prompt tokens run through the model (a cached prompt's are not)
        self.temperature = 1.0 if sampling.temperature is None else sampling.temperature
        # With a top-k cut-off the other warpers and the noise only need the k best tokens of each row: picking them
        # with `topk` first spares the two full-vocabulary sorts of top-p and typical-p and the noise for every token.
        top_k = sampling.top_k if sampling.top_k is not None and 0 < sampling.top_k < vocab_size else None
        self.top_k = top_k if self.temperature > 0 else None
        rest = dataclasses.replace(sampling, top_k=None) if self.top_k is not None else sampling
        self.warpers = sampling_warpers(rest, self.temperature) if self.temperature > 0 else []
        penalty = sampling.repetition_penalty
        self.penalty = None if penalty is None or penalty == 1.0 else float(penalty)
        self._bit_shifts = torch.arange(32, dtype=torch.int32, device=self.device)
        self._bitmask: Any = None
        # transformers renamed the forward's `past_key_values` to `cache`; use whichever the model takes.
        self._cache_argument = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._reset()

    def _reset(self) -> None:
        """Forgets every request in flight and frees the buffers."""
        self.rows: list[_Row] = []
        self.cache: Any = None  # a DynamicCache of slab layers, allocated by the first admission
        self.start = self.end = 0  # the columns in use: [start, end); every row's last real token is at end - 1
        self.mask: Any = None  # [slots, capacity] 1 for real tokens, 0 for padding
        self.next_input: Any = None  # [slots] the token each row feeds at the next step
        self.positions: Any = None  # [slots] that token's position
        self.seen: Any = None  # [slots, vocab] tokens seen so far (repetition penalty only)
        # prompt (all but its last token) -> per layer (keys, values) [heads, tokens, head dim], least recent first
        self.prompts: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()

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
            wanted = len(self.rows) + len(incoming)
            try:
                # Only the tensor work runs in inference mode: the caller's code between two results does not.
                with torch.inference_mode():
                    for start in range(0, len(incoming), _PREFILL_GROUP):
                        self._admit(incoming[start : start + _PREFILL_GROUP], wanted)
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
        extra: dict[str, Any] = {"grammar_failed": True} if row.grammar_failed else {}
        if row.looped:
            extra["loop"] = row.loop.describe(len(row.tokens))
        return GenerationResult(
            text=decode(row.tokens),
            prompt_tokens=len(row.prepared.prompt_ids),
            completion_tokens=len(row.tokens),
            extra=extra,
        )

    # -- batch membership -----------------------------------------------------------------------------------

    def _admit(self, group: list[PreparedRequest], wanted: int) -> None:
        """Prefills `group` (all prompt tokens but the last) and copies its rows into free rows of the buffers;
        `wanted`: the rows in flight once this round of admissions is done (the first buffers' rows)."""
        import torch

        if not group:
            return
        device = self.device
        heads = [tuple(p.prompt_ids[:-1]) for p in group]
        width = max(len(h) for h in heads)
        if self.cache is None and width == 0:
            raise ValueError("The first prompts of a batch must have at least two tokens.")
        states = self._prefill(heads)
        if self.cache is None:
            template = next(s for s in states if s is not None)
            self._allocate(template, capacity=width + 1 + self.initial_headroom, rows=max(wanted, len(group)))
        if not self.rows:
            self.start = self.end = 0
        if self.end + 1 > self.capacity:
            self._make_room()
        if self.end < width:  # the group's prompts reach further left than the columns before the end
            self._place(self.start + width - self.end, max(self.capacity, width + 1))
        if len(self.rows) + len(group) > self.allocated_rows:
            self._place(self.start, self.capacity, held_rows=self.slots)
        first, last = len(self.rows), len(self.rows) + len(group)
        self.mask[first:last] = 0
        for row, (head, layers) in enumerate(zip(heads, states, strict=True), start=first):
            if layers is None:
                continue
            columns = slice(self.end - len(head), self.end)
            for layer, (keys, values) in zip(self.cache.layers, layers, strict=True):
                layer.buffers[0][row, :, columns] = keys
                layer.buffers[1][row, :, columns] = values
            self.mask[row, columns] = 1
        self.start = min(self.start, self.end - width) if self.rows else self.end - width
        self.next_input[first:last] = torch.tensor([p.prompt_ids[-1] for p in group], dtype=torch.long, device=device)
        self.positions[first:last] = torch.tensor([len(h) for h in heads], dtype=torch.long, device=device)
        if self.seen is not None:
            self.seen[first:last] = False
            for i, p in enumerate(group):
                self.seen[first + i, torch.tensor(p.prompt_ids[:-1], dtype=torch.long, device=device)] = True
        self.rows.extend(
            _Row(
                prepared=p,
                generator=torch.Generator(device=device).manual_seed(p.request.seed),
                matcher=_matcher(p.grammar),
                loop=LoopDetector(self.sampling.max_loop_tokens),
            )
            for p in group
        )

    def _prefill(self, heads: list[tuple[int, ...]]) -> list[list[tuple[Any, Any]] | None]:
        """Each head's keys and values per layer ([heads, tokens, head dim]; None for an empty head): from the
        prompt cache, or from one forward pass over the distinct heads it lacks (left-padded), which it then keeps."""
        import torch
        from transformers import DynamicCache

        known = {h: self.prompts[h] for h in heads if h in self.prompts}
        for head in known:
            self.prompts.move_to_end(head)
        missing = [h for h in heads if h and h not in known]
        if self.prompt_cache:  # without the cache every request is prefilled, as before the cache existed
            missing = list(dict.fromkeys(missing))
        fresh: dict[tuple[int, ...], list[tuple[Any, Any]]] = {}
        if missing:
            width = max(len(h) for h in missing)
            ids = torch.zeros(len(missing), width, dtype=torch.long, device=self.device)
            mask = torch.zeros(len(missing), width, dtype=torch.long, device=self.device)
            for i, head in enumerate(missing):
                ids[i, width - len(head) :] = torch.tensor(head, device=self.device)
                mask[i, width - len(head) :] = 1
            prefilled = DynamicCache(config=self.model.config)
            self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_argument: prefilled},
            )
            self.prefilled_tokens += sum(len(h) for h in missing)
            for i, head in enumerate(missing):
                columns = slice(width - len(head), width)
                fresh[head] = [(layer.keys[i, :, columns], layer.values[i, :, columns]) for layer in prefilled.layers]
        if self.prompt_cache:
            for head, layers in fresh.items():  # copies: a view would keep the whole padded group alive
                self.prompts[head] = [(keys.clone(), values.clone()) for keys, values in layers]
            kept = sum(len(head) for head in self.prompts)
            while self.prompts and (len(self.prompts) > self.prompt_cache or kept > PROMPT_CACHE_TOKENS):
                kept -= len(self.prompts.popitem(last=False)[0])
        return [(known.get(h) or fresh.get(h)) if h else None for h in heads]

    @property
    def capacity(self) -> int:
        """How many columns the buffers hold."""
        return self.mask.shape[1]

    @property
    def allocated_rows(self) -> int:
        """How many rows the buffers hold (at most `slots`)."""
        return self.mask.shape[0]

    def _allocate(self, template: list[tuple[Any, Any]], capacity: int, rows: int) -> None:
        """The buffers, shaped after one prompt's keys and values per layer (heads, head dim, dtype), with
        `capacity` columns and `rows` rows (at most `slots`)."""
        import torch
        from transformers import DynamicCache

        rows = min(rows, self.slots)

        def buffer(state: Any) -> Any:
            return state.new_zeros((rows, state.shape[0], capacity, state.shape[2]))

        self.cache = DynamicCache(config=self.model.config)
        self.cache.layers = [_slab_layer_class()(self, buffer(keys), buffer(values)) for keys, values in template]
        self.mask = torch.zeros(rows, capacity, dtype=torch.long, device=self.device)
        self.next_input = torch.zeros(rows, dtype=torch.long, device=self.device)
        self.positions = torch.zeros(rows, dtype=torch.long, device=self.device)
        if self.penalty is not None:
            self.seen = torch.zeros(rows, self.vocab_size, dtype=torch.bool, device=self.device)

    def _make_room(self) -> None:
        """Frees the column after the end: moves the columns in use back to the start, into larger buffers when they
        would leave less than an eighth of the capacity free."""
        used = self.end - self.start
        # Keep an eighth free after the move, so that moves stay rare (one per eighth of the capacity in steps).
        self._place(0, max(self.capacity, (used + 1) * 8 // 7 + 1))

    def _place(self, start: int, capacity: int, held_rows: int | None = None) -> None:
        """Moves the columns in use of the rows in flight to begin at `start`, in buffers of `capacity` columns (and
        `held_rows` rows: default the buffers' own)."""
        import torch

        allocated = self.allocated_rows if held_rows is None else held_rows
        if allocated != self.allocated_rows:  # the per-row state moves into tensors of the new row count too
            for name in ("next_input", "positions", "seen"):
                tensor = getattr(self, name)
                if tensor is not None:
                    grown = tensor.new_zeros((allocated, *tensor.shape[1:]))
                    grown[: len(self.rows)] = tensor[: len(self.rows)]
                    setattr(self, name, grown)
        rows, used = len(self.rows), self.end - self.start
        old, new = slice(self.start, self.end), slice(start, start + used)
        if capacity != self.capacity or allocated != self.allocated_rows:
            mask = torch.zeros(allocated, capacity, dtype=self.mask.dtype, device=self.device)
            mask[:rows, new] = self.mask[:rows, old]
            for layer in self.cache.layers:
                moved = []
                for buffer in layer.buffers:
                    shape = (allocated, buffer.shape[1], capacity, buffer.shape[3])
                    target = buffer.new_zeros(shape)
                    target[:rows, :, new] = buffer[:rows, :, old]
                    moved.append(target)
                # Drop the views of the old buffers too, so each is freed before the next layer's are allocated.
                layer.buffers, layer.keys, layer.values = tuple(moved), None, None
            self.mask = mask
        else:
            region = self.mask[:rows, old].clone()
            self.mask[:rows] = 0
            self.mask[:rows, new] = region
            for layer in self.cache.layers:
                for buffer in layer.buffers:
                    buffer[:rows, :, new] = buffer[:rows, :, old].clone()
        self.start, self.end = start, start + used

    def _remove(self, finished: list[int]) -> None:
        """Moves the last rows in flight into the finished rows' slots and drops the leading columns no row uses."""
        import torch

        gone = set(finished)
        count = len(self.rows) - len(gone)
        sources = [i for i in range(count, len(self.rows)) if i not in gone]
        targets = [i for i in sorted(gone) if i < count]
        if sources:
            source = torch.tensor(sources, dtype=torch.long, device=self.device)
            target = torch.tensor(targets, dtype=torch.long, device=self.device)
            columns = slice(self.start, self.end)
            for layer in self.cache.layers:
                for buffer in layer.buffers:
                    buffer[target, :, columns] = buffer[source, :, columns]
            for name in ("mask", "next_input", "positions", "seen"):
                tensor = getattr(self, name)
                if tensor is not None:
                    tensor[target] = tensor[source]
            for s, t in zip(sources, targets, strict=True):
                self.rows[t] = self.rows[s]
        del self.rows[count:]
        if not self.rows:
            self.start = self.end = 0
            return
        used = self.mask[:count, self.start : self.end].any(dim=0)
        self.start += int(used.to(torch.int8).argmax())

    # -- one decoding step ----------------------------------------------------------------------------------

    def _step(self) -> list[int]:
        """Feeds every row's next input, samples a token per row; returns the indices of rows that finished."""
        import torch

        rows = len(self.rows)
        if self.end + 1 > self.capacity:
            self._make_room()
        self.mask[:rows, self.end] = 1
        next_input = self.next_input[:rows]
        output = self.model(
            input_ids=next_input[:, None],
            attention_mask=self.mask[:rows, self.start : self.end + 1],
            position_ids=self.positions[:rows, None],
            use_cache=True,
            **{self._cache_argument: self.cache},
        )
        self.end += 1
        scores = output.logits[:, -1, :].float()
        if self.penalty is not None:
            seen = self.seen[:rows]
            seen[torch.arange(rows, device=self.device), next_input] = True
            penalised = torch.where(scores < 0, scores * self.penalty, scores / self.penalty)
            scores = torch.where(seen, penalised, scores)
        scores, candidates = self._warp(self._apply_grammar(scores))
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
        if candidates is not None:
            sampled = candidates.gather(1, sampled[:, None]).squeeze(1)
        self.next_input[:rows] = sampled
        self.positions[:rows] += 1
        finished = []
        for index, (row, token) in enumerate(zip(self.rows, sampled.tolist(), strict=True)):
            row.tokens.append(token)
            if row.matcher is not None and not row.grammar_failed and not row.matcher.is_terminated():
                if not row.matcher.accept_token(token):
                    row.grammar_failed = True
            row.looped = row.loop.push(token)
            if token == self.eos_token_id or len(row.tokens) >= self.sampling.max_new_tokens or row.looped:
                finished.append(index)
        return finished

    def _warp(self, scores: Any) -> tuple[Any, Any]:
        """The sampling warpers applied to `scores` [rows, vocab]: with a top-k cut-off, `(scores of the k
        candidates, their token ids)`, else `(warped scores of the whole vocabulary, None)`."""
        candidates = None
        if self.top_k is not None:
            scores, candidates = scores.topk(self.top_k, dim=-1)
        for warper in self.warpers:
            scores = warper(None, scores)
        return scores, candidates

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


@functools.cache
def _slab_layer_class() -> type:
    """The cache layer over one layer's preallocated buffers of a batcher (see the module docstring): a
    `DynamicLayer` writing in place, built on first use so that importing this module does not import transformers."""
    from transformers.cache_utils import DynamicLayer

    class SlabLayer(DynamicLayer):
        def __init__(self, batcher: ContinuousBatcher, keys: Any, values: Any) -> None:
            super().__init__()
            self.batcher = batcher
            self.buffers = (keys, values)
            self.device = keys.device
            self.is_initialized = True

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            rows, start, end = len(self.batcher.rows), self.batcher.start, self.batcher.end
            stop = end + key_states.shape[-2]
            keys, values = self.buffers
            keys[:rows, :, end:stop] = key_states
            values[:rows, :, end:stop] = value_states
            self.keys, self.values = keys[:rows, :, start:stop], values[:rows, :, start:stop]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.batcher.end - self.batcher.start

    return SlabLayer
