"""Outputs that fall into a loop are stopped as the loop starts, not at `max_new_tokens`.

`LoopDetector` on token streams written out here, then both decoding paths of the `transformers` backend on the
packaged SmolLM2 with a prompt its greedy decoding answers with the same words over and over: the stopped output is
the beginning of the unstopped one, its companions in the batch are unchanged, and the runner's check rejects it as
`repetition_loop`.
"""

from __future__ import annotations

import random

import pytest
from test_runs_resume import ARGS, run

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.runs import read_manifest
from generation.backends.base import LOOP_PERIODS, GenerationRequest, GenerationResult, LoopDetector, SamplingParams
from generation.backends.transformers_backend import TransformersBackend
from generation.config import GenerationConfig
from generation.prompts import load_prompt_template
from generation.task import GenerationTask
from generation.validation import REASONS


def feed(detector: LoopDetector, tokens: list[int]) -> int | None:
    """The index of the token at which `detector` reports a loop, or None."""
    for index, token in enumerate(tokens):
        if detector.push(token):
            return index
    return None


@pytest.mark.parametrize("period", [1, 3, LOOP_PERIODS])
def test_a_repeated_pattern_is_found_after_length_matching_tokens(period: int) -> None:
    opening = list(range(100, 140))  # 40 distinct tokens: no loop
    pattern = list(range(period))
    looping = opening + pattern * (200 // period + 2)
    detector = LoopDetector(64)
    # The loop's first `period` tokens match nothing; each token after them repeats the one `period` places before.
    assert feed(detector, looping) == len(opening) + period + 63
    assert detector.period == period
    assert f"the last 64 repeated a pattern of {period} token" in detector.describe(1000)


def test_a_pattern_longer_than_the_longest_period_is_not_a_loop() -> None:
    sentence = list(range(LOOP_PERIODS + 1))  # 17 tokens said again and again: a periodic text, but not short
    assert feed(LoopDetector(64), sentence * 20) is None


def test_a_run_shorter_than_the_length_is_not_a_loop_and_a_break_starts_the_count_again() -> None:
    tokens = [7] * 64 + [8] + [7] * 64  # 63 matches, a break, 63 matches
    assert feed(LoopDetector(64), tokens) is None
    assert feed(LoopDetector(64), tokens + [7]) == len(tokens)


def test_text_without_repeats_and_a_length_of_zero_never_stop() -> None:
    rng = random.Random(0)
    text = [rng.randrange(49152) for _ in range(5000)]
    assert feed(LoopDetector(64), text) is None
    assert feed(LoopDetector(0), [5] * 5000) is None


def test_the_rejection_reason_is_documented() -> None:
    assert "repetition_loop" in REASONS


# -- the transformers backend on the packaged SmolLM2 ----------------------------------------------------------------

#: A prompt SmolLM2-135M-Instruct answers, greedily, with the same few words over and over.
LOOPING = "Continue this sequence without stopping: na na na na na na na na na na na na"
NORMAL = "Name three colours."
MAX_NEW_TOKENS = 160


def greedy(max_loop_tokens: int) -> SamplingParams:
    return SamplingParams(temperature=0, max_new_tokens=MAX_NEW_TOKENS, max_loop_tokens=max_loop_tokens)


def chat(prompt: str, key: str) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": prompt}], seed=1, key=key)


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    loaded = TransformersBackend()
    loaded.load()
    return loaded


def streamed(backend: TransformersBackend, sampling: SamplingParams) -> dict[str, GenerationResult]:
    queue = [chat(LOOPING, "loop"), chat(NORMAL, "normal")]
    backend.max_in_flight = 2
    return {
        request.key: result for request, result in backend.stream(lambda: queue.pop(0) if queue else None, sampling)
    }


@pytest.mark.slow
def test_the_batcher_stops_a_looping_row_and_leaves_its_companion_alone(backend: TransformersBackend) -> None:
    unstopped = streamed(backend, greedy(0))
    stopped = streamed(backend, greedy(24))
    assert unstopped["loop"].completion_tokens == MAX_NEW_TOKENS, "the prompt no longer makes the model loop"
    assert "loop" not in unstopped["loop"].extra
    loop = stopped["loop"]
    assert loop.completion_tokens < MAX_NEW_TOKENS
    assert "the last 24 repeated a pattern of 1 token" in loop.extra["loop"]
    assert unstopped["loop"].text.startswith(loop.text)
    assert stopped["normal"] == unstopped["normal"]


@pytest.mark.slow
def test_the_static_path_stops_the_same_row_at_the_same_token(backend: TransformersBackend) -> None:
    requests = [chat(LOOPING, "loop"), chat(NORMAL, "normal")]
    static = backend.generate(requests, greedy(24))
    continuous = streamed(backend, greedy(24))
    assert static[0].extra.get("loop") == continuous["loop"].extra["loop"]
    assert static[0].completion_tokens == continuous["loop"].completion_tokens
    assert static[0].text == continuous["loop"].text
    assert "loop" not in static[1].extra


@pytest.mark.slow
def test_the_runner_rejects_a_stopped_output_as_a_repetition_loop(backend: TransformersBackend) -> None:
    [looped] = backend.generate([chat(LOOPING, "loop")], greedy(24))
    meld = get_benchmark("meld")
    config = GenerationConfig(benchmark="meld", turn_counts="range")
    task = GenerationTask(config, meld, load_prompt_template(None, meld), None, "json")
    verdict = task.check(0, looped)
    assert verdict.reason == "repetition_loop"
    assert verdict.message == looped.extra["loop"]


# -- runs made before the option ------------------------------------------------------------------------------------


def test_the_option_at_its_earlier_value_leaves_the_settings_as_before() -> None:
    before = GenerationConfig(benchmark="meld", max_loop_tokens=0).data_settings()
    assert "max_loop_tokens" not in before
    assert GenerationConfig(benchmark="meld").data_settings()["max_loop_tokens"] == 64


@pytest.mark.slow
def test_a_run_made_before_the_option_resumes_with_it_at_zero_and_is_refused_by_name_without(tmp_path) -> None:
    folder = tmp_path / "run"
    first = run(*ARGS, "--num-dialogues", "1", "--max-loop-tokens", "0", "--output-dir", str(folder))
    assert first.returncode in (0, 1), first.stderr[-2000:]
    assert "max_loop_tokens" not in read_manifest(folder).settings  # as a run made before the option
    refused = run(*ARGS, "--num-dialogues", "2", "--output-dir", str(folder))
    assert refused.returncode != 0
    assert "max_loop_tokens: not set (a run made before the option: --max-loop-tokens 0 resumes it)" in refused.stderr
    resumed = run(*ARGS, "--num-dialogues", "2", "--max-loop-tokens", "0", "--output-dir", str(folder))
    assert resumed.returncode in (0, 1), resumed.stderr[-2000:]
    assert read_manifest(folder).counts.requested == 2
