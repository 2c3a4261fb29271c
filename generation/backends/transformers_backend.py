"""The local `transformers` backend: continuous batching (`stream`) or static batches (`generate`), with the model's
chat template.

- `stream` keeps `max_in_flight` requests decoding together and gives a finished request's slot to the next one at
  once (`continuous.ContinuousBatcher`, which explains why transformers' own continuous batching is not used). It is
  what the runner uses; models whose cache has sliding-window or other non-dynamic layers fall back to static batches.
- `generate` runs one static batch through `model.generate` with left padding: every row waits for the longest one.
  It stays as the baseline of the throughput benchmark.

- One seed per request: sampling (in both paths) draws from a `torch.Generator` per row, seeded with the request's
  seed, so a request's tokens depend on its own seed, not on its neighbours in the batch (up to the floating-point
  effects of batching). The two paths draw differently (multinomial here, Gumbel-max there), so one seed gives
  different samples on each path.
- Temperature, top-k, top-p and typical-p are applied (in that order) by transformers' own warpers; the repetition
  penalty by `generate`. Temperature 0 is greedy decoding.
- Constrained decoding with xgrammar: each request's `json_schema` is compiled once (cached) into a grammar whose
  token mask is applied at every step before sampling, so the output can only be a JSON document of that schema.
  A run that draws a turn count per dialogue sends one schema per distinct count (`minItems = maxItems = N`), so it
  compiles at most `max_turns - min_turns + 1` grammars (about a second each, once); the task shares one schema
  object per count, which is found by identity before the schema is serialised as the cache key.
- Both paths end a request that has fallen into a loop (`SamplingParams.max_loop_tokens`, `base.LoopDetector`) and
  say so in `GenerationResult.extra["loop"]`: the batcher per row, `generate` with a stopping criterion.
- Device: CUDA when available, else CPU; dtype bf16 on CUDA and float32 on CPU unless given.
- Threads and slots fit the machine unless given: torch's CPU threads are the CPUs this process can have
  (`erc_synth_datasets.threads`), and the slots are `DEFAULT_SLOTS`, the measured best on CPU, lowered to what
  `MEMORY_SHARE` of the memory this process may use holds in key/value cache at the run's `max_new_tokens`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.machine import available_memory_bytes
from erc_synth_datasets.progress import silence_progress_bars
from erc_synth_datasets.threads import ThreadChoice, apply_torch_threads

from ..default_model import DEFAULT_MODEL_HUB_ID, default_model_path, default_model_revision, is_default_model
from . import DEFAULT_SLOTS
from . import DTYPES as _DTYPES
from .attention import register_grouped_eager
from .base import (
    Backend,
    BackendError,
    GenerationRequest,
    GenerationResult,
    LoopDetector,
    RequestSource,
    SamplingParams,
)
from .continuous import (
    PROMPT_CACHE_ENTRIES,
    ContinuousBatcher,
    PreparedRequest,
    sampling_warpers,
    supports_continuous_batching,
)

__all__ = ["MEMORY_SHARE", "SlotChoice", "TransformersBackend", "attention_for", "automatic_slots"]

#: Tokens assumed for a prompt when checking what a batch needs before any prompt is known (the shipped templates
#: give 300 to 600).
PROMPT_TOKENS_ESTIMATE = 512

#: Share of the memory this process may use that the automatic slot count fills with key/value cache (the rest is
#: left for activations, logits and whatever else the machine runs).
MEMORY_SHARE = 0.8
_GIB = 1 << 30

#: Most schema objects remembered by identity (the grammars themselves stay cached by content).
_MAX_SCHEMAS_BY_ID = 256


def _xgrammar_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("xgrammar") is not None


def _cache_bytes_per_token(model: Any) -> int:
    """Bytes of key/value cache one token of one request takes (0 when the configuration does not say)."""
    config = model.config
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    if not layers or not heads:
        return 0
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    element = next(model.parameters()).element_size()
    return int(layers * 2 * kv_heads * head_dim * element)


def _free_memory_bytes(device: Any) -> int | None:
    """Memory free on `device` now: the GPU's free memory, or what this process may still take of the system's
    (available RAM, lowered to its cgroup limit; None if unknown)."""
    if device is not None and device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    return available_memory_bytes()


@dataclass(frozen=True)
class SlotChoice:
    """The continuous-batching slots of a stream, where they came from (`automatic` or `--batch-size`) and why."""

    slots: int
    source: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def attention_for(device_type: str, dtype: Any) -> str | None:
    """The attention implementation to load a model with; None: the library's default (SDPA).

    bf16 on CPU gets eager attention without the cache copy (`attention.GROUPED_EAGER`): for decoding (one query
    token per row against the cached keys), torch's CPU SDPA kernel in bf16 took about twice the time of the eager
    matrix products, and three and a half times its own float32 time; transformers' own eager path instead copies the
    whole cache at every step for grouped-query models, which made long runs twice as slow as float32
    (`benchmarks/profile_decoding_step.py --dtypes float32 bfloat16`, docs/generation.md).
    """
    import torch

    return register_grouped_eager() if device_type == "cpu" and dtype == torch.bfloat16 else None


def automatic_slots(free: int | None, per_slot: int, device: str, max_new_tokens: int) -> SlotChoice:
    """`DEFAULT_SLOTS`, lowered to how many slots of `per_slot` bytes of key/value cache fit in `MEMORY_SHARE` of
    `free` bytes (at least 1; `DEFAULT_SLOTS` when either is unknown, None or 0)."""
    measured = f"{DEFAULT_SLOTS}, the measured best on CPU"
    if not per_slot or free is None:
        return SlotChoice(DEFAULT_SLOTS, "automatic", f"{measured} (memory free on {device} not known)")
    slots = max(1, min(DEFAULT_SLOTS, int(free * MEMORY_SHARE // per_slot)))
    bound = "within" if slots == DEFAULT_SLOTS else "lowered to what fits in"
    reason = (
        f"{measured}, {bound} {MEMORY_SHARE:.0%} of the {free / _GIB:.1f} GiB free on {device} "
        f"({per_slot / _GIB:.2f} GiB of key/value cache per slot at --max-new-tokens {max_new_tokens})"
    )
    return SlotChoice(slots, "automatic", reason)


class TransformersBackend(Backend):
    """Runs a causal LM with `transformers` in this process.

    Args:
        model: `smollm2-135m-instruct` (the packaged default), a Hub id, or a local model folder.
        device: `cpu`, `cuda`, `cuda:1`, ...; default CUDA when available, else CPU.
        dtype: `bfloat16`, `float16` or `float32`; default bf16 on CUDA, float32 on CPU.
        constrained: Enforce `GenerationRequest.json_schema` during decoding (needs xgrammar).
        num_threads: CPU threads for torch (`torch.set_num_threads`); None chooses them from the CPUs this process
            can have (`erc_synth_datasets.threads`).
        continuous_batching: `stream` refills a finished request's slot at once; False runs static batches through
            `generate` (the older path, kept as a baseline).
        progress: Show loading bars.
        prompt_cache: Distinct prompts whose prefilled keys and values `stream` keeps, so that a repeated prompt
            is prefilled once (0: every request's prompt is prefilled, the path before the cache; a baseline).
    """

    name = "transformers"

    def __init__(
        self,
        model: str = "smollm2-135m-instruct",
        device: str | None = None,
        dtype: str | None = None,
        constrained: bool = True,
        num_threads: int | None = None,
        continuous_batching: bool = True,
        progress: bool = True,
        prompt_cache: int = PROMPT_CACHE_ENTRIES,
    ) -> None:
        self.model_id = model
        self.requested_device = device
        self.requested_dtype = dtype
        if dtype is not None and dtype.lower() not in _DTYPES:
            raise ConfigError(f"Unknown dtype {dtype!r}; expected one of {sorted(set(_DTYPES.values()))}.")
        self.constrained = constrained
        self.num_threads = num_threads
        self.continuous_batching = continuous_batching
        self.progress = progress  # False: no loading bars either (--progress false)
        self.prompt_cache = prompt_cache
        self.model: Any = None
        self.tokenizer: Any = None
        self.device: Any = None
        self._compiler: Any = None
        self._grammars: dict[str, Any] = {}
        # id(schema) -> (schema, grammar): the schema is kept so that its id is not reused while cached.
        self._grammars_by_id: dict[int, tuple[dict[str, Any], Any]] = {}
        self._revision: str | None = None
        self._max_in_flight: int | None = None  # None: the slots are chosen from memory (`slot_choice`)
        self._slot_choice: SlotChoice | None = None
        self._slot_choice_tokens = 0  # the max_new_tokens `_slot_choice` was made for
        self.thread_choice: ThreadChoice | None = None

    @property
    def max_in_flight(self) -> int:
        """The slots: the value set (`--batch-size`), else the automatic choice (`DEFAULT_SLOTS` until a stream has
        bounded it by the memory this process may use)."""
        if self._max_in_flight is not None:
            return self._max_in_flight
        return self._slot_choice.slots if self._slot_choice is not None else DEFAULT_SLOTS

    @max_in_flight.setter
    def max_in_flight(self, value: int | None) -> None:
        """An int sets the slots; None lets `slot_choice` choose them from memory."""
        self._slot_choice = None
        if value is None:
            self._max_in_flight = None
        else:
            Backend.max_in_flight.fset(self, value)

    @property
    def model_name(self) -> str:
        return DEFAULT_MODEL_HUB_ID if is_default_model(self.model_id) else self.model_id

    @property
    def model_revision(self) -> str | None:
        return self._revision

    @property
    def supports_json_schema(self) -> bool:
        return self.constrained and _xgrammar_available()

    def load(self) -> None:
        if not self.progress:
            silence_progress_bars()  # before torch imports tqdm, and before the default model's first conversion
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.model is not None:
            return
        self.thread_choice = apply_torch_threads(self.num_threads)
        device = self.requested_device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = torch.device(device)
        if self.requested_dtype is not None:
            dtype = getattr(torch, _DTYPES[self.requested_dtype.lower()])
        else:
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        if is_default_model(self.model_id):
            path = str(default_model_path())
            self._revision = default_model_revision()
        else:
            path = self.model_id
        attention = attention_for(self.device.type, dtype)
        options = {"attn_implementation": attention} if attention else {}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **options).to(self.device)
        except (OSError, ValueError) as err:
            raise BackendError(
                f"Could not load model {self.model_id!r} ({err}). Pass --model with a local model folder, a Hub id "
                "available offline, or smollm2-135m-instruct (the packaged default)."
            ) from err
        self.model.eval()
        if self._revision is None:
            self._revision = getattr(self.model.config, "_commit_hash", None)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.tokenizer.chat_template is None:
            raise BackendError(f"Model {self.model_id!r} has no chat template; use an instruction-tuned chat model.")

    def check_capacity(self, slots: int, max_new_tokens: int, prompt_tokens: int = PROMPT_TOKENS_ESTIMATE) -> None:
        """Refuses, before any request, a batch the model or this machine cannot hold.

        `max_new_tokens` must fit the model's context (`max_position_embeddings`), and the key/value cache of `slots`
        requests at their longest (prompt plus `max_new_tokens`) must fit the memory free on the device.

        Raises:
            ConfigError: naming --batch-size / --max-new-tokens, what they need and what the machine has.
        """
        config = self.model.config
        context = getattr(config, "max_position_embeddings", None)
        if context and max_new_tokens + prompt_tokens > context:
            raise ConfigError(
                f"--max-new-tokens {max_new_tokens} does not fit the context of {self.model_name} ({context} tokens, "
                f"about {prompt_tokens} of them taken by the prompt); use at most {max(1, context - prompt_tokens)}."
            )
        per_token = _cache_bytes_per_token(self.model)
        needed = slots * (max_new_tokens + prompt_tokens) * per_token
        free = _free_memory_bytes(self.device)
        if per_token and free is not None and needed > free:
            fits = max(0, free // ((max_new_tokens + prompt_tokens) * per_token))
            gib = 1 << 30
            raise ConfigError(
                f"--batch-size {slots} with --max-new-tokens {max_new_tokens} needs about {needed / gib:.1f} GiB of "
                f"key/value cache for {self.model_name}, more than the {free / gib:.1f} GiB free on "
                f"{self.device.type}; at most --batch-size {fits} fits at this --max-new-tokens."
            )

    def slot_choice(self, max_new_tokens: int, prompt_tokens: int = PROMPT_TOKENS_ESTIMATE) -> SlotChoice:
        """The slots of a stream of requests of up to `max_new_tokens`: `--batch-size` when set (checked with
        `check_capacity`), else `DEFAULT_SLOTS` bounded by `MEMORY_SHARE` of the memory free on the device; the
        automatic choice is logged once per `max_new_tokens`.

        Raises:
            ConfigError: a set `--batch-size`, or a single request, does not fit (see `check_capacity`).
        """
        if self._max_in_flight is not None:
            self.check_capacity(self._max_in_flight, max_new_tokens, prompt_tokens)
            return SlotChoice(self._max_in_flight, "--batch-size", f"--batch-size {self._max_in_flight}")
        self.check_capacity(1, max_new_tokens, prompt_tokens)
        if self._slot_choice is not None and self._slot_choice_tokens == max_new_tokens:
            return self._slot_choice
        per_slot = (max_new_tokens + prompt_tokens) * _cache_bytes_per_token(self.model)
        choice = automatic_slots(_free_memory_bytes(self.device), per_slot, self.device.type, max_new_tokens)
        self._slot_choice, self._slot_choice_tokens = choice, max_new_tokens
        print(f"slots: {choice.slots} ({choice.reason})", file=sys.stderr)
        return self._slot_choice

    def machine_choices(self, sampling: SamplingParams) -> dict[str, Any]:
        """The CPU threads and the slots this backend runs with, each with its reason (for the run manifest)."""
        choices = {"slots": self.slot_choice(sampling.max_new_tokens).to_dict()}
        if self.thread_choice is not None:
            choices["threads"] = self.thread_choice.to_dict()
        return choices

    def close(self) -> None:
        self.model = None
        self._grammars.clear()
        self._grammars_by_id.clear()
        self._compiler = None

    # -- constrained decoding -------------------------------------------------------------------------------

    def _grammar(self, schema: dict[str, Any]) -> Any:
        """The compiled grammar of `schema`, compiled once per distinct schema."""
        import xgrammar as xgr

        known = self._grammars_by_id.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size)
                self._compiler = xgr.GrammarCompiler(info)
            # Compact JSON: no free whitespace, so every token the grammar allows moves the document forward.
            self._grammars[key] = self._compiler.compile_json_schema(schema, any_whitespace=False)
        if len(self._grammars_by_id) >= _MAX_SCHEMAS_BY_ID:
            self._grammars_by_id.clear()  # callers that build a new schema object per request gain nothing here
        self._grammars_by_id[id(schema)] = (schema, self._grammars[key])
        return self._grammars[key]

    # -- generation -----------------------------------------------------------------------------------------

    def stream(
        self, source: RequestSource, sampling: SamplingParams
    ) -> Iterator[tuple[GenerationRequest, GenerationResult]]:
        """Continuous batching: yields `(request, result)` as each request finishes and refills its slot at once.

        A request's output depends only on its own prompt, seed and the sampling settings, not on which requests
        share the batch (up to floating-point effects of batching).
        """
        if self.model is None:
            raise BackendError("TransformersBackend.stream called before load().")
        self.slot_choice(sampling.max_new_tokens)
        if not self.continuous_batching or not supports_continuous_batching(self.model):
            yield from super().stream(source, sampling)
            return

        def prepared() -> PreparedRequest | None:
            request = source()
            return None if request is None else self.prepare(request)

        yield from self.make_batcher(sampling).run(prepared, self._decode)

    def prepare(self, request: GenerationRequest) -> PreparedRequest:
        """The request as the continuous batcher takes it: its prompt's token ids and its compiled grammar."""
        return PreparedRequest(request, self._prompt_ids(request), self._grammar_for(request))

    def make_batcher(self, sampling: SamplingParams, batcher: type[ContinuousBatcher] = ContinuousBatcher) -> Any:
        """A continuous batcher (`batcher`, or a subclass of it) over this backend's model and slots."""
        return batcher(
            self.model,
            eos_token_id=self.tokenizer.eos_token_id,
            vocab_size=self.model.config.vocab_size,
            slots=self.max_in_flight,
            sampling=sampling,
            prompt_cache=self.prompt_cache,
        )

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The request's chat prompt as token ids, exactly as `generate` tokenizes it."""
        text = self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _grammar_for(self, request: GenerationRequest) -> Any:
        """The compiled grammar of the request's JSON schema, or None when decoding is unconstrained."""
        if request.json_schema is None or not self.supports_json_schema:
            return None
        return self._grammar(request.json_schema)

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        if self.model is None:
            raise BackendError("TransformersBackend.generate called before load().")
        if not requests:
            return []
        self.check_capacity(len(requests), sampling.max_new_tokens)
        texts = [
            self.tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
            for r in requests
        ]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        processors = LogitsProcessorList()
        grammar = None
        if self.supports_json_schema and any(r.json_schema is not None for r in requests):
            grammar = _GrammarMask(
                [self._grammar(r.json_schema) if r.json_schema is not None else None for r in requests],
                self.model.config.vocab_size,
            )
            processors.append(grammar)
        temperature = 1.0 if sampling.temperature is None else sampling.temperature
        if temperature > 0:
            processors.extend(sampling_warpers(sampling, temperature))
            processors.append(_SeededSampler([r.seed for r in requests]))
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=sampling.max_new_tokens,
            repetition_penalty=sampling.repetition_penalty,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        prompt_length = batch["input_ids"].shape[1]
        loops = _LoopStop(len(requests), sampling.max_loop_tokens, prompt_length)
        try:
            with torch.inference_mode():
                output = self.model.generate(
                    **batch, generation_config=config, logits_processor=processors, stopping_criteria=[loops]
                )
        except (RuntimeError, ValueError) as err:
            message = f"{type(err).__name__}: {err}"
            return [GenerationResult(text="", error=message) for _ in requests]
        results = []
        for row in range(len(requests)):
            new_tokens = output[row, prompt_length:].tolist()
            # A row stopped for a loop ends there, unless its end-of-sequence token came first (a loop found in the
            # padding after it does not count).
            stopped = loops.stopped_at[row]
            count = stopped or len(new_tokens)
            eos = self.tokenizer.eos_token_id
            ended = next((i + 1 for i, token in enumerate(new_tokens[:count]) if token == eos), 0)
            extra: dict[str, Any] = {"grammar_failed": True} if grammar is not None and grammar.failed[row] else {}
            if ended:
                count = ended
            elif stopped:
                extra["loop"] = loops.detectors[row].describe(count)
            text = self.tokenizer.decode(new_tokens[:count], skip_special_tokens=True)
            results.append(
                GenerationResult(
                    text=text,
                    prompt_tokens=int(batch["attention_mask"][row].sum()),
                    completion_tokens=count,
                    extra=extra,
                )
            )
        return results


class _LoopStop:
    """A `generate` stopping criterion that ends each row on its own once it has fallen into a loop (`LoopDetector`),
    remembering how many new tokens it had then."""

    def __init__(self, rows: int, length: int, prompt_length: int) -> None:
        self.detectors = [LoopDetector(length) for _ in range(rows)]
        self.stopped_at = [0] * rows
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        generated = input_ids.shape[1] - self.prompt_length
        for row, token in enumerate(input_ids[:, -1].tolist()):
            if not self.stopped_at[row] and self.detectors[row].push(token):
                self.stopped_at[row] = generated
        return torch.tensor([bool(at) for at in self.stopped_at], device=input_ids.device)


class _SeededSampler:
    """Samples one token per row from that row's own generator and leaves only it selectable (greedy picks it)."""

    def __init__(self, seeds: list[int]) -> None:
        import torch

        self.generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float(), dim=-1).cpu()
        chosen = []
        for row, generator in enumerate(self.generators):
            row_probs = probs[row]
            total = float(row_probs.sum())
            if not math.isfinite(total) or total <= 0:
                chosen.append(int(torch.argmax(scores[row]).item()))
                continue
            chosen.append(int(torch.multinomial(row_probs, 1, generator=generator).item()))
        out = torch.full_like(scores, -math.inf)
        rows = torch.arange(scores.shape[0], device=scores.device)
        out[rows, torch.tensor(chosen, device=scores.device)] = 0.0
        return out


class _GrammarMask:
    """Applies each row's xgrammar token mask; rows without a grammar are left free."""

    def __init__(self, grammars: list[Any], vocab_size: int) -> None:
        import xgrammar as xgr

        self.matchers = [xgr.GrammarMatcher(g) if g is not None else None for g in grammars]
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab_size)
        self.failed = [False] * len(grammars)
        self.started = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import xgrammar as xgr

        if self.started:
            for row, matcher in enumerate(self.matchers):
                if matcher is None or self.failed[row] or matcher.is_terminated():
                    continue
                if not matcher.accept_token(int(input_ids[row, -1])):
                    self.failed[row] = True
        self.started = True
        rows = []
        for row, matcher in enumerate(self.matchers):
            if matcher is not None and not self.failed[row] and not matcher.is_terminated():
                matcher.fill_next_token_bitmask(self.bitmask, row)
                rows.append(row)
        if rows:
            import torch

            device, dtype = scores.device, scores.dtype
            in_place = device.type == "cpu" and dtype == torch.float32
            work = scores if in_place else scores.float().cpu()
            xgr.apply_token_bitmask_inplace(work, self.bitmask, indices=rows)
            if not in_place:
                scores = work.to(device=device, dtype=dtype)
        return scores
