"""Generation-time filters on crafted outputs, and their near-duplicate state after a kill and across shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from erc_synth_datasets.runs import JsonlAppender, accepted_file_name, iter_jsonl, list_accepted_files
from generation.filters import REASON_CODES, DialogueFilter, FilterSettings

SPEAKERS = ["Ross", "Rachel", "Monica", "Joey"]


def _record(index: int, utterances: list[str], emotions: list[str] | None = None) -> dict:
    emotions = emotions or ["neutral"] * len(utterances)
    return {
        "index": index,
        "speakers": [SPEAKERS[i % 4] for i in range(len(utterances))],
        "utterances": utterances,
        "emotions": emotions,
    }


def _topic(index: int) -> list[str]:
    """A dialogue that shares no word trigram with the dialogue of another index."""
    return [f"Have you seen the {index} tickets?", f"They cost {index} dollars each.", f"Then buy {index} today."]


def test_each_filter_has_its_reason_code():
    f = DialogueFilter(FilterSettings(), "meld")
    repetitive = ["Oh my god oh my god oh my god oh my god", "What?", "Nothing.", "Okay then."]
    assert f.check(SPEAKERS, repetitive, [0, 0, 0, 0])[0] == "repetitive_utterance"
    repeated = ["Where is it?", "Where is it?", "I don't know.", "Where is it?"]
    code, message = f.check(SPEAKERS, repeated, [0, 0, 0, 0])
    assert code == "repeated_utterances" and "2 of 4" in message and "[2, 4]" in message
    natural = ["Hey, what's up?", "Not much, you?", "I just got back from work.", "How was it?"]
    assert f.check(SPEAKERS, natural, [0, 1, 2, 3])[0] == "legend_order"
    assert f.check(SPEAKERS, natural, ["neutral", "surprise", "fear", "sadness"])[0] == "legend_order"
    assert f.check(SPEAKERS, natural, [0, 0, 4, 0]) is None
    f.add(SPEAKERS, natural, [0, 0, 4, 0])
    code, message = f.check(SPEAKERS, [u.upper() for u in natural], [0, 0, 0, 0])
    assert code == "near_duplicate" and "1.00" in message
    assert set(REASON_CODES) >= {"repetitive_utterance", "repeated_utterances", "legend_order", "near_duplicate"}


def test_thresholds_and_switches():
    one_repeat = ["Where is it?", "In the car.", "Which car?", "Where is it?", "Yours.", "Fine."]  # 1 of 6
    assert DialogueFilter(FilterSettings(), "meld").check(SPEAKERS * 2, one_repeat, [0] * 6) is None
    strict = FilterSettings(max_repeated_share=0.1)
    assert DialogueFilter(strict, "meld").check(SPEAKERS * 2, one_repeat, [0] * 6)[0] == "repeated_utterances"
    off = DialogueFilter(FilterSettings(filters=False), "meld")
    assert off.check(SPEAKERS, ["a a a a a a a a"] * 4, [0, 1, 2, 3]) is None
    no_legend = DialogueFilter(FilterSettings(legend_run=0), "meld")
    assert no_legend.check(SPEAKERS, _topic(1) + ["Sure."], [0, 1, 2, 3]) is None
    judged = DialogueFilter(FilterSettings(min_judge_score=3), "meld")
    assert judged.check(SPEAKERS, _topic(2), [0, 0, 0], judge_score=2.5)[0] == "low_judge_score"
    assert judged.check(SPEAKERS, _topic(2), [0, 0, 0], judge_score=3) is None
    with pytest.raises(ValueError, match="max_repeated_share"):
        FilterSettings(max_repeated_share=1.5)


def test_defaults_reject_about_one_percent_of_real_meld(shared_data):
    from erc_synth_datasets.benchmarks import get_benchmark
    from erc_synth_datasets.quality.sources import load_real_split

    meld = get_benchmark("meld")
    dialogue_filter = DialogueFilter(FilterSettings(), meld)
    reasons: Counter[str] = Counter()
    train = load_real_split(meld, shared_data / "meld", "train")
    for dialogue in train:
        verdict = dialogue_filter.check(dialogue.speakers, dialogue.utterances, dialogue.emotions)
        reasons[verdict[0] if verdict else "pass"] += 1
        if verdict is None:
            dialogue_filter.add(dialogue.speakers, dialogue.utterances, dialogue.emotions)
    for code in REASON_CODES:
        assert reasons[code] / len(train) <= 0.01, reasons
    assert reasons["pass"] / len(train) >= 0.98


_WRITER = textwrap.dedent(
    """
    import sys, json
    from erc_synth_datasets.runs import JsonlAppender
    path = sys.argv[1]
    with JsonlAppender(path) as out:
        for index in range(3):
            out.write({"index": index, "speakers": ["Ross"] * 3, "emotions": ["neutral"] * 3,
                       "utterances": [f"Have you seen the {index} tickets?", f"They cost {index} dollars each.",
                                      f"Then buy {index} today."]})
        # a record cut mid-line, as a kill during an append leaves it; then wait to be killed
        out._handle.write(b'{"index": 3, "speakers": ["Ross"], "utter')
        out._handle.flush()
        print("ready", flush=True)
        import time
        time.sleep(60)
    """
)


def test_state_is_rebuilt_after_a_kill_mid_write(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / accepted_file_name()
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert process.stdout.readline().strip() == "ready"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not path.read_bytes().endswith(b"\n")  # the torn line is really there

    records = [r for path in list_accepted_files(run_dir) for r in iter_jsonl(path)]
    assert [r["index"] for r in records] == [0, 1, 2]
    rebuilt = DialogueFilter.from_accepted(FilterSettings(), "meld", records)
    assert len(rebuilt) == 3
    for index in range(3):
        assert rebuilt.check(["Ross"] * 3, _topic(index), [0, 0, 0])[0] == "near_duplicate"
    assert rebuilt.check(["Ross"] * 3, _topic(7), [0, 0, 0]) is None


def test_state_is_merged_across_shards(tmp_path):
    run_dir = tmp_path / "run"
    for shard in range(2):
        with JsonlAppender(run_dir / accepted_file_name(shard, 2)) as out:
            for index in range(shard, 6, 2):
                out.write(_record(index, _topic(index)))
    records = [r for path in list_accepted_files(run_dir) for r in iter_jsonl(path)]
    assert sorted(r["index"] for r in records) == list(range(6))
    merged = DialogueFilter.from_accepted(FilterSettings(), "meld", records)
    assert len(merged) == 6
    # A dialogue accepted by shard 1 is a duplicate for shard 0's continuation as well.
    assert merged.check(["Ross"] * 3, _topic(3), [0, 0, 0])[0] == "near_duplicate"
    # Each shard alone only knows its own dialogues.
    shard0 = DialogueFilter.from_accepted(
        FilterSettings(), "meld", (json.loads(line) for line in (run_dir / accepted_file_name(0, 2)).open())
    )
    assert shard0.check(["Ross"] * 3, _topic(3), [0, 0, 0]) is None
