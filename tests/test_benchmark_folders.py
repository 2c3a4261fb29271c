"""One folder per benchmark: a built-in benchmark is package data read by the code that reads a custom benchmark's
YAML, and a custom benchmark keeps the same companion files (prompt templates, reference figures, turns histogram)
beside its YAML; the turns histogram of a custom benchmark is computed from its real files and cached there; the
default prompt asks for what the JSON schema enforces; the dataset card takes the data's licence from the definition.
"""

from __future__ import annotations

import shutil
from collections import Counter
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard
from run_fixtures import write_run

from erc_synth_datasets import benchmarks
from erc_synth_datasets.benchmarks import (
    BenchmarkError,
    builtin_benchmarks,
    get_benchmark,
    load_benchmark_yaml,
)
from erc_synth_datasets.build import BuildConfig, build_dataset
from erc_synth_datasets.card import UNKNOWN_LICENCE
from erc_synth_datasets.loaders import DataFileError, read_benchmark
from erc_synth_datasets.quality.reference import load_reference
from erc_synth_datasets.runs import read_manifest
from erc_synth_datasets.turn_histogram import TurnHistogramError, turns_histogram
from generation.config import GenerationConfig
from generation.prompts import default_prompt_file, load_prompt_template, prompt_template_names
from generation.task import GenerationTask

LABELS = ["neutral", "pleased", "confused", "irritated"]
# dialogue id -> number of turns of the invented train split (two dialogues of 3 turns, one of 5, one of 2).
TRAIN_TURNS = {"k1": 3, "k2": 5, "k3": 3, "k4": 2}


