"""The LLM judge of the quality report, with the real SmolLM2-135M-Instruct (transformers backend) on CPU."""

from __future__ import annotations

import json

import pytest
from run_fixtures import write_run

from erc_synth import cli
from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.quality.metrics import Dialogue
from erc_synth_datasets.quality.render import render_markdown
from erc_synth_datasets.quality.sources import load_run
from erc_synth_datasets.runs import iter_accepted
from generation.default_model import DEFAULT_MODEL
from generation.judge import (
    JUDGE_CACHE_NAME,
    build_judge_backend,
    judge_dialogues,
    judge_prompt,
    judge_score,
    parse_judgement,
    read_judgements,
    summarize_judgements,
)

MELD = get_benchmark("meld")
SHORT = [
    Dialogue(("Ross", "Rachel"), ("Where are my keys?", "On the table, where you left them."), (0, 0)),
    Dialogue(("Monica", "Joey"), ("You ate my whole cake!", "It was really good though."), (6, 4)),
]


def test_parse_judgement_reads_valid_answers_and_refuses_the_rest():
    assert parse_judgement('{"naturalness": 4, "label_correctness": 2, "reason": "ok"}') == {
        "naturalness": 4,
        "label_correctness": 2,
        "reason": "ok",
    }
    wrapped = 'Sure!\n```json\n{"naturalness": 5, "label_correctness": 5}\n```'
    assert parse_judgement(wrapped) == {"naturalness": 5, "label_correctness": 5, "reason": ""}
    assert parse_judgement('{"naturalness": 6, "label_correctness": 2, "reason": "x"}') is None
    assert parse_judgement('{"naturalness": true, "label_correctness": 2, "reason": "x"}') is None
    assert parse_judgement('{"naturalness": "4", "label_correctness": 2}') is None
    assert parse_judgement('{"naturalness": 4, "label_corr') is None
    assert parse_judgement("I would give it a four.") is None


def test_prompt_shows_every_utterance_with_its_label_name():
    content = judge_prompt(SHORT[1], MELD)[0]["content"]
    assert "Monica: You ate my whole cake! [anger]" in content
    assert "Joey: It was really good though. [joy]" in content


def test_summary_counts_unparsable_answers_and_averages_the_rest(tmp_path):
    cache = tmp_path / JUDGE_CACHE_NAME
    lines = [
        {"dialogue_id": "a", "judge_model": "m", "status": "ok", "naturalness": 2, "label_correctness": 5},
        {"dialogue_id": "b", "judge_model": "m", "status": "ok", "naturalness": 4, "label_correctness": 3},
        {"dialogue_id": "c", "judge_model": "m", "status": "unparsable", "raw": "five"},
    ]
    cache.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"dialogue_id": "d", "ju', encoding="utf-8")
    records = read_judgements(cache)
    assert [record["dialogue_id"] for record in records] == ["a", "b", "c"]  # the torn last line is not a record
    summary = summarize_judgements(records, "m")
    assert summary["judged"] == 3 and summary["parsed"] == 2 and summary["unparsable"] == 1
    assert summary["means"] == {"naturalness": 3.0, "label_correctness": 4.0}
    assert summary["histograms"]["naturalness"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    assert [judge_score(record) for record in records] == [2.0, 3.0, None]


def test_min_judge_score_rejects_through_the_filter():
    from generation.filters import DialogueFilter, FilterSettings

    dialogue_filter = DialogueFilter(FilterSettings(min_judge_score=3), MELD)
    low = {"status": "ok", "naturalness": 5, "label_correctness": 2}
    high = {"status": "ok", "naturalness": 4, "label_correctness": 3}
    dialogue = SHORT[1]
    args = (dialogue.speakers, dialogue.utterances, dialogue.emotions)
    assert dialogue_filter.check(*args, judge_score=judge_score(low))[0] == "low_judge_score"
    assert dialogue_filter.check(*args, judge_score=judge_score(high)) is None
    assert dialogue_filter.check(*args, judge_score=judge_score({"status": "unparsable"})) is None


@pytest.mark.slow
def test_real_judge_scores_caches_resumes_and_records_unparsable_answers(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ERC_SYNTH_DATA_DIR", raising=False)
    run_dir = write_run(tmp_path / "run", "meld", "natural", num_dialogues=2, num_rejected=0)
    argv = ["quality", str(run_dir), "--no-embeddings", "--judge-model", DEFAULT_MODEL, "--judge-device", "cpu"]
    assert cli.main([*argv, "--judge-max-new-tokens", "80", "--json"]) == 0
    report = json.loads((run_dir / "quality" / "quality.json").read_text(encoding="utf-8"))
    judge = report["judge"]
    assert judge["judged"] == 2 and judge["parsed"] + judge["unparsable"] == 2
    for score, mean in judge["means"].items():
        assert mean is None or 1 <= mean <= 5, score
    cached = (run_dir / "quality" / JUDGE_CACHE_NAME).read_bytes()
    ids = {json.loads(line)["dialogue_id"] for line in cached.splitlines()}
    assert ids == {record.dialogue_id for record in iter_accepted(run_dir)}
    assert "## LLM judge" in render_markdown(report)

    capsys.readouterr()
    assert cli.main(argv) == 0  # everything cached: the same summary, nothing appended
    assert (run_dir / "quality" / JUDGE_CACHE_NAME).read_bytes() == cached
    assert json.loads((run_dir / "quality" / "quality.json").read_text(encoding="utf-8"))["judge"] == judge

    # Through the API: a fresh backend is never loaded when everything is cached.
    source = load_run(run_dir)
    cache = run_dir / "quality" / JUDGE_CACHE_NAME
    fresh = build_judge_backend("transformers", DEFAULT_MODEL, device="cpu")
    first = judge_dialogues(fresh, source.dialogues, source.dialogue_ids, MELD, cache)
    assert fresh.model is None and cache.read_bytes() == cached
    assert summarize_judgements(first, fresh.model_name) == judge
    for record in first:
        if record["status"] == "ok":
            assert record["naturalness"] in range(1, 6) and record["label_correctness"] in range(1, 6)

    # Only a missing dialogue is judged; an answer cut short is recorded as unparsable, never raised.
    free = build_judge_backend("transformers", DEFAULT_MODEL, device="cpu")
    free.constrained = False
    third = judge_dialogues(
        free, [*source.dialogues, SHORT[0]], [*source.dialogue_ids, "extra"], MELD, cache, max_new_tokens=3
    )
    free.close()
    assert third[:2] == first
    assert third[2]["status"] == "unparsable" and isinstance(third[2]["raw"], str)
    assert len(cache.read_bytes().splitlines()) == 3
    assert summarize_judgements(third, free.model_name)["unparsable"] == judge["unparsable"] + 1
