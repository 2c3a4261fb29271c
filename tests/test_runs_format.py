"""The run directory format (readers, torn lines, atomic manifest), `erc-synth merge`, and the config helper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from erc_synth.commands.merge import main as merge_main
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.runs import (
    ACCEPTED_COLUMNS,
    AcceptedRecord,
    JsonlAppender,
    RejectionRecord,
    RunCounts,
    RunFormatError,
    RunManifest,
    RunStatus,
    accepted_file_name,
    count_records,
    iter_accepted,
    iter_rejected,
    read_manifest,
    rejected_file_name,
    repair_jsonl,
    write_manifest,
)
from erc_synth_datasets.schema import dialogue_features
from generation.config import GenerationConfig, settings_hash
from generation.merge import MergeError, merge_runs


def record(index: int, text: str, attempt: int = 0) -> AcceptedRecord:
    """An accepted record in the run format, with invented text."""
    return AcceptedRecord(
        dialogue_id=f"meld-natural-abc-{index:06d}",
        speakers=["Ross", "Rachel"],
        utterances=[text, "Okay."],
        emotions=["neutral", "joy"],
        mode="natural",
        target_emotion=None,
        persona=None,
        generator_model="m",
        sampling={"temperature": 0.7},
        seed=100 + index,
        prompt_version="meld-v1",
        prompt="Write a scene.",
        index=index,
        attempt=attempt,
    )


def rejection(index: int, attempt: int) -> RejectionRecord:
    return RejectionRecord(
        index=index,
        attempt=attempt,
        seed=1,
        reason="invalid_json",
        message="cut off",
        raw_text='{"turns": [',
        prompt="Write a scene.",
        target_emotion=None,
        completion_tokens=5,
    )


def make_shard(
    root: Path, shard: int, shards: int, records: list[AcceptedRecord], status: RunStatus = RunStatus.COMPLETE
) -> Path:
    run_dir = root / f"shard-{shard}"
    with JsonlAppender(run_dir / accepted_file_name(shard, shards)) as out:
        out.write_many(records)
    with JsonlAppender(run_dir / rejected_file_name(shard, shards)) as out:
        out.write(rejection(index=shard, attempt=0))
    settings = {"benchmark": {"name": "meld"}, "seed": 0, "shard_index": shard, "num_shards": shards}
    counts = RunCounts(requested=2, accepted=len(records), rejected=1, rejected_by_reason={"invalid_json": 1})
    write_manifest(
        run_dir,
        RunManifest(
            settings_hash=settings_hash(settings),
            benchmark={"name": "meld"},
            mode="natural",
            status=status,
            settings=settings,
            plan_hash="p" * 64,
            shard_index=shard,
            num_shards=shards,
            target=2,
            attempt_budget=6,
            counts=counts,
            tokens={"prompt": 10, "completion": 20},
            elapsed_seconds=1.5,
        ),
    )
    return run_dir


def test_torn_last_line_is_skipped_and_repaired(tmp_path):
    run_dir = tmp_path / "run"
    path = run_dir / accepted_file_name()
    with JsonlAppender(path) as out:
        out.write_many([record(0, "Hi."), record(1, "Hey.")])
    with path.open("ab") as handle:
        handle.write(b'{"dialogue_id": "meld-natural-abc-000002", "speak')  # a kill in the middle of a write
    assert [r.index for r in iter_accepted(run_dir)] == [0, 1]
    assert count_records(path) == 2
    with JsonlAppender(path) as out:  # opening for append cuts the torn line first
        out.write(record(2, "Yo."))
    assert [r.index for r in iter_accepted(run_dir)] == [0, 1, 2]
    assert repair_jsonl(path) == 0


def test_corruption_inside_a_file_names_file_and_line(tmp_path):
    path = tmp_path / rejected_file_name()
    lines = [json.dumps(rejection(0, 0).to_dict()), "not json", json.dumps(rejection(0, 1).to_dict())]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFormatError, match=r"rejected-00000-of-00001.jsonl:2: not valid JSON"):
        list(iter_rejected(tmp_path))


def test_read_manifest_errors(tmp_path):
    with pytest.raises(RunFormatError, match="does not exist or is not a directory"):
        read_manifest(tmp_path / "nope")
    with pytest.raises(RunFormatError, match="is not a generation run directory"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(RunFormatError, match="lacks required keys"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format_version": 1, "settings_hash": "h", "benchmark": {}, "mode": "natural", "counts": {},
                    "status": "incomplete"})
    )  # fmt: skip
    with pytest.raises(RunFormatError, match=r"status 'incomplete' is not one of \['running', 'complete'"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format_version": 9, "settings_hash": "h", "benchmark": {}, "mode": "natural", "counts": {}})
    )
    with pytest.raises(RunFormatError, match=r"format_version=9, but this erc-synth reads versions \[1, 2\]"):
        read_manifest(tmp_path)
    # A version-1 manifest (no status enum check beyond the listed values, no repairs) is still read.
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format_version": 1, "settings_hash": "h", "benchmark": {}, "mode": "natural", "status": "stopped",
                    "counts": {"requested": 3, "accepted": 1, "rejected": 2, "attempts": 3}, "extra_key": 1})
    )  # fmt: skip
    old = read_manifest(tmp_path)
    assert old.status is RunStatus.STOPPED and old.counts.attempts == 3 and old.repairs == []
    write_manifest(tmp_path, RunManifest(settings_hash="h", benchmark={}, mode="natural"))
    assert read_manifest(tmp_path) == RunManifest(settings_hash="h", benchmark={}, mode="natural")
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary file left behind


def test_merge_orders_by_index_drops_cross_shard_duplicates_and_sums(tmp_path):
    shard0 = make_shard(tmp_path, 0, 2, [record(0, "Hi."), record(2, "Same words.")])
    shard1 = make_shard(tmp_path, 1, 2, [record(1, "Hey."), record(3, "same   WORDS.", attempt=1)])
    out = tmp_path / "merged"
    assert merge_main([str(shard1), str(shard0), "--output-dir", str(out)]) == 0
    accepted = list(iter_accepted(out))
    assert [r.index for r in accepted] == [0, 1, 2]
    rejected = list(iter_rejected(out))
    assert sorted((r.index, r.reason) for r in rejected) == [(0, "invalid_json"), (1, "invalid_json"),
                                                             (3, "duplicate")]  # fmt: skip
    manifest = read_manifest(out)
    assert (manifest.shard_index, manifest.num_shards, manifest.status) == (0, 1, RunStatus.COMPLETE)
    assert manifest.counts.to_dict() == {"requested": 4, "accepted": 3, "rejected": 3, "attempts": 6,
                                         "rejected_by_reason": {"duplicate": 1, "invalid_json": 2}}  # fmt: skip
    assert manifest.tokens == {"prompt": 20, "completion": 40}
    assert manifest.files == {accepted_file_name(): 3, rejected_file_name(): 3}
    assert manifest.files == {path.name: count_records(path) for path in out.glob("*.jsonl")}
    assert [m["shard_index"] for m in manifest.merged_from] == [1, 0]


def test_merge_refuses_incomplete_sets_of_shards(tmp_path):
    shard0 = make_shard(tmp_path, 0, 3, [record(0, "Hi.")])
    shard1 = make_shard(tmp_path, 1, 3, [record(1, "Hey.")], status=RunStatus.RUNNING)
    with pytest.raises(MergeError, match=r"missing \[2\]"):
        merge_runs([shard0, shard1], tmp_path / "m")
    shard2 = make_shard(tmp_path, 2, 3, [record(2, "Yo.")])
    with pytest.raises(MergeError, match="not complete"):
        merge_runs([shard0, shard1, shard2], tmp_path / "m")
    manifest = merge_runs([shard0, shard1, shard2], tmp_path / "m", allow_incomplete=True)
    assert manifest.status is RunStatus.PARTIAL and read_manifest(tmp_path / "m").status is RunStatus.PARTIAL
    with pytest.raises(MergeError, match="exists and is not empty"):
        merge_runs([shard0, shard1, shard2], tmp_path / "m", allow_incomplete=True)


def test_accepted_columns_are_the_dialogue_schema_plus_the_plan_position():
    assert ACCEPTED_COLUMNS == (*dialogue_features("meld"), "index", "attempt")


def test_generation_config_yaml_files_in_configs_are_valid():
    parser = OptionParser(GenerationConfig)
    files = sorted((Path(__file__).resolve().parents[1] / "configs" / "generation").glob("*.yaml"))
    assert files
    for path in files:
        (config,) = parser.parse(["--config", str(path), "--output-dir", "x"])
        config.require_run_fields()
    with pytest.raises(ConfigError, match="max_turns must be >= min_turns"):
        GenerationConfig(min_turns=4, max_turns=3)
    with pytest.raises(ConfigError, match=r"shard_index must be in \[0, num_shards\)"):
        GenerationConfig(shard_index=2, num_shards=2)