def _write_split(path: Path, turns: dict[str, int]) -> None:
    lines = ["conversation,position,who,text,tag"]
    for dialogue, count in turns.items():
        for turn in range(count):
            lines.append(f"{dialogue},{turn},{'CT'[turn % 2]},Line {turn} of {dialogue}.,{turn % len(LABELS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _custom_benchmark(folder: Path, *, licence: str | None = "cc-by-nc-sa-4.0", extra: str = "") -> Path:
    """A custom benchmark laid out like a built-in folder: the YAML, its prompt template and its real files."""
    _write_split(folder / "release" / "train.csv", TRAIN_TURNS)
    _write_split(folder / "release" / "validation.csv", {"v1": 2})
    _write_split(folder / "release" / "test.csv", {"t1": 4})
    prompts = folder / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    template = yaml.safe_load(default_prompt_file(get_benchmark("meld")).read_text(encoding="utf-8"))
    template.update(version="kiosk-v1", task="Write {description}, with {num_turns} utterances, by {speakers}.")
    (prompts / "kiosk-v1.yaml").write_text(yaml.safe_dump(template), encoding="utf-8")
    text = f"""name: ticket_kiosk
display_name: Ticket kiosk
labels: [{", ".join(LABELS)}]
speakers: [Clerk, Traveller]
other_speakers: false
speaker_aliases: {{C: Clerk, T: Traveller}}
min_speakers: 2
description: a short exchange between a traveller and a clerk at a railway ticket counter
prompt_file: prompts/kiosk-v1.yaml
data:
  files: {{train: release/train.csv, validation: release/validation.csv, test: release/test.csv}}
  columns: {{dialogue_id: conversation, turn: position, speaker: who, utterance: text, emotion: tag}}
{extra}"""
    if licence is not None:
        text += f"licence: {licence}\n"
    path = folder / "ticket_kiosk.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["meld", "emorynlp", "iemocap"])
def test_each_builtin_benchmark_is_one_folder_of_package_data_read_like_a_custom_yaml(name):
    folder = files("erc_synth_datasets").joinpath("builtin_benchmarks", name)
    definition = folder.joinpath("benchmark.yaml")
    assert definition.is_file()
    for companion in ("reference.yaml", "turns.yaml"):
        assert folder.joinpath(companion).is_file()
    registered = get_benchmark(name)
    # The registry's definition is what the custom-benchmark reader makes of the shipped file.
    read = load_benchmark_yaml(Path(str(definition)), builtin=True)
    assert read == registered and read.licence == registered.licence and read.formats == registered.formats
    assert registered.files is not None and registered.files.folder == Path(str(folder))
    assert folder.joinpath("prompts", registered.files.prompt_file.name).is_file()
    assert default_prompt_file(registered) == registered.files.prompt_file
    # The shipped histogram is the reference figures' one, and what generation reads.
    shape = yaml.safe_load(folder.joinpath("reference.yaml").read_text(encoding="utf-8"))["shape"]
    assert turns_histogram(name) == {int(k): v for k, v in shape["turns_histogram"].items()}
    assert load_reference(name)["shape"] == shape
    # A custom file may never take a built-in name, even with the built-in definition's own text.
    with pytest.raises(BenchmarkError, match="belongs to the built-in benchmark"):
        load_benchmark_yaml(Path(str(definition)))


def test_builtin_licences_and_the_settings_identity():
    assert {name: get_benchmark(name).licence for name in builtin_benchmarks()} == {
        "meld": "gpl-3.0",
        "emorynlp": "apache-2.0",
        "iemocap": "other",
    }
    meld = get_benchmark("meld")
    # The licence is part of the written definition but not of a run's settings (it changes no dialogue).
    assert meld.to_dict() == {**meld.identity(), "licence": "gpl-3.0"}
    assert "licence" not in meld.identity()


def test_adding_a_builtin_benchmark_is_adding_one_folder(tmp_path, monkeypatch):
    shipped = benchmarks.BUILTIN_BENCHMARKS_DIR
    copy = tmp_path / "builtin_benchmarks"
    shutil.copytree(shipped, copy)
    source = _custom_benchmark(tmp_path / "src")
    kiosk = copy / "ticket_kiosk"
    shutil.copytree(source.parent, kiosk)
    (kiosk / "ticket_kiosk.yaml").rename(kiosk / "benchmark.yaml")
    with open(kiosk / "benchmark.yaml", "a", encoding="utf-8") as handle:
        handle.write("order: 4\n")
    monkeypatch.setattr(benchmarks, "BUILTIN_BENCHMARKS_DIR", copy)
    found = benchmarks._builtin_definitions()
    assert [b.name for b in found] == ["meld", "emorynlp", "iemocap", "ticket_kiosk"]
    added = found[-1]
    assert default_prompt_file(added) == kiosk / "prompts" / "kiosk-v1.yaml"
    assert read_benchmark(added, splits=("train",))[0]["train"][0]["dialogue_id"] == "k1"

    (kiosk / "benchmark.yaml").rename(copy / "meld" / "other.yaml")
    shutil.rmtree(kiosk)
    (copy / "kiosk_typo").mkdir()
    shutil.copy(copy / "meld" / "benchmark.yaml", copy / "kiosk_typo" / "benchmark.yaml")
    with pytest.raises(BenchmarkError, match="folder 'kiosk_typo' holds name='meld'"):
        benchmarks._builtin_definitions()


def test_a_custom_benchmark_keeps_the_same_companions_beside_its_yaml(tmp_path):
    path = _custom_benchmark(tmp_path / "kiosk")
    kiosk = get_benchmark(path)
    assert kiosk.licence == "cc-by-nc-sa-4.0"
    assert default_prompt_file(kiosk) == path.parent / "prompts" / "kiosk-v1.yaml"
    assert load_prompt_template(None, kiosk).version == "kiosk-v1"
    assert load_prompt_template("kiosk-v1", kiosk).version == "kiosk-v1"
    assert "kiosk-v1" in prompt_template_names(kiosk)
    assert kiosk.files.reference == path.parent / "ticket_kiosk.reference.yaml"
    assert load_reference(kiosk) is None


def test_a_custom_benchmarks_turns_histogram_is_computed_from_its_data_and_cached_beside_it(tmp_path):
    path = _custom_benchmark(tmp_path / "kiosk")
    cache = path.parent / "ticket_kiosk.turns.yaml"
    expected = dict(sorted(Counter(TRAIN_TURNS.values()).items()))
    assert turns_histogram(path) == expected == {2: 1, 3: 2, 5: 1}
    stored = yaml.safe_load(cache.read_text(encoding="utf-8"))
    assert stored["turns_histogram"] == expected and stored["benchmark"] == "ticket_kiosk"
    assert [entry["size"] for entry in stored["source"]] == [(path.parent / "release" / "train.csv").stat().st_size]

    # The cache is read while the files are unchanged (an edited count proves it is not recomputed) ...
    stored["turns_histogram"] = {2: 7}
    cache.write_text(yaml.safe_dump(stored), encoding="utf-8")
    assert turns_histogram(path) == {2: 7}
    # ... and computed again when a file changes, or when the cache is not a histogram.
    _write_split(path.parent / "release" / "train.csv", {**TRAIN_TURNS, "k5": 9})
    assert turns_histogram(path) == {2: 1, 3: 2, 5: 1, 9: 1}
    cache.write_text("turns_histogram: [1, 2]\n", encoding="utf-8")
    assert turns_histogram(path) == {2: 1, 3: 2, 5: 1, 9: 1}

    # A folder that cannot take the cache loses only the cache.
    blocked = _custom_benchmark(tmp_path / "blocked", extra="turns_histogram: not_a_folder/turns.yaml\n")
    (blocked.parent / "not_a_folder").write_text("a file\n", encoding="utf-8")
    assert turns_histogram(blocked) == expected

    # Missing data files: one error naming the pattern; no data section: no histogram.
    (path.parent / "release" / "train.csv").unlink()
    with pytest.raises(DataFileError, match="release/train.csv"):
        turns_histogram(path)
    assert turns_histogram(get_benchmark("configs/benchmarks/example_custom.yaml")) is None


def test_a_malformed_shipped_style_histogram_is_one_error(tmp_path):
    folder = tmp_path / "nodata"
    path = _custom_benchmark(folder)
    text = path.read_text(encoding="utf-8").split("data:")[0]
    path.write_text(text, encoding="utf-8")
    (folder / "ticket_kiosk.turns.yaml").write_text("turns_histogram: {0: 3}\n", encoding="utf-8")
    with pytest.raises(TurnHistogramError, match=r"ticket_kiosk.turns.yaml: turns_histogram must map turn counts"):
        turns_histogram(path)


def test_turn_counts_reference_draws_from_a_custom_benchmarks_real_histogram(tmp_path):
    path = _custom_benchmark(tmp_path / "kiosk")
    run = write_run(tmp_path / "run", path, "natural", num_dialogues=6, seed=2, num_rejected=0)
    manifest = read_manifest(run)
    assert manifest.settings["turn_counts"] == "reference"
    assert manifest.settings["turn_distribution"] == {"2": 1, "3": 2, "5": 1}
    assert manifest.benchmark["licence"] == "cc-by-nc-sa-4.0" and "licence" not in manifest.settings["benchmark"]


@pytest.mark.parametrize(("emotion_format", "example", "kind"), [("word", "word", str), ("number", "number", int)])
def test_the_default_custom_prompt_asks_for_what_the_schema_enforces(emotion_format, example, kind):
    custom = get_benchmark("configs/benchmarks/example_custom.yaml")
    config = GenerationConfig(benchmark="x", emotion_format=emotion_format, turn_counts="range")
    task = GenerationTask(config, custom, load_prompt_template(None, custom), None, "json")
    request = task.request(0, 0)
    prompt = request.messages[0]["content"]
    assert f'"emotion": {example}}}' in prompt
    enum = request.json_schema["properties"]["turns"]["items"]["properties"]["emotion"]["enum"]
    assert all(isinstance(value, kind) for value in enum)
    assert "by its word or its number" in prompt
    assert GenerationConfig().emotion_format == "word"


def _card(out: Path) -> DatasetCard:
    return DatasetCard.load(out / "README.md")


def test_the_card_takes_the_data_licence_from_the_benchmark_definition(tmp_path):
    kiosk = _custom_benchmark(tmp_path / "kiosk")
    runs = tmp_path / "runs"
    write_run(runs / "kiosk", kiosk, "natural", num_dialogues=6, seed=1, num_rejected=0)
    build_dataset([runs / "kiosk"], BuildConfig(output=str(tmp_path / "a"), split_ratios="0.5,0.25,0.25"))
    card = _card(tmp_path / "a")
    assert card.data.license == "cc-by-nc-sa-4.0"
    assert "imitate Ticket kiosk, whose data is released under `cc-by-nc-sa-4.0`" in card.text

    write_run(runs / "meld", "meld", "natural", num_dialogues=6, seed=1, num_rejected=0)
    build_dataset([runs / "meld"], BuildConfig(output=str(tmp_path / "b"), split_ratios="0.5,0.25,0.25"))
    assert _card(tmp_path / "b").data.license == "gpl-3.0"

    # Benchmarks under different licences, or a definition without one: unknown, and the card asks.
    write_run(runs / "emory", "emorynlp", "natural", num_dialogues=6, seed=1, num_rejected=0)
    build_dataset(
        [runs / "meld", runs / "emory"], BuildConfig(output=str(tmp_path / "c"), split_ratios="0.5,0.25,0.25")
    )
    mixed = _card(tmp_path / "c")
    assert mixed.data.license == UNKNOWN_LICENCE
    assert "EmoryNLP: apache-2.0, MELD: gpl-3.0" in mixed.text and "--license ID" in mixed.text

    unlicensed = _custom_benchmark(tmp_path / "unlicensed", licence=None)
    write_run(runs / "unlicensed", unlicensed, "natural", num_dialogues=6, seed=1, num_rejected=0)
    build_dataset([runs / "unlicensed"], BuildConfig(output=str(tmp_path / "d"), split_ratios="0.5,0.25,0.25"))
    unknown = _card(tmp_path / "d")
    assert unknown.data.license == UNKNOWN_LICENCE and "Ticket kiosk: not stated" in unknown.text

    # The licence given for the build wins.
    build_dataset(
        [runs / "meld"], BuildConfig(output=str(tmp_path / "e"), split_ratios="0.5,0.25,0.25", license="mit")
    )
    assert _card(tmp_path / "e").data.license == "mit"


@pytest.mark.real_data
@pytest.mark.parametrize(("name", "folder"), [("meld", "meld"), ("emorynlp", "emorynlp")])
def test_the_shipped_histograms_are_the_real_train_splits(shared_data, name, folder):
    rows, _ = read_benchmark(name, shared_data / folder, splits=("train",))
    counted = dict(sorted(Counter(len(row["utterances"]) for row in rows["train"]).items()))
    assert turns_histogram(name) == counted
