"""Continuous batching in the `transformers` backend, on the packaged SmolLM2.

A request's output must not depend on which requests share its batch (greedy and seeded sampling), a finished
request's slot must take the next request while the others are still decoding, and the grammar mask must still hold.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from helpers import TINY_SCHEMA

from generation.backends import continuous
from generation.backends.base import BackendError, GenerationRequest, GenerationResult, SamplingParams
from generation.backends.continuous import PROMPT_CACHE_ENTRIES, ContinuousBatcher, PreparedRequest
from generation.backends.transformers_backend import TransformersBackend

pytestmark = pytest.mark.slow

PROMPTS = [
    "Say hello to a friend.",
    "Name three colours and say which one you like best.",
    "What is two plus two? Explain your reasoning step by step, at length, before you answer.",
    "Write a short poem about rain.",
]
GREEDY = SamplingParams(temperature=0, max_new_tokens=12)
SAMPLED = SamplingParams(
    temperature=0.9, top_p=0.95, top_k=50, typical_p=0.95, repetition_penalty=1.1, max_new_tokens=12
)


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    loaded = TransformersBackend()
    loaded.load()
    return loaded


def request(index: int, seed: int | None = None, schema: dict | None = None) -> GenerationRequest:
    return GenerationRequest(
        messages=[{"role": "user", "content": PROMPTS[index % len(PROMPTS)]}],
        seed=index if seed is None else seed,
        json_schema=schema,
        key=f"r{index}",
    )


def stream_all(
    backend: TransformersBackend, requests: list[GenerationRequest], sampling: SamplingParams, slots: int
) -> tuple[dict[str, GenerationResult], list[tuple[str, str]]]:
    """Streams `requests` through `slots` slots; returns the results by key and the order of events
    (`("take", key)` when the backend took a request, `("done", key)` when it yielded one)."""
    backend.max_in_flight = slots
    queue = list(requests)
    events: list[tuple[str, str]] = []

    def source() -> GenerationRequest | None:
        if not queue:
            return None
        taken = queue.pop(0)
        events.append(("take", taken.key))
        return taken

    results: dict[str, GenerationResult] = {}
    for done, result in backend.stream(source, sampling):
        assert result.error is None, result.error
        assert done.key not in results
        results[done.key] = result
        events.append(("done", done.key))
    return results, events


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "seeded-sampling"])
def test_output_does_not_depend_on_batch_companions(backend: TransformersBackend, sampling: SamplingParams) -> None:
    requests = [request(i) for i in range(len(PROMPTS))]
    together, _ = stream_all(backend, requests, sampling, slots=4)
    reversed_in_two_slots, _ = stream_all(backend, requests[::-1], sampling, slots=2)
    for one in requests:
        alone, _ = stream_all(backend, [one], sampling, slots=1)
        assert alone[one.key].text == together[one.key].text == reversed_in_two_slots[one.key].text
        assert together[one.key].completion_tokens == alone[one.key].completion_tokens > 0
    assert len({result.text for result in together.values()}) == len(requests)


def test_greedy_matches_the_static_batch(backend: TransformersBackend) -> None:
    requests = [request(i) for i in range(len(PROMPTS))]
    static = backend.generate(requests, GREEDY)
    streamed, _ = stream_all(backend, requests, GREEDY, slots=4)
    assert [streamed[r.key].text for r in requests] == [s.text for s in static]
    assert [streamed[r.key].prompt_tokens for r in requests] == [s.prompt_tokens for s in static]


def test_seed_decides_the_sample(backend: TransformersBackend) -> None:
    same = [request(0, seed=11), request(1, seed=11)]
    same[1] = GenerationRequest(messages=same[0].messages, seed=11, key="copy")
    other = GenerationRequest(messages=same[0].messages, seed=12, key="other")
    results, _ = stream_all(backend, [*same, other], SAMPLED, slots=3)
    assert results["r0"].text == results["copy"].text
    assert results["r0"].text != results["other"].text


def test_a_finished_slot_takes_the_next_request_while_others_decode(backend: TransformersBackend) -> None:
    # Two long unconstrained requests and short schema-constrained ones, two slots: each short request ends after a
    # few tokens, and the next one must enter while the long request beside it is still decoding.
    long_sampling = SamplingParams(temperature=0, max_new_tokens=40)
    requests = [request(2), request(10, schema=TINY_SCHEMA), request(11, schema=TINY_SCHEMA), request(3)]
    requests += [request(12, schema=TINY_SCHEMA), request(13, schema=TINY_SCHEMA)]
    results, events = stream_all(backend, requests, long_sampling, slots=2)
    assert set(results) == {r.key for r in requests}
    in_flight, most = 0, 0
    for kind, _ in events:
        in_flight += 1 if kind == "take" else -1
        most = max(most, in_flight)
    assert most == 2
    first_long_done = events.index(("done", "r2"))
    taken_before = [key for kind, key in events[:first_long_done] if kind == "take"]
    assert {"r10", "r11", "r3"} <= set(taken_before), events
    assert results["r2"].completion_tokens == 40
    assert all(results[k].completion_tokens < 40 for k in ("r10", "r11", "r12", "r13"))


def test_grammar_is_enforced_in_every_slot(backend: TransformersBackend) -> None:
    requests = [request(i, schema=TINY_SCHEMA) for i in range(5)] + [request(5)]
    results, _ = stream_all(backend, requests, SamplingParams(temperature=1.0, max_new_tokens=24), slots=3)
    for one in requests[:5]:
        document = json.loads(results[one.key].text)
        assert document in ({"answer": 3}, {"answer": 7})
        assert "grammar_failed" not in results[one.key].extra
    with pytest.raises(json.JSONDecodeError):
        json.loads(results["r5"].text)


def test_stream_before_load_is_a_clear_error() -> None:
    with pytest.raises(BackendError, match="before load"):
        next(TransformersBackend().stream(lambda: None, GREEDY))


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "seeded-sampling"])
def test_buffers_that_must_move_and_grow_give_the_same_outputs(
    backend: TransformersBackend, sampling: SamplingParams
) -> None:
    # One column of headroom: the first step already fills the buffers, so the run moves the columns in use back to
    # the start, grows the buffers and shifts rows right for longer prompts many times over.
    requests = [request(i) for i in range(6)]
    expected, _ = stream_all(backend, requests, sampling, slots=3)
    queue = list(requests)

    def source() -> PreparedRequest | None:
        if not queue:
            return None
        taken = queue.pop(0)
        return PreparedRequest(taken, backend._prompt_ids(taken), backend._grammar_for(taken))

    batcher = ContinuousBatcher(
        backend.model, backend.tokenizer.eos_token_id, backend.model.config.vocab_size, 3, sampling, initial_headroom=1
    )
    moved = dict((done.key, result) for done, result in batcher.run(source, backend._decode))
    assert {key: result.text for key, result in moved.items()} == {key: r.text for key, r in expected.items()}
    assert batcher.capacity > max(len(backend._prompt_ids(r)) for r in requests[:3]) + 1


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "seeded-sampling"])
def test_first_buffers_hold_the_first_rows_and_grow_to_every_slot_when_more_come(
    backend: TransformersBackend, sampling: SamplingParams
) -> None:
    # Two requests first (a short constrained one and a long one), three more only once the first has finished: the
    # first buffers hold 2 rows, then grow to the 4 slots with the long request still decoding in them.
    sampling = dataclasses.replace(sampling, max_new_tokens=40)
    first = [request(10, schema=TINY_SCHEMA), request(2)]
    later = [request(3), request(11, schema=TINY_SCHEMA), request(0)]
    expected, _ = stream_all(backend, first + later, sampling, slots=4)
    queue, finished = list(first), []

    def source() -> PreparedRequest | None:
        if finished and later:
            queue.extend(later)
            later.clear()
        if not queue:
            return None
        taken = queue.pop(0)
        return PreparedRequest(taken, backend._prompt_ids(taken), backend._grammar_for(taken))

    batcher = ContinuousBatcher(
        backend.model, backend.tokenizer.eos_token_id, backend.model.config.vocab_size, 4, sampling
    )
    rows_allocated = []
    for done, result in batcher.run(source, backend._decode):
        assert result.error is None, result.error
        finished.append((done.key, result.text))
        rows_allocated.append(batcher.allocated_rows)
    assert finished[0][0] == "r10" and rows_allocated[0] == 2
    # r2 (the long one) finished neither with r10 nor before a later request: it was decoding when the buffers grew
    assert rows_allocated[-1] == 4 and "r2" not in [key for key, _ in finished[:2]]
    assert dict(finished) == {key: result.text for key, result in expected.items()}


def test_warping_the_top_k_candidates_gives_the_full_vocabulary_distribution(backend: TransformersBackend) -> None:
    import torch

    from generation.backends.continuous import sampling_warpers

    vocab = backend.model.config.vocab_size
    batcher = ContinuousBatcher(backend.model, backend.tokenizer.eos_token_id, vocab, 4, SAMPLED)
    scores = torch.randn(4, vocab, generator=torch.Generator().manual_seed(0)) * 3
    scores[1, 10:] = -math.inf  # a grammar that allows fewer tokens than k
    candidate_scores, candidates = batcher._warp(scores.clone())
    assert candidates.shape == (4, SAMPLED.top_k)
    expected = scores.clone()
    for warper in sampling_warpers(SAMPLED, SAMPLED.temperature):
        expected = warper(None, expected)
    full = torch.zeros(4, vocab).scatter(1, candidates, torch.softmax(candidate_scores, dim=-1))
    torch.testing.assert_close(full, torch.softmax(expected, dim=-1))
    assert int((full[1] > 0).sum()) <= 10


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "seeded-sampling"])
def test_a_repeated_prompt_is_prefilled_once_with_the_same_outputs(
    backend: TransformersBackend, sampling: SamplingParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a natural-mode run: one prompt for every request, the seed alone makes each dialogue; and a second prompt.
    requests = [GenerationRequest(messages=request(0).messages, seed=seed, key=f"s{seed}") for seed in range(7)]
    requests += [GenerationRequest(messages=request(1).messages, seed=seed, key=f"t{seed}") for seed in (20, 21)]
    heads = {r.key: backend._prompt_ids(r)[:-1] for r in requests}

    def run(prompt_cache: int) -> tuple[dict[str, str], ContinuousBatcher]:
        queue = [PreparedRequest(r, backend._prompt_ids(r), None) for r in requests]
        batcher = ContinuousBatcher(
            backend.model,
            backend.tokenizer.eos_token_id,
            backend.model.config.vocab_size,
            3,
            sampling,
            prompt_cache=prompt_cache,
        )
        source = lambda: queue.pop(0) if queue else None  # noqa: E731
        return {done.key: result.text for done, result in batcher.run(source, backend._decode)}, batcher

    cached, with_cache = run(PROMPT_CACHE_ENTRIES)
    uncached, without = run(0)
    assert cached == uncached and len(cached) == len(requests)
    if sampling is SAMPLED:
        assert len({cached[f"s{seed}"] for seed in range(7)}) > 1  # each row decoded from its own seed
    # Each distinct prompt went through the model once with the cache, every request's prompt without it.
    assert with_cache.prefilled_tokens == len(heads["s0"]) + len(heads["t20"])
    assert without.prefilled_tokens == sum(len(head) for head in heads.values())
    assert len(with_cache.prompts) == 2 and not without.prompts
    # The cache keeps the most recent prompts only, by count and by tokens.
    _, one_entry = run(1)
    assert list(one_entry.prompts) == [tuple(heads["t20"])]
    monkeypatch.setattr(continuous, "PROMPT_CACHE_TOKENS", len(heads["t20"]) + len(heads["s0"]) - 1)
    _, few_tokens = run(PROMPT_CACHE_ENTRIES)
    assert list(few_tokens.prompts) == [tuple(heads["t20"])]
