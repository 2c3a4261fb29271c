"""A custom benchmark from scratch: its real files in the generic format (CSV, TSV, JSON Lines, Parquet), read by
`load_benchmark` and `erc-synth stats`; malformed files of each type fail with file and line; built-in names are
refused the same way everywhere; `max_eval_utterances` cuts a test split exactly and says so."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from erc_synth.cli import main as cli_main
from erc_synth_datasets import BenchmarkError, DataFileError, get_benchmark, load_benchmark, load_benchmark_yaml
from erc_synth_datasets.benchmarks import Benchmark, GenericData, register_benchmark

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "custom" / "ticket_kiosk_dialogues.json"
FILE_TYPES = ("csv", "tsv", "jsonl", "parquet")
SPLIT_SIZES = {"train": 16, "validation": 4, "test": 4}  # dialogues of the fixture, in order


def fixture_dialogues() -> dict[str, list[dict]]:
    """The invented dialogues of the fixture, cut into train/validation/test in file order."""
    dialogues = json.loads(FIXTURE.read_text(encoding="utf-8"))["dialogues"]
    out, start = {}, 0
    for split, size in SPLIT_SIZES.items():
        out[split], start = dialogues[start : start + size], start + size
    return out


def benchmark_yaml(name: str = "ticket_kiosk", data: dict | None = None) -> dict:
    definition = {
        "name": name,
        "display_name": "Ticket kiosk",
        "labels": ["neutral", "pleased", "confused", "irritated"],
        "label_words": ["calm", "pleased", "puzzled", "annoyed"],
        "speakers": ["Clerk", "Traveller"],
        "other_speakers": False,
        "speaker_aliases": {"C": "Clerk", "T": "Traveller"},
        "min_speakers": 2,
        "description": "a short exchange between a traveller and a clerk at a railway ticket counter",
    }
    if data is not None:
        definition["data"] = data
    return definition


# The release under test spells its columns its own way and numbers its labels in another order.
COLUMNS = {"dialogue_id": "conversation", "turn": "position", "speaker": "who", "utterance": "text", "emotion": "tag"}
RELEASE_IDS = {"irritated": 0, "confused": 1, "pleased": 2, "neutral": 3}
LABEL_MAP = {str(i): label for label, i in RELEASE_IDS.items()}


def release_rows(dialogues: list[dict], *, split: str | None = None, reverse_turns: bool = False) -> list[dict]:
    """One row per utterance with the release's column names and label ids (rows of a dialogue in reverse order
    when `reverse_turns`, so that only the turn column gives the order)."""
    rows = []
    for dialogue in dialogues:
        turns = list(enumerate(zip(dialogue["speakers"], dialogue["utterances"], dialogue["emotions"], strict=True)))
        for turn, (speaker, utterance, emotion) in reversed(turns) if reverse_turns else turns:
            row = {
                COLUMNS["dialogue_id"]: dialogue["dialogue_id"],
                COLUMNS["turn"]: turn,
                COLUMNS["speaker"]: speaker[0],  # the release writes C / T (speaker_aliases)
                COLUMNS["utterance"]: utterance,
                COLUMNS["emotion"]: RELEASE_IDS[emotion],
            }
            if split is not None:
                row["part"] = split
            rows.append(row)
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Writes rows in the file type of `path`'s extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    if path.suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".tsv":
        lines = ["\t".join(columns)] + ["\t".join(str(row[c]) for c in columns) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def make_custom_benchmark(folder: Path, file_type: str, *, name: str = "ticket_kiosk") -> Path:
    """A custom benchmark YAML with one `file_type` file per split under `folder/release/`; returns the YAML."""
    for split, dialogues in fixture_dialogues().items():
        write_rows(folder / "release" / f"{split}_part.{file_type}", release_rows(dialogues, reverse_turns=True))
    data = {
        "files": {split: f"release/{split}_*.{file_type}" for split in SPLIT_SIZES},
        "columns": COLUMNS,
        "label_map": LABEL_MAP,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(benchmark_yaml(name, data), sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("file_type", FILE_TYPES)
def test_each_file_type_loads_the_dialogues_exactly(tmp_path, file_type):
    path = make_custom_benchmark(tmp_path, file_type)
    dataset, report = load_benchmark(path, return_report=True)
    expected = fixture_dialogues()
    labels = ["neutral", "pleased", "confused", "irritated"]
    for split, dialogues in expected.items():
        assert dataset[split].features["emotions"].feature.names == labels
        assert dataset[split]["dialogue_id"] == [d["dialogue_id"] for d in dialogues]
        assert dataset[split]["utterances"] == [d["utterances"] for d in dialogues]  # turn order restored
        assert dataset[split]["speakers"] == [d["speakers"] for d in dialogues]  # C/T -> Clerk/Traveller
        assert [[labels[i] for i in e] for e in dataset[split]["emotions"]] == [d["emotions"] for d in dialogues]
        assert report.files[split].endswith(f"{split}_part.{file_type}")
        assert report.formats[split] == f"generic ({file_type})"
    assert get_benchmark("ticket_kiosk").data is not None  # registered by reading it


def test_one_file_with_a_split_column_and_label_names(tmp_path):
    rows = []
    for split, dialogues in fixture_dialogues().items():
        spelled = {"train": "trn", "validation": "dev", "test": "tst"}[split]
        for row in release_rows(dialogues, split=spelled):
            row[COLUMNS["emotion"]] = LABEL_MAP[str(row[COLUMNS["emotion"]])]  # label names this time
            del row[COLUMNS["turn"]]  # file order gives the turns
            rows.append(row)
    write_rows(tmp_path / "all.parquet", rows)
    data = {"files": "all.parquet", "columns": {**COLUMNS, "split": "part"}}
    data["columns"].pop("turn")
    dataset = load_benchmark(get_benchmark_from(tmp_path, data), data_dir=tmp_path)
    assert {split: len(ds) for split, ds in dataset.items()} == SPLIT_SIZES
    assert dataset["test"]["utterances"] == [d["utterances"] for d in fixture_dialogues()["test"]]


def get_benchmark_from(folder: Path, data: dict, name: str = "ticket_kiosk") -> Benchmark:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(benchmark_yaml(name, data)), encoding="utf-8")
    return get_benchmark(path)


def test_default_layout_reads_canonical_ids_and_names(tmp_path):
    """No `data:` section: `train.<ext>`, `validation.<ext>`, `test.<ext>` with the default column names."""
    for split, dialogues in fixture_dialogues().items():
        rows = [
            {"dialogue_id": d["dialogue_id"], "speaker": s, "utterance": u, "emotion": e}
            for d in dialogues
            for s, u, e in zip(d["speakers"], d["utterances"], d["emotions"], strict=True)
        ]
        for i, row in enumerate(rows):  # every other emotion as its canonical id
            if i % 2:
                row["emotion"] = ["neutral", "pleased", "confused", "irritated"].index(row["emotion"])
        write_rows(tmp_path / "data" / f"{split}.jsonl", rows)
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(benchmark_yaml("ticket_plain")), encoding="utf-8")
    dataset = load_benchmark(path, tmp_path / "data")
    assert dataset["train"]["utterances"] == [d["utterances"] for d in fixture_dialogues()["train"]]
    names = dataset["train"].features["emotions"].feature.names
    assert [[names[i] for i in e] for e in dataset["train"]["emotions"]] == [
        d["emotions"] for d in fixture_dialogues()["train"]
    ]
    (tmp_path / "data" / "test.csv").write_text("dialogue_id,speaker,utterance,emotion\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"Several test files .*test\.csv.*test\.jsonl"):
        load_benchmark(path, tmp_path / "data")


def test_a_builtin_benchmark_reads_converted_files_as_its_release(benchmark_fixtures, tmp_path):
    release = load_benchmark("meld", benchmark_fixtures / "meld")
    for split, dataset in release.items():
        names = dataset.features["emotions"].feature.names
        rows = [
            {"dialogue_id": d["dialogue_id"], "turn": t, "speaker": s, "utterance": u, "emotion": names[e]}
            for d in dataset
            for t, (s, u, e) in enumerate(zip(d["speakers"], d["utterances"], d["emotions"], strict=True))
        ]
        write_rows(tmp_path / "converted" / f"{split}.csv", rows)
    converted, report = load_benchmark("meld", tmp_path / "converted", format="generic", return_report=True)
    assert report.formats["test"] == "generic (csv)"
    for split in release:
        for column in ("dialogue_id", "speakers", "utterances", "emotions"):
            assert converted[split][column] == release[split][column]
    # The same files with ids in another order, through a mapping given at load time.
    layout = GenericData.from_dict({"label_map": {"joy": "joy", "happy": "joy"}})
    assert (
        load_benchmark("meld", tmp_path / "converted", data=layout)["test"]["emotions"] == release["test"]["emotions"]
    )


def test_stats_of_a_custom_benchmark_needs_no_data_dir(tmp_path, capsys):
    path = make_custom_benchmark(tmp_path, "tsv")
    assert cli_main(["stats", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["benchmark"] == "ticket_kiosk"
    expected = fixture_dialogues()
    for split, dialogues in expected.items():
        assert stats["splits"][split]["dialogues"] == len(dialogues)
        assert stats["splits"][split]["utterances"] == sum(len(d["utterances"]) for d in dialogues)
    assert list(stats["splits"]["train"]["labels"]) == ["neutral", "pleased", "confused", "irritated"]


# --- malformed files: every type, file and line (or Parquet row) and what was expected --------------------------


def _break(tmp_path: Path, file_type: str, edit) -> tuple[Path, Path]:
    """A custom benchmark whose test file was changed by `edit(path)`; returns (YAML, test file)."""
    path = make_custom_benchmark(tmp_path, file_type)
    test_file = tmp_path / "release" / f"test_part.{file_type}"
    edit(test_file)
    return path, test_file


def _replace_line(path: Path, lineno: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[lineno - 1] = text
    path.write_text("\n".join(lines), encoding="utf-8")


TEXT_CASES = {
    "csv": [
        (lambda p: _replace_line(p, 3, "k020,1,C,only three"), r":3: expected 5 comma-separated fields"),
        (lambda p: _replace_line(p, 4, 'k020,2,C,"never closed,0'), r":4: not valid CSV"),
        (lambda p: _replace_line(p, 2, "k020,x,C,Hello there.,3"), r":2: column 'position' must hold an integer"),
        (lambda p: _replace_line(p, 5, "k021,0,C,Hello there.,9"), r":5: unknown Ticket kiosk label '9'"),
    ],
    "tsv": [
        (lambda p: _replace_line(p, 1, "conversation\tposition\twho\ttext"), r":1: the header lacks the columns"),
        (lambda p: _replace_line(p, 3, "k020\t1\tC\tone\ttoo\tmany"), r":3: expected 5 tab-separated fields"),
        (lambda p: _replace_line(p, 2, "k020\t0\tGuard\tStop.\t3"), r":2: speaker 'Guard' is not one of"),
        (lambda p: _replace_line(p, 4, "k020\t1\tC\t   \t3"), r":4: column 'text' is empty"),
    ],
    "jsonl": [
        (lambda p: _replace_line(p, 2, '{"conversation": "k020", '), r":2: not valid JSON"),
        (lambda p: _replace_line(p, 3, "[1, 2]"), r":3: expected one JSON object per line"),
        (
            lambda p: _replace_line(p, 2, '{"conversation": "k020", "position": 0, "who": "C", "text": "Hi."}'),
            r":2: the object lacks the keys \['tag'\]",
        ),
        (
            lambda p: _replace_line(p, 4, '{"conversation": "k020", "position": 0, "who": "C", "text": 7, "tag": 3}'),
            r":4: column 'text' must hold text, but got 7",
        ),
    ],
}


@pytest.mark.parametrize(
    ("file_type", "index"), [(t, i) for t, cases in TEXT_CASES.items() for i in range(len(cases))]
)
def test_malformed_text_files_name_file_and_line(tmp_path, file_type, index):
    edit, message = TEXT_CASES[file_type][index]
    path, test_file = _break(tmp_path, file_type, edit)
    with pytest.raises(DataFileError, match=message) as info:
        load_benchmark(path)
    assert str(info.value).startswith(str(test_file))


def test_malformed_parquet_files_name_file_and_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = make_custom_benchmark(tmp_path, "parquet")
    test_file = tmp_path / "release" / "test_part.parquet"
    rows = pq.read_table(test_file).to_pylist()
    rows[2][COLUMNS["emotion"]] = 17
    pq.write_table(pa.Table.from_pylist(rows), test_file)
    with pytest.raises(DataFileError, match=rf"^{test_file}: row 3: unknown Ticket kiosk label 17 in column 'tag'"):
        load_benchmark(path)
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if k != "who"} for r in rows]), test_file)
    with pytest.raises(DataFileError, match=rf"^{test_file}: schema: the header lacks the columns \['who'\]"):
        load_benchmark(path)
    test_file.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(DataFileError, match=rf"^{test_file}: not a readable Parquet file"):
        load_benchmark(path)


def test_repeated_turns_missing_files_and_bad_utf8(tmp_path):
    path = make_custom_benchmark(tmp_path, "csv")
    test_file = tmp_path / "release" / "test_part.csv"
    lines = test_file.read_text(encoding="utf-8").split("\n")
    first = lines[1].split(",")
    lines.insert(2, ",".join([first[0], first[1], "T", "Same turn again.", "3"]))
    test_file.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataFileError, match=rf"{test_file}:3: dialogue 'k020' has turn {first[1]} twice .*:2\)"):
        load_benchmark(path)
    test_file.write_bytes(b"conversation,position,who,text,tag\nk020,0,C,caf\xe9,3\n")
    with pytest.raises(DataFileError, match=rf"{test_file}:2: not valid UTF-8"):
        load_benchmark(path)
    test_file.unlink()
    with pytest.raises(DataFileError, match=r"No test file for Ticket kiosk matches 'release/test_\*\.csv'"):
        load_benchmark(path)


def test_a_label_map_with_ids_owns_the_ids(tmp_path):
    path = make_custom_benchmark(tmp_path, "jsonl")
    definition = yaml.safe_load(path.read_text(encoding="utf-8"))
    definition["data"]["label_map"] = {k: v for k, v in LABEL_MAP.items() if k != "0"}  # id 0 left out
    path.write_text(yaml.safe_dump(definition), encoding="utf-8")
    # Id 0 is not read as the canonical label 0 ('neutral'): the release numbers its labels otherwise.
    with pytest.raises(DataFileError, match=r"unknown Ticket kiosk label 0 in column 'tag'.*data\.label_map"):
        load_benchmark(path)
    definition["data"]["label_map"]["0"] = "furious"
    path.write_text(yaml.safe_dump(definition), encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"label_map maps onto labels Ticket kiosk does not define"):
        load_benchmark_yaml(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "red"}, r"'data' has unknown keys \['colour'\]"),
        ({"files": {"training": "a.csv"}}, r"data.files has unknown splits \['training'\]"),
        ({"columns": {"mood": "m"}}, r"data.columns has unknown roles \['mood'\]"),
        ({"format": "xlsx"}, r"data.format must be one of"),
        ({"files": 3}, r"'data.files' must be a file name or pattern"),
    ],
)
def test_bad_data_sections_are_refused(tmp_path, data, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(benchmark_yaml("ticket_bad", data)), encoding="utf-8")
    with pytest.raises(BenchmarkError, match=message):
        load_benchmark_yaml(path)


# --- one rule for names -------------------------------------------------------------------------------------------

COLLISION = "the name 'iemocap' belongs to the built-in benchmark IEMOCAP; a custom benchmark needs a name of its own"


@pytest.fixture
def colliding_yaml(tmp_path) -> Path:
    path = make_custom_benchmark(tmp_path, "csv", name="iemocap")
    return path


def test_a_builtin_name_is_refused_by_the_library(colliding_yaml):
    for call in (get_benchmark, load_benchmark_yaml, load_benchmark):
        with pytest.raises(BenchmarkError, match=COLLISION):
            call(colliding_yaml)
    impostor = Benchmark(name="meld", display_name="Mine", labels=("a", "b"), speakers=("X",), description="d")
    for call in (lambda b: register_benchmark(b, overwrite=True), get_benchmark, lambda b: load_benchmark(b, ".")):
        with pytest.raises(BenchmarkError, match="belongs to the built-in benchmark MELD"):
            call(impostor)
    # The built-in definition itself, rebuilt from its plain data (as a run's manifest stores it), is no impostor.
    assert get_benchmark(Benchmark(**get_benchmark("meld").to_dict())) == get_benchmark("meld")
    assert get_benchmark("iemocap").labels == ("hap", "sad", "neu", "ang", "exc", "fru")  # untouched
    assert register_benchmark(get_benchmark("meld")) is get_benchmark("meld")


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "{yaml}"],
        ["generate", "--benchmark", "{yaml}", "--num-dialogues", "1", "--output-dir", "{tmp}/run"],
        pytest.param(
            ["train", "--benchmark", "{yaml}", "--output_dir", "{tmp}/train", "--model_name_or_path", "x"],
            marks=pytest.mark.slow,  # imports torch and transformers
        ),
        ["experiment", "{tmp}/experiment.yaml"],
    ],
    ids=["stats", "generate", "train", "experiment"],
)
def test_a_builtin_name_is_refused_by_every_command_the_same_way(colliding_yaml, tmp_path, argv, capsys):
    (tmp_path / "experiment.yaml").write_text(
        yaml.safe_dump({"benchmarks": [str(colliding_yaml)], "variants": ["org"], "test_modes": []}),
        encoding="utf-8",
    )
    # In-process: any exception other than the one-line report would fail the test here.
    assert cli_main([a.format(yaml=colliding_yaml, tmp=tmp_path) for a in argv]) != 0
    err = capsys.readouterr().err
    assert COLLISION in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "train" / "results.json").exists()


# --- smoke runs may cap evaluation, visibly -----------------------------------------------------------------------


def test_max_eval_utterances_keeps_whole_contexts_and_is_recorded(tmp_path):
    from trainers.config import DataArguments
    from trainers.data import count_utterances, head_utterances, load_real
    from trainers.results import table_row_name

    path = make_custom_benchmark(tmp_path, "csv")
    full = load_benchmark(path)["test"]
    lengths = [len(e) for e in full["emotions"]]
    cap = lengths[0] + 1  # the first dialogue and one utterance of the second
    head = head_utterances(full, cap)
    assert count_utterances(head) == cap and len(head) == 2
    assert head["utterances"][0] == full["utterances"][0]
    assert head["utterances"][1] == full["utterances"][1][:1]
    assert count_utterances(head_utterances(full, 10_000)) == sum(lengths)

    with pytest.warns(UserWarning, match=rf"first {cap} of {sum(lengths)} utterances \(max_eval_utterances={cap}\)"):
        dataset, revision = load_real(DataArguments(benchmark=str(path), max_eval_utterances=cap), get_benchmark(path))
    assert count_utterances(dataset["test"]) == cap
    assert count_utterances(dataset["train"]) == sum(len(d["utterances"]) for d in fixture_dialogues()["train"])
    assert revision["test_cut"] == {"max_eval_utterances": cap, "scored_utterances": cap, "of": sum(lengths)}
    assert revision["num_utterances"]["test"] == sum(lengths)
    assert revision["sha256"] and revision["files"]["test"].endswith("test_part.csv")

    results = {
        "settings": {"data": {"max_eval_utterances": cap}},
        "test": {"ticket_kiosk_real": {"num_utterances": cap}},
    }
    assert table_row_name(results, "ticket_kiosk_real") == f"ticket_kiosk_real[first {cap} utterances]"
    results["settings"]["data"]["max_eval_utterances"] = None
    assert table_row_name(results, "ticket_kiosk_real") == "ticket_kiosk_real"


@pytest.mark.slow
def test_real_meld_converted_to_the_generic_format_keeps_the_published_counts(shared_data, tmp_path):
    """The real MELD release, converted once into one Parquet file with a split column (in a temporary folder),
    reads back with the same dialogues and the published counts (9989 / 1109 / 2610 utterances)."""
    release = load_benchmark("meld", shared_data / "meld")
    rows = []
    for split, dataset in release.items():
        names = dataset.features["emotions"].feature.names
        for dialogue in dataset:
            for turn, (speaker, utterance, emotion) in enumerate(
                zip(dialogue["speakers"], dialogue["utterances"], dialogue["emotions"], strict=True)
            ):
                rows.append(
                    {"dialogue_id": dialogue["dialogue_id"], "turn": turn, "speaker": speaker,
                     "utterance": utterance, "emotion": names[emotion], "split": split}
                )  # fmt: skip
    write_rows(tmp_path / "meld.parquet", rows)
    converted = load_benchmark("meld", tmp_path, data={"files": "meld.parquet"})
    counts = {split: sum(map(len, dataset["emotions"])) for split, dataset in converted.items()}
    assert counts == {"train": 9989, "validation": 1109, "test": 2610}
    for split in release:
        assert converted[split]["utterances"] == release[split]["utterances"]
        assert converted[split]["emotions"] == release[split]["emotions"]
