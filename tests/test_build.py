"""`erc-synth build`: splits, Parquet configs loadable with `load_dataset`, determinism, validation, atomicity.

The run folders are made by the real runner with a scripted test backend (`tests/run_fixtures.py`), so they stay
fast and are exactly what `erc-synth generate` writes; `test_build_real.py` builds from real SmolLM2 output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard
from run_fixtures import SCRIPTED_MODEL, write_run

from erc_synth import cli
from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.build import BuildConfig, BuildError, build_dataset, read_run
from erc_synth_datasets.processes import LOCK_NAME
from erc_synth_datasets.schema import dialogue_features
from erc_synth_datasets.splitting import SplitError, SplitRatios, split_counts, split_dialogues

REPO = Path(__file__).resolve().parents[1]
CUSTOM_YAML = REPO / "configs" / "benchmarks" / "example_custom.yaml"


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_accepted(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "accepted-00000-of-00001.jsonl").read_text().splitlines()]


# --- splitting -------------------------------------------------------------------------------------------------


def test_split_ratios_are_validated():
    assert SplitRatios.parse("0.7,0.2,0.1").as_dict() == {"train": 0.7, "validation": 0.2, "test": 0.1}
    with pytest.raises(SplitError, match="sum to 1"):
        SplitRatios(0.5, 0.2, 0.2)
    with pytest.raises(SplitError, match="three comma-separated"):
        SplitRatios.parse("0.8,0.2")
    for text in ("0.8,nan,0.1", "nan,0.1,0.1", "0,0.5,0.5", "1.2,-0.1,-0.1", "inf,0,0"):
        with pytest.raises(BuildError, match=r"split_ratios.*finite number in \[0, 1\], train above 0"):
            BuildConfig(split_ratios=text)
    assert BuildConfig(split_ratios="1,0,0").ratios.as_dict() == {"train": 1.0, "validation": 0.0, "test": 0.0}


def test_split_counts_and_too_few_dialogues():
    assert split_counts(10, SplitRatios()) == {"train": 8, "validation": 1, "test": 1}
    assert split_counts(100, SplitRatios(0.7, 0.2, 0.1)) == {"train": 70, "validation": 20, "test": 10}
    with pytest.raises(SplitError, match=r"Too few accepted dialogues.*at least 6 dialogues"):
        split_counts(4, SplitRatios())


def test_split_dialogues_is_seeded_disjoint_and_order_independent():
    rows = [{"dialogue_id": f"d{i:03d}"} for i in range(50)]
    a = split_dialogues(rows, SplitRatios(), seed=7)
    b = split_dialogues(list(reversed(rows)), SplitRatios(), seed=7)
    c = split_dialogues(rows, SplitRatios(), seed=8)
    assert a == b
    assert a != c
    ids = [row["dialogue_id"] for split in a.values() for row in split]
    assert sorted(ids) == [row["dialogue_id"] for row in rows]
    assert {name: len(part) for name, part in a.items()} == {"train": 40, "validation": 5, "test": 5}
    for part in a.values():
        assert [r["dialogue_id"] for r in part] == sorted(r["dialogue_id"] for r in part)


# --- building and loading --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    return [
        write_run(root / "meld_balanced", "meld", "balanced", num_dialogues=14, seed=1),
        write_run(root / "meld_natural", "meld", "natural", num_dialogues=10, seed=2),
        write_run(root / "custom_natural", CUSTOM_YAML, "natural", num_dialogues=10, seed=3),
    ]


def test_build_loads_every_config_with_the_right_features_and_counts(three_runs, tmp_path, monkeypatch):
    out = tmp_path / "erc-synth"
    result = build_dataset(three_runs, BuildConfig(output=str(out)))
    assert sorted(c.name for c in result.configs) == ["meld_balanced", "meld_natural", "support_calls_natural"]
    for run in three_runs:
        manifest = json.loads((run / "manifest.json").read_text())
        records = read_accepted(run)
        bench = get_benchmark(manifest["benchmark"]["name"])
        name = f"{bench.name}_{manifest['mode']}"
        ds = load_dataset(str(out), name, cache_dir=str(tmp_path / "cache"))
        assert list(ds) == ["train", "validation", "test"]
        assert ds["train"].features == dialogue_features(bench)
        assert ds["train"].features["emotions"].feature.names == list(bench.labels)
        assert sum(ds.num_rows.values()) == manifest["counts"]["accepted"]
        loaded_ids = sorted(i for split in ds.values() for i in split["dialogue_id"])
        assert loaded_ids == sorted(r["dialogue_id"] for r in records)
        # Split sizes follow the ratios (validation and test rounded, train the rest).
        n = len(records)
        assert ds.num_rows == {
            "train": n - 2 * round(n * 0.1),
            "validation": round(n * 0.1),
            "test": round(n * 0.1),
        }
        # Every dialogue comes back with its labels mapped to the canonical ids.
        by_id = {r["dialogue_id"]: r for r in records}
        for split in ds.values():
            for row in split:
                source = by_id[row["dialogue_id"]]
                assert row["utterances"] == source["utterances"]
                assert row["emotions"] == [bench.labels.index(e) for e in source["emotions"]]
                assert row["target_emotion"] == source["target_emotion"]
                assert row["sampling"]["top_p"] == 0.95
    # From the folder's parent, the bare name resolves to the folder, as on the Hub.
    monkeypatch.chdir(tmp_path)
    by_name = load_dataset("erc-synth", "meld_balanced", cache_dir=str(tmp_path / "cache2"))
    assert sum(by_name.num_rows.values()) == 14


def test_persona_runs_get_a_config_of_their_own(tmp_path):
    plain = write_run(tmp_path / "plain", "meld", "natural", num_dialogues=6, seed=1)
    persona = write_run(tmp_path / "persona", "meld", "natural", num_dialogues=6, seed=2, persona=True)
    result = build_dataset([plain, persona], BuildConfig(output=str(tmp_path / "out"), split_ratios="0.5,0.25,0.25"))
    assert sorted(c.name for c in result.configs) == ["meld_natural", "meld_natural_persona"]
    loaded = load_dataset(str(result.output), "meld_natural_persona", cache_dir=str(tmp_path / "cache"))
    assert sum(loaded.num_rows.values()) == 6
    assert all(row["persona"] for split in loaded.values() for row in split)


def test_build_is_byte_identical_across_folders(three_runs, tmp_path):
    first = build_dataset(three_runs, BuildConfig(output=str(tmp_path / "a" / "erc-synth"))).output
    second = build_dataset(list(reversed(three_runs)), BuildConfig(output=str(tmp_path / "b" / "erc-synth"))).output
    a, b = snapshot(first), snapshot(second)
    assert sorted(a) == sorted(b)
    parquet = [p for p in a if p.endswith(".parquet")]
    assert len(parquet) == 9
    assert a == b  # Parquet, plots, provenance and card: the same bytes


def test_split_seed_changes_the_assignment_but_not_the_set(three_runs, tmp_path):
    out1 = build_dataset(three_runs[:1], BuildConfig(output=str(tmp_path / "s1"), split_seed=1)).output
    out2 = build_dataset(three_runs[:1], BuildConfig(output=str(tmp_path / "s2"), split_seed=2)).output
    d1 = load_dataset(str(out1), "meld_balanced", cache_dir=str(tmp_path / "c"))
    d2 = load_dataset(str(out2), "meld_balanced", cache_dir=str(tmp_path / "c"))
    ids1 = {split: list(d1[split]["dialogue_id"]) for split in d1}
    ids2 = {split: list(d2[split]["dialogue_id"]) for split in d2}
    assert ids1 != ids2
    assert sorted(sum(ids1.values(), [])) == sorted(sum(ids2.values(), []))


def test_adding_a_config_keeps_the_others_and_the_prose(three_runs, tmp_path):
    out = tmp_path / "erc-synth"
    build_dataset(three_runs[:1], BuildConfig(output=str(out)))
    readme = out / "README.md"
    readme.write_text(
        readme.read_text().replace("## Known limitations", "A note from the maintainers.\n\n## Known limitations")
    )
    before = snapshot(out / "meld_balanced")
    result = build_dataset(three_runs[1:2], BuildConfig(output=str(out)))
    assert result.kept_configs == ["meld_balanced"]
    assert snapshot(out / "meld_balanced") == before
    text = readme.read_text()
    assert "A note from the maintainers." in text
    assert text.index("erc-synth:config meld_balanced start") < text.index("erc-synth:config meld_natural start")
    for name, rows in (("meld_balanced", 14), ("meld_natural", 10)):
        assert sum(load_dataset(str(out), name, cache_dir=str(tmp_path / "c")).num_rows.values()) == rows
    # Rebuilding a config replaces only that config (here with other ratios).
    build_dataset(three_runs[1:2], BuildConfig(output=str(out), split_ratios="0.6,0.2,0.2"))
    assert snapshot(out / "meld_balanced") == before
    assert load_dataset(str(out), "meld_natural", cache_dir=str(tmp_path / "c2")).num_rows["test"] == 2
    assert "A note from the maintainers." in readme.read_text()


# --- validation and atomicity ----------------------------------------------------------------------------------


def _assert_refused_and_untouched(runs, out: Path, match: str, **config) -> None:
    before = snapshot(out) if out.exists() else None
    with pytest.raises(BuildError, match=match):
        build_dataset(runs, BuildConfig(output=str(out), **config))
    assert (snapshot(out) if out.exists() else None) == before
    leftovers = [  # staging folders (the folder's lock files beside it stay by design)
        p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and not p.name.startswith(LOCK_NAME)
    ]
    assert leftovers == []


@pytest.fixture
def existing_output(three_runs, tmp_path) -> Path:
    return build_dataset(three_runs[:1], BuildConfig(output=str(tmp_path / "erc-synth"))).output


def test_too_few_dialogues_is_refused(tmp_path, existing_output):
    small = write_run(tmp_path / "small", "meld", "natural", num_dialogues=4)
    _assert_refused_and_untouched([small], existing_output, r"meld_natural.*Too few accepted dialogues")
    _assert_refused_and_untouched([small], tmp_path / "fresh", r"Too few accepted dialogues")


def test_mixed_label_sets_are_refused(tmp_path, existing_output):
    relabelled = write_run(tmp_path / "relabelled", "meld", "natural")
    manifest = json.loads((relabelled / "manifest.json").read_text())
    manifest["benchmark"]["labels"] = ["calm", "upset"]
    manifest["benchmark"]["label_words"] = ["calm", "upset"]
    (relabelled / "manifest.json").write_text(json.dumps(manifest))
    _assert_refused_and_untouched([relabelled], existing_output, r"Mixed label sets.*'calm', 'upset'")

    foreign = write_run(tmp_path / "foreign", "meld", "natural")
    lines = (foreign / "accepted-00000-of-00001.jsonl").read_text().splitlines()
    record = json.loads(lines[3])
    record["emotions"][0] = "Joyful"  # an EmoryNLP label in a MELD run
    lines[3] = json.dumps(record)
    (foreign / "accepted-00000-of-00001.jsonl").write_text("\n".join(lines) + "\n")
    _assert_refused_and_untouched([foreign], existing_output, r"Mixed label sets: .*record 4.*\['Joyful'\]")


def test_manifest_that_does_not_match_its_shards_is_refused(tmp_path, existing_output):
    extra = write_run(tmp_path / "extra", "meld", "natural")
    with (extra / "accepted-00000-of-00001.jsonl").open("a") as handle:
        handle.write(json.dumps(read_accepted(extra)[0] | {"dialogue_id": "meld_natural-extra"}) + "\n")
    _assert_refused_and_untouched(
        [extra], existing_output, r"does not match its shards.*'manifest': 10, 'on disk': 11"
    )

    missing = write_run(tmp_path / "missing", "meld", "natural")
    (missing / "rejected-00000-of-00001.jsonl").unlink()
    _assert_refused_and_untouched([missing], existing_output, r"does not match its shards")

    counted = write_run(tmp_path / "counted", "meld", "natural")
    manifest = json.loads((counted / "manifest.json").read_text())
    manifest["counts"]["accepted"] = 12
    (counted / "manifest.json").write_text(json.dumps(manifest))
    _assert_refused_and_untouched([counted], existing_output, r"counts 12 accepted dialogues, but its shards hold 10")


def test_incomplete_duplicate_and_missing_runs_are_refused(tmp_path, existing_output):
    running = write_run(tmp_path / "running", "meld", "natural", status="running")
    _assert_refused_and_untouched([running], existing_output, r"status 'running'.*--allow-incomplete")
    assert read_run(running, allow_incomplete=True).mode == "natural"
    twice = write_run(tmp_path / "twice", "meld", "natural")
    _assert_refused_and_untouched([twice, twice], existing_output, r"given more than once")
    copy = tmp_path / "copy"
    shutil.copytree(twice, copy)
    _assert_refused_and_untouched([twice, copy], existing_output, r"appears in runs .*twice.*copy")
    _assert_refused_and_untouched([tmp_path / "nowhere"], existing_output, r"does not exist")


def test_output_that_is_not_a_dataset_folder_is_refused(three_runs, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    _assert_refused_and_untouched(three_runs[:1], other, r"not a dataset folder")


def test_cli_build(three_runs, tmp_path, capsys):
    out = tmp_path / "cli-out"
    assert cli.main(["build", str(three_runs[0]), "--output-dir", str(out), "--split-ratios", "0.5,0.25,0.25"]) == 0
    printed = capsys.readouterr().out
    assert "meld_balanced: train 6, validation 4, test 4 dialogues" in printed
    assert cli.main(["build", str(tmp_path / "nowhere"), "--output", str(out)]) == 1  # the old spelling still works
    assert "does not exist" in capsys.readouterr().err
    config = tmp_path / "build.yaml"
    config.write_text(f"output: {tmp_path / 'yaml-out'}\nsplit_seed: 3\nmin_per_split: 2\nsplit_ratios: 0.6,0.2,0.2\n")
    assert cli.main(["build", str(three_runs[0]), "--config", str(config)]) == 0
    info = json.loads((tmp_path / "yaml-out" / "meld_balanced" / "build_info.json").read_text())
    assert (info["split_seed"], info["num_dialogues"]) == (3, {"train": 8, "validation": 3, "test": 3})


def test_stats_of_a_built_folder(three_runs, tmp_path, capsys):
    out = build_dataset(three_runs[:2], BuildConfig(output=str(tmp_path / "erc-synth"))).output
    argv = ["stats", str(out), "--dataset-config", "meld_balanced", "--json"]
    assert cli.main(argv) == 0
    stats = json.loads(capsys.readouterr().out)
    records = read_accepted(three_runs[0])
    assert sum(split["dialogues"] for split in stats["splits"].values()) == len(records) == 14
    assert sum(split["utterances"] for split in stats["splits"].values()) == sum(len(r["emotions"]) for r in records)
    assert stats["labels"] == list(get_benchmark("meld").labels)
    assert stats["generation"] == {
        "runs": 1,
        "models": [SCRIPTED_MODEL],
        "accepted": 14,
        "attempts": 16,
        "acceptance_rate": 0.875,
    }
    assert cli.main(["stats", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## meld_balanced" in printed and "## meld_natural" in printed
    assert "14 of 16 attempts accepted (87.5%)" in printed
    assert cli.main(["stats", str(out), "--dataset-config", "iemocap_natural"]) == 1
    assert "has configs ['meld_balanced', 'meld_natural']" in capsys.readouterr().err


def test_rebuilt_data_of_the_same_size_is_not_served_from_a_stale_cache(tmp_path):
    """`datasets` keys its cache of a local folder by the card: a change of data must change the card."""
    original = write_run(tmp_path / "runs" / "a", num_dialogues=6)
    edited = tmp_path / "runs" / "b"
    shutil.copytree(original, edited)
    for path in edited.glob("accepted*.jsonl"):
        path.write_text(path.read_text(encoding="utf-8").replace("Did you see", "Did you saw"), encoding="utf-8")
    cache = tmp_path / "hf-cache"
    first = build_dataset(
        [original], BuildConfig(output=str(tmp_path / "one" / "erc-synth"), split_ratios="0.5,0.25,0.25")
    )
    second = build_dataset(
        [edited], BuildConfig(output=str(tmp_path / "two" / "erc-synth"), split_ratios="0.5,0.25,0.25")
    )
    assert first.configs[0].file_sha256 != second.configs[0].file_sha256
    # The card's YAML (all that `datasets` hashes for a local folder) carries a fingerprint of the data.
    infos = [DatasetCard.load(result.output / "README.md").data.dataset_info for result in (first, second)]
    descriptions = [info[0]["description"] if isinstance(info, list) else info["description"] for info in infos]
    assert descriptions[0] != descriptions[1] and all("data sha256" in d for d in descriptions)
    loaded_one = load_dataset(str(first.output), "meld_balanced", cache_dir=str(cache))
    loaded_two = load_dataset(str(second.output), "meld_balanced", cache_dir=str(cache))
    assert all("Did you see" in u for u in loaded_one["train"][0]["utterances"])
    assert all("Did you saw" in u for u in loaded_two["train"][0]["utterances"])
    card = (second.output / "README.md").read_text(encoding="utf-8")
    assert all(digest in card for digest in second.configs[0].file_sha256.values())
