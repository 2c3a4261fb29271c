"""The run directory format (readers, torn lines, atomic manifest), `erc-synth merge`, and the config helper."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from erc_synth_datasets.configuration import ConfigError, config_from_dict, make_config_parser, parse_config
from generation.config import GenerationConfig, settings_hash
from generation.merge import MergeError, merge_runs
from generation.merge import main as merge_main
from generation.run_format import (
    JsonlAppender,
    RunFormatError,
    accepted_file_name,
    count_records,
    iter_accepted,
    iter_rejected,
    read_manifest,
    rejected_file_name,
    repair_jsonl,
    write_manifest,
)


def record(index: int, text: str, attempt: int = 0) -> dict:
    """An accepted record in the run format, with invented text."""
    return {
        "dialogue_id": f"meld-natural-abc-{index:06d}",
        "speakers": ["Ross", "Rachel"],
        "utterances": [text, "Okay."],
        "emotions": ["neutral", "joy"],
        "mode": "natural",
        "target_emotion": None,
        "persona": None,
        "generator_model": "m",
        "sampling": {"temperature": 0.7},
        "seed": 100 + index,
        "prompt_version": "meld-v1",
        "prompt": "Write a scene.",
        "index": index,
        "attempt": attempt,
    }


def rejection(index: int, attempt: int) -> dict:
    return {
        "index": index,
        "attempt": attempt,
        "seed": 1,
        "reason": "invalid_json",
        "message": "cut off",
        "raw_text": '{"turns": [',
        "prompt": "Write a scene.",
        "target_emotion": None,
        "completion_tokens": 5,
    }


def make_shard(root: Path, shard: int, shards: int, records: list[dict], status: str = "complete") -> Path:
    run_dir = root / f"shard-{shard}"
    with JsonlAppender(run_dir / accepted_file_name(shard, shards)) as out:
        out.write_many(records)
    with JsonlAppender(run_dir / rejected_file_name(shard, shards)) as out:
        out.write(rejection(index=shard, attempt=0))
    settings = {"benchmark": {"name": "meld"}, "seed": 0, "shard_index": shard, "num_shards": shards}
    write_manifest(
        run_dir,
        {
            "format_version": 1,
            "status": status,
            "settings": settings,
            "settings_hash": settings_hash(settings),
            "plan_hash": "p" * 64,
            "benchmark": {"name": "meld"},
            "mode": "natural",
            "shard_index": shard,
            "num_shards": shards,
            "counts": {"requested": 2, "accepted": len(records), "rejected": 1, "attempts": len(records) + 1},
            "tokens": {"prompt": 10, "completion": 20},
            "elapsed_seconds": 1.5,
        },
    )
    return run_dir


def test_torn_last_line_is_skipped_and_repaired(tmp_path):
    run_dir = tmp_path / "run"
    path = run_dir / accepted_file_name()
    with JsonlAppender(path) as out:
        out.write_many([record(0, "Hi."), record(1, "Hey.")])
    with path.open("ab") as handle:
        handle.write(b'{"dialogue_id": "meld-natural-abc-000002", "speak')  # a kill in the middle of a write
    assert [r["index"] for r in iter_accepted(run_dir)] == [0, 1]
    assert count_records(path) == 2
    with JsonlAppender(path) as out:  # opening for append cuts the torn line first
        out.write(record(2, "Yo."))
    assert [r["index"] for r in iter_accepted(run_dir)] == [0, 1, 2]
    assert repair_jsonl(path) == 0


def test_corruption_inside_a_file_names_file_and_line(tmp_path):
    path = tmp_path / rejected_file_name()
    path.write_text(json.dumps(rejection(0, 0)) + "\nnot json\n" + json.dumps(rejection(0, 1)) + "\n")
    with pytest.raises(RunFormatError, match=r"rejected-00000-of-00001.jsonl:2: not a valid JSON line"):
        list(iter_rejected(tmp_path))


def test_read_manifest_errors(tmp_path):
    with pytest.raises(RunFormatError, match="does not exist or is not a directory"):
        read_manifest(tmp_path / "nope")
    with pytest.raises(RunFormatError, match="is not a generation run directory"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(RunFormatError, match="lacks required keys"):
        read_manifest(tmp_path)
    write_manifest(tmp_path, {"format_version": 1, "settings_hash": "h", "benchmark": {}, "mode": "natural",
                              "counts": {}})  # fmt: skip
    assert read_manifest(tmp_path)["settings_hash"] == "h"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary file left behind


def test_merge_orders_by_index_drops_cross_shard_duplicates_and_sums(tmp_path):
    shard0 = make_shard(tmp_path, 0, 2, [record(0, "Hi."), record(2, "Same words.")])
    shard1 = make_shard(tmp_path, 1, 2, [record(1, "Hey."), record(3, "same   WORDS.", attempt=1)])
    out = tmp_path / "merged"
    assert merge_main([str(shard1), str(shard0), "--output", str(out)]) == 0
    accepted = list(iter_accepted(out))
    assert [r["index"] for r in accepted] == [0, 1, 2]
    rejected = list(iter_rejected(out))
    assert sorted((r["index"], r["reason"]) for r in rejected) == [(0, "invalid_json"), (1, "invalid_json"),
                                                                   (3, "duplicate")]  # fmt: skip
    manifest = read_manifest(out)
    assert (manifest["shard_index"], manifest["num_shards"], manifest["status"]) == (0, 1, "complete")
    assert manifest["counts"] == {"requested": 4, "accepted": 3, "rejected": 3, "attempts": 6}
    assert manifest["tokens"] == {"prompt": 20, "completion": 40}
    assert manifest["files"] == {accepted_file_name(): 3, rejected_file_name(): 3}
    assert [m["shard_index"] for m in manifest["merged_from"]] == [1, 0]


def test_merge_refuses_incomplete_sets_of_shards(tmp_path):
    shard0 = make_shard(tmp_path, 0, 3, [record(0, "Hi.")])
    shard1 = make_shard(tmp_path, 1, 3, [record(1, "Hey.")], status="running")
    with pytest.raises(MergeError, match=r"missing \[2\]"):
        merge_runs([shard0, shard1], tmp_path / "m")
    shard2 = make_shard(tmp_path, 2, 3, [record(2, "Yo.")])
    with pytest.raises(MergeError, match="not complete"):
        merge_runs([shard0, shard1, shard2], tmp_path / "m")
    manifest = merge_runs([shard0, shard1, shard2], tmp_path / "m", allow_incomplete=True)
    assert manifest["status"] == "incomplete"
    with pytest.raises(MergeError, match="exists and is not empty"):
        merge_runs([shard0, shard1, shard2], tmp_path / "m", allow_incomplete=True)


@dataclass
class _Demo:
    seed: int = field(default=0, metadata={"help": "seed"})
    rate: float = field(default=0.5, metadata={"help": "rate"})
    names: list[str] | None = field(default=None, metadata={"help": "names"})
    flag: bool = field(default=True, metadata={"help": "flag"})


def test_config_yaml_then_flags_and_unknown_keys(tmp_path):
    parser = make_config_parser(_Demo, prog="demo")
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\nrate: 1\nnames: [a, b]\n", encoding="utf-8")
    (config,) = parse_config(parser, ["--config", str(path), "--rate", "0.25", "--no-flag"])
    assert config == _Demo(seed=3, rate=0.25, names=["a", "b"], flag=False)
    (plain,) = parse_config(parser, [])  # the YAML of an earlier call does not stick to the parser
    assert plain == _Demo()
    path.write_text("sed: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown keys \['sed'\]; valid keys are: flag, names, rate, seed"):
        parse_config(parser, ["--config", str(path)])
    path.write_text("seed: three\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'seed' must be an integer, but got 'three'"):
        parse_config(parser, ["--config", str(path)])
    with pytest.raises(ConfigError, match="unknown keys"):
        config_from_dict(_Demo, {"seeds": 1})


def test_generation_config_yaml_files_in_configs_are_valid():
    parser = make_config_parser(GenerationConfig)
    files = sorted((Path(__file__).resolve().parents[1] / "configs" / "generation").glob("*.yaml"))
    assert files
    for path in files:
        (config,) = parse_config(parser, ["--config", str(path), "--output", "x"])
        config.require_run_fields()
    with pytest.raises(ConfigError, match="max_turns must be >= min_turns"):
        GenerationConfig(min_turns=4, max_turns=3)
    with pytest.raises(ConfigError, match=r"shard_index must be in \[0, num_shards\)"):
        GenerationConfig(shard_index=2, num_shards=2)
