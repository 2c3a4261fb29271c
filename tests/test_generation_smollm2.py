"""End to end with the real packaged SmolLM2-135M-Instruct on CPU: natural, balanced and persona runs produce valid,
fully provenanced records; the same settings reproduce the same dialogues; failures of the backend are recorded.

One loaded model is shared by the whole module; the runs are tiny (a few dialogues of a few short utterances).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.runs import REJECTION_COLUMNS, iter_accepted, iter_rejected, read_manifest
from erc_synth_datasets.schema import dialogue_features
from generation.backends import Backend, BackendError, GenerationRequest, GenerationResult, SamplingParams
from generation.backends.transformers_backend import TransformersBackend
from generation.config import GenerationConfig
from generation.filters import REASON_CODES
from generation.runner import run_generation
from generation.validation import REASONS

pytestmark = pytest.mark.slow

# Small enough for a few minutes on 2 shared cores, large enough for complete JSON dialogues.
TINY = {
    "num_dialogues": 2,
    "batch_size": 2,
    "max_new_tokens": 112,
    "min_turns": 2,
    "max_turns": 3,
    "max_utterance_chars": 40,
    "max_attempts": 2,
    "num_threads": 1,
    "progress": False,
}


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    backend = TransformersBackend(num_threads=1)
    backend.load()
    yield backend
    backend.close()


def tiny_config(output: Path, **overrides) -> GenerationConfig:
    return GenerationConfig(**{"benchmark": "iemocap", "output": str(output), **TINY, **overrides})


def read_run(run_dir: Path) -> tuple[list[dict], list[dict]]:
    return [r.to_dict() for r in iter_accepted(run_dir)], [r.to_dict() for r in iter_rejected(run_dir)]


def check_records(run_dir: Path, config: GenerationConfig) -> list[dict]:
    benchmark = get_benchmark(config.benchmark)
    accepted, rejected = read_run(run_dir)
    manifest = read_manifest(run_dir).to_dict()
    columns = set(dialogue_features(benchmark)) | {"index", "attempt"}
    for record in accepted:
        assert set(record) == columns
        assert config.min_turns <= len(record["utterances"]) <= config.max_turns
        assert len(record["speakers"]) == len(record["utterances"]) == len(record["emotions"])
        assert set(record["emotions"]) <= set(benchmark.labels)
        assert set(record["speakers"]) <= set(benchmark.speakers)
        assert all(u.strip() for u in record["utterances"])
        assert record["generator_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
        assert record["prompt_version"] == "iemocap-v2" and record["prompt"].startswith("Write a conversation")
        assert record["sampling"] == config.sampling_params()
        assert record["mode"] == config.mode and isinstance(record["seed"], int)
        if config.mode == "balanced":
            assert record["target_emotion"] == benchmark.labels[record["index"] % benchmark.num_labels]
            assert record["target_emotion"] in record["emotions"]
            word = benchmark.label_words[benchmark.label_id(record["target_emotion"])]
            assert word in record["prompt"]
        else:
            assert record["target_emotion"] is None
    for record in rejected:
        assert set(record) == set(REJECTION_COLUMNS)
        assert (record["reason"] in REASONS or record["reason"] in REASON_CODES) and record["prompt"]
    # N means N accepted (or the budget ran out first); each index's attempts are tried in order, each index once.
    done = {r["index"] for r in accepted}
    assert len(done) == len(accepted)
    assert manifest["status"] in ("complete", "budget_spent")
    if manifest["status"] == "complete":
        assert len(accepted) == config.num_dialogues
    else:
        assert len(accepted) + len(rejected) == config.num_dialogues * config.max_attempts
    for index in {r["index"] for r in rejected} | done:
        attempts = sorted(r["attempt"] for r in rejected if r["index"] == index)
        assert attempts == list(range(len(attempts))) and len(attempts) <= config.max_attempts
    assert manifest["counts"]["accepted"] == len(accepted) and manifest["counts"]["rejected"] == len(rejected)
    assert manifest["counts"]["requested"] == config.num_dialogues
    assert manifest["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert manifest["model_revision"].startswith("Q4_1-gguf-sha256:")
    assert manifest["output_format"] == "json" and manifest["json_schema"]["type"] == "object"
    assert manifest["benchmark"] == benchmark.to_dict()
    assert manifest["tokens"]["completion"] > 0
    # The threads and slots the run used, with where they came from.
    assert manifest["runtime"]["threads"]["num_threads"] == 1
    assert manifest["runtime"]["threads"]["source"] == "--num-threads"
    assert manifest["runtime"]["slots"]["slots"] == config.batch_size
    assert manifest["runtime"]["slots"]["source"] == "--batch-size"
    return accepted


@pytest.fixture(scope="module")
def natural_run(backend, tmp_path_factory) -> tuple[Path, GenerationConfig]:
    out = tmp_path_factory.mktemp("natural") / "run"
    config = tiny_config(out, mode="natural")
    summary = run_generation(config, backend=backend)
    assert summary.status in ("complete", "budget_spent")
    return out, config


def test_natural_run_writes_valid_provenanced_records(natural_run):
    out, config = natural_run
    accepted = check_records(out, config)
    assert accepted, "SmolLM2 under constrained decoding should produce at least one valid dialogue"
    assert all(r["persona"] is None for r in accepted)


def test_balanced_run_contains_each_target(backend, tmp_path):
    config = tiny_config(tmp_path / "run", mode="balanced", seed=1)
    run_generation(config, backend=backend)
    check_records(tmp_path / "run", config)


def test_persona_run_records_the_persona(backend, tmp_path):
    config = tiny_config(tmp_path / "run", mode="natural", persona=True, seed=2, num_dialogues=1)
    run_generation(config, backend=backend)
    accepted, rejected = read_run(tmp_path / "run")
    check_records(tmp_path / "run", config)
    prompts = [r["prompt"] for r in accepted + rejected]
    for record in accepted:
        persona = json.loads(record["persona"])
        assert [p["speaker"] for p in persona["speakers"]] == ["Male", "Female"]
        assert persona["situation"] in record["prompt"]
    assert all("Male is a" in p and "The situation:" in p for p in prompts)


def test_drawn_turn_counts_and_label_words_are_enforced_by_the_grammar(backend, tmp_path):
    """`turn_counts: reference` + `emotion_format: word` with the real model: every output that is a complete JSON
    document has exactly the drawn number of turns, labelled with label words, and one grammar is compiled per
    distinct count."""
    from erc_synth_datasets.turn_histogram import turns_histogram as reference_turns_histogram
    from generation.parsing import parse_output
    from generation.plan import PromptPlan
    from generation.turns import TurnDistribution

    config = tiny_config(
        tmp_path / "run",
        benchmark="meld",
        prompt_file="meld-v3",
        turn_counts="reference",
        emotion_format="word",
        num_dialogues=3,
        max_attempts=1,
        filters=False,
        seed=4,
    )
    meld = get_benchmark("meld")
    distribution = TurnDistribution.from_histogram(reference_turns_histogram(meld), min_turns=2, max_turns=3)
    plan = PromptPlan(meld, "natural", 4, turn_distribution=distribution)
    compiled = set(backend._grammars)
    run_generation(config, backend=backend)
    accepted, rejected = read_run(tmp_path / "run")
    assert accepted, "SmolLM2 under the word schema should produce at least one valid dialogue"
    for record in accepted:
        count = plan.item(record["index"]).num_turns
        assert len(record["utterances"]) == count and f"with {count} utterances" in record["prompt"]
        assert set(record["emotions"]) <= set(meld.labels)
    for record in rejected:
        parsed = parse_output(record["raw_text"], meld, "json")
        if parsed.error is None:
            assert len(parsed.turns) == plan.item(record["index"]).num_turns
            assert '"emotion":"' in record["raw_text"]  # a word, never a number
    # One grammar per distinct count (a request still in flight when the run ended may have added one).
    new = [json.loads(key)["properties"]["turns"] for key in set(backend._grammars) - compiled]
    assert all(turns["minItems"] == turns["maxItems"] in (2, 3) for turns in new)
    assert {plan.item(index).num_turns for index in {r["index"] for r in accepted + rejected}} <= {
        turns["minItems"] for turns in new
    }
    assert read_manifest(tmp_path / "run").settings["turn_distribution"] == distribution.to_dict()


def test_same_settings_same_dialogues_and_rerun_is_a_no_op(natural_run, backend, tmp_path):
    out, config = natural_run
    again = tiny_config(tmp_path / "again", mode="natural")
    run_generation(again, backend=backend)
    assert read_run(tmp_path / "again") == read_run(out)
    before = (out / "accepted-00000-of-00001.jsonl").read_bytes()
    summary = run_generation(config, backend=backend)
    assert summary.status == read_manifest(out).status.value
    assert (out / "accepted-00000-of-00001.jsonl").read_bytes() == before


class _FaultInjection(Backend):
    """Wraps the real backend to inject failures that a local model cannot be made to produce on demand: a request
    error on the first call, then a total outage (BackendError) on the call number `outage_at`."""

    name = "transformers"

    def __init__(self, inner: TransformersBackend, outage_at: int | None) -> None:
        self.inner, self.outage_at, self.calls = inner, outage_at, 0

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def model_revision(self) -> str | None:
        return self.inner.model_revision

    @property
    def supports_json_schema(self) -> bool:
        return self.inner.supports_json_schema

    def load(self) -> None:
        self.inner.load()

    @property
    def max_in_flight(self) -> int:
        return self.inner.max_in_flight

    @max_in_flight.setter
    def max_in_flight(self, value: int) -> None:  # the run's --batch-size reaches the real backend
        self.inner.max_in_flight = value

    def machine_choices(self, sampling: SamplingParams) -> dict[str, Any]:
        return self.inner.machine_choices(sampling)

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        self.calls += 1
        if self.outage_at is not None and self.calls >= self.outage_at:
            raise BackendError("server unreachable (injected)")
        results = self.inner.generate(requests, sampling)
        if self.calls == 1:
            results[0] = GenerationResult(text="", error="timeout (injected)")
        return results


def test_request_errors_are_retried_and_an_outage_stops_cleanly_then_resumes(backend, tmp_path):
    out = tmp_path / "run"
    config = tiny_config(out, mode="natural", num_dialogues=2, batch_size=1, max_attempts=2)
    stopped = run_generation(config, backend=_FaultInjection(backend, outage_at=3))
    assert stopped.status == "stopped" and "re-run the same command" in stopped.message
    assert read_manifest(out).status.value == "stopped"
    accepted, rejected = read_run(out)
    first = [r for r in rejected if r["index"] == 0 and r["attempt"] == 0]
    assert first and first[0]["reason"] == "backend_error" and first[0]["message"] == "timeout (injected)"
    assert first[0]["raw_text"] == ""
    kept = {r["index"] for r in accepted}
    resumed = run_generation(config, backend=_FaultInjection(backend, outage_at=None))
    assert resumed.status in ("complete", "budget_spent")
    accepted_after, _ = read_run(out)
    assert kept <= {r["index"] for r in accepted_after}
    assert len({r["index"] for r in accepted_after}) == len(accepted_after)
    check_records(out, config)


def test_shards_merge_into_the_unsharded_run(backend, tmp_path):
    from generation.merge import merge_runs

    # Batch size 1: every request is generated alone, so sharded and unsharded runs compute exactly the same thing.
    options = {"mode": "balanced", "seed": 3, "batch_size": 1, "max_attempts": 1}
    whole = tiny_config(tmp_path / "whole", **options)
    run_generation(whole, backend=backend)
    shards = []
    for index in range(2):
        shard = tiny_config(tmp_path / f"shard-{index}", shard_index=index, num_shards=2, **options)
        run_generation(shard, backend=backend)
        assert [r["index"] for r in read_run(tmp_path / f"shard-{index}")[0]] in ([], [index])
        shards.append(tmp_path / f"shard-{index}")
    # One attempt per shard: a shard whose only attempt failed spent its budget, and the merge is `partial`.
    statuses = {read_manifest(shard).status.value for shard in shards}
    merged_manifest = merge_runs(shards, tmp_path / "merged", allow_incomplete=True)
    assert merged_manifest.status.value == ("complete" if statuses == {"complete"} else "partial")
    merged_accepted, merged_rejected = read_run(tmp_path / "merged")
    shard_accepted = sorted((r for shard in shards for r in read_run(shard)[0]), key=lambda r: r["index"])
    assert merged_accepted == shard_accepted
    # Each request is generated alone, so an attempt made by a shard and by the whole run gives the same record.
    whole_accepted = {(r["index"], r["attempt"]): r for r in read_run(tmp_path / "whole")[0]}
    for record in merged_accepted:
        same = whole_accepted.get((record["index"], record["attempt"]))
        assert same is None or same == record
    merged, unsharded = read_manifest(tmp_path / "merged"), read_manifest(tmp_path / "whole")
    assert merged.settings_hash == unsharded.settings_hash
    assert merged.counts.accepted == len(merged_accepted) and merged.counts.rejected == len(merged_rejected)


def test_bf16_on_cpu_decodes_with_grouped_eager_attention_and_writes_valid_dialogues(tmp_path):
    import torch

    from generation.backends.attention import GROUPED_EAGER
    from generation.backends.transformers_backend import attention_for

    assert attention_for("cpu", torch.bfloat16) == GROUPED_EAGER
    assert attention_for("cpu", torch.float32) is None and attention_for("cuda", torch.bfloat16) is None
    bf16 = TransformersBackend(num_threads=1, dtype="bfloat16", progress=False)
    bf16.load()
    try:
        assert bf16.model.dtype == torch.bfloat16 and bf16.model.config._attn_implementation == GROUPED_EAGER
        config = tiny_config(tmp_path / "bf16", dtype="bfloat16", seed=2)
        summary = run_generation(config, backend=bf16)
    finally:
        bf16.close()
    assert summary.attempts > 0
    check_records(tmp_path / "bf16", config)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_grouped_eager_attention_equals_transformers_eager_on_smollm2(dtype):
    """SmolLM2 has 9 query heads on 3 key/value heads: the grouped path multiplies each cached head once, and must
    give transformers' eager logits (a left-padded row and a full one, prefill and a cached decoding step)."""
    import inspect

    import torch
    from transformers import AutoModelForCausalLM

    import generation.backends.attention as attention
    from generation.default_model import default_model_path

    calls = []

    def counted(*args, **kwargs):
        calls.append(args[1].shape)
        return grouped(*args, **kwargs)

    grouped = attention.grouped_eager_attention
    torch_dtype = getattr(torch, dtype)
    models = {
        name: AutoModelForCausalLM.from_pretrained(
            str(default_model_path()), dtype=torch_dtype, attn_implementation=name
        )
        for name in ("eager", attention.register_grouped_eager())
    }
    if dtype == "bfloat16":  # the float32 logits both bf16 paths are measured against
        models["float32"] = AutoModelForCausalLM.from_pretrained(
            str(default_model_path()), dtype=torch.float32, attn_implementation="eager"
        )
    from transformers import AttentionInterface

    AttentionInterface.register(attention.GROUPED_EAGER, counted)
    try:
        ids = torch.randint(0, models["eager"].config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
        mask = torch.ones_like(ids)
        mask[0, :5] = 0
        logits = {}
        with torch.inference_mode():
            for name, model in models.items():
                first = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], use_cache=True)
                # transformers renamed the forward's `past_key_values` to `cache`; pass whichever the model takes.
                name_of_cache = (
                    "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
                )
                step = model(input_ids=ids[:, -1:], attention_mask=mask, **{name_of_cache: first.past_key_values})
                logits[name] = (first.logits[mask[:, :-1].bool()].float(), step.logits.float())
    finally:
        attention.register_grouped_eager()
    assert len(calls) == 2 * models["eager"].config.num_hidden_layers  # the prefill and the step, every layer
    assert models["eager"].config.num_attention_heads > models["eager"].config.num_key_value_heads
    if dtype == "float32":  # the same sums in another order
        for reference, ours in zip(logits["eager"], logits[attention.GROUPED_EAGER], strict=True):
            torch.testing.assert_close(ours, reference, atol=1e-4, rtol=0.05)
        return
    # bf16 (8 bits of mantissa, 30 layers) is off the float32 logits (about 30) by up to a few units, by how much
    # depends on the CPU's bf16 kernels (about 2 at most for transformers' own eager path on an AVX2 CPU): the grouped
    # path must be no further from float32 than twice the library's own bf16 path, and pick the same token.
    for exact, library, ours in zip(logits["float32"], logits["eager"], logits[attention.GROUPED_EAGER], strict=True):
        library_error = (library - exact).abs().max().item()
        assert (ours - exact).abs().max().item() <= 2 * library_error + 0.1, library_error
        assert (ours.argmax(-1) == exact.argmax(-1)).float().mean() >= 0.95
        assert (ours.argmax(-1) == library.argmax(-1)).float().mean() >= 0.95
