import json
import shutil
from collections import Counter

import pytest

from erc_synth_datasets import DataFileError, dialogue_features, load_benchmark
from erc_synth_datasets.loaders import read_benchmark


def _counts(dataset_dict):
    out = {}
    for split, ds in dataset_dict.items():
        names = ds.features["emotions"].feature.names
        labels = Counter(names[i] for emotions in ds["emotions"] for i in emotions)
        out[split] = (len(ds), sum(labels.values()), dict(labels))
    return out


# --- the project's own fixtures, every format -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("benchmark", "fmt", "expected"),
    [
        ("meld", "csv", {"train": (3, 9), "validation": (2, 4), "test": (2, 5)}),
        ("meld", "tsv", {"train": (3, 9), "validation": (2, 4), "test": (2, 5)}),
        ("emorynlp", "tsv", {"train": (2, 6), "validation": (1, 2), "test": (1, 3)}),
        ("iemocap", "tsv", {"train": (2, 7), "validation": (1, 2), "test": (1, 3)}),
        ("iemocap", "json", {"train": (2, 7), "validation": (1, 2), "test": (1, 3)}),
    ],
)
def test_fixture_formats(benchmark_fixtures, benchmark, fmt, expected):
    ds, report = load_benchmark(benchmark, benchmark_fixtures / benchmark, format=fmt, return_report=True)
    assert {s: c[:2] for s, c in _counts(ds).items()} == expected
    assert ds["train"].features == dialogue_features(benchmark)
    assert all(report.formats[s] == fmt for s in ds)


def test_meld_fixture_content(benchmark_fixtures):
    ds = load_benchmark("meld", benchmark_fixtures / "meld")
    first = ds["train"][0]
    assert first["speakers"] == ["Ross", "Joey", "Ross"]
    assert first["utterances"][1] == "Wait, you did that yourself?"
    names = ds["train"].features["emotions"].feature.names
    assert [names[i] for i in first["emotions"]] == ["joy", "surprise", "neutral"]
    assert first["mode"] is None and first["generator_model"] is None and first["sampling"] is None
    # Both MELD formats give the same dialogues.
    tsv = load_benchmark("meld", benchmark_fixtures / "meld", format="tsv")
    for split in ds:
        assert ds[split]["utterances"] == tsv[split]["utterances"]
        assert ds[split]["emotions"] == tsv[split]["emotions"]


def test_emorynlp_auto_mixes_json_and_tsv_and_notes_multi_speaker(benchmark_fixtures):
    ds, report = load_benchmark("emorynlp", benchmark_fixtures / "emorynlp", return_report=True)
    assert report.formats == {"train": "tsv", "validation": "json", "test": "json"}
    assert ds["validation"][0]["dialogue_id"] == "s09_e01_c01"
    assert ds["validation"][0]["speakers"][0] == "Phoebe Buffay"  # first of two speakers kept
    assert report.notes["validation"] == {"utterances with several speakers: kept the first speaker": 1}


def test_iemocap_speakers_canonical_and_unlabelled_counted(benchmark_fixtures):
    ds, report = load_benchmark("iemocap", benchmark_fixtures / "iemocap", format="json", return_report=True)
    assert set(ds["train"][0]["speakers"]) == {"Male", "Female"}
    assert report.skipped["train"] == {"utterances without a 6-way label": 2}
    assert ds["train"][0]["dialogue_id"] == "Demo01F_train01"
    tsv = load_benchmark("iemocap", benchmark_fixtures / "iemocap", format="tsv")
    assert tsv["train"]["speakers"] == ds["train"]["speakers"]


# --- broken files -------------------------------------------------------------------------------------------------


def _copy(benchmark_fixtures, tmp_path, benchmark):
    target = tmp_path / benchmark
    shutil.copytree(benchmark_fixtures / benchmark, target)
    return target


def test_tsv_unknown_label_names_file_line_and_valid_labels(benchmark_fixtures, tmp_path):
    folder = _copy(benchmark_fixtures, tmp_path, "iemocap")
    path = folder / "iemocap_dev.txt"
    path.write_text("F\tHello there.\tneu\nM\tHi.\thappy\n")
    with pytest.raises(
        DataFileError, match=r"iemocap_dev\.txt:2: unknown IEMOCAP label 'happy'; valid labels are: hap"
    ):
        load_benchmark("iemocap", folder, format="tsv")


def test_tsv_too_few_fields(benchmark_fixtures, tmp_path):
    folder = _copy(benchmark_fixtures, tmp_path, "emorynlp")
    (folder / "EMORY_train.txt").write_text("Ross Geller\tHi.\tNeutral\n\nRoss Geller Hi Neutral\n")
    with pytest.raises(
        DataFileError, match=r"EMORY_train\.txt:3: expected speaker<TAB>utterance<TAB>emotion.*1 field"
    ):
        load_benchmark("emorynlp", folder)


def test_extra_field_in_headerless_line_is_refused_not_glued_onto_the_utterance(benchmark_fixtures, tmp_path):
    folder = _copy(benchmark_fixtures, tmp_path, "iemocap")
    (folder / "iemocap_test.txt").write_text("M\tWell,\tfine then.\tneu\nF\tOkay.\thap\n")
    with pytest.raises(
        DataFileError, match=r"iemocap_test\.txt:1: expected speaker<TAB>utterance<TAB>emotion \(3 tab"
    ):
        load_benchmark("iemocap", folder, format="tsv")


def test_meld_csv_errors(benchmark_fixtures, tmp_path):
    folder = _copy(benchmark_fixtures, tmp_path, "meld")
    csv_path = folder / "dev_sent_emo.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(lines[:2] + [lines[2].replace(",joy,", ",scared,")]) + "\n")
    with pytest.raises(DataFileError, match=r"dev_sent_emo\.csv:3: unknown MELD label 'scared'"):
        load_benchmark("meld", folder, format="csv")
    csv_path.write_text("Utterance,Speaker,Emotion\nHi,Ross,joy\n")
    with pytest.raises(DataFileError, match=r"dev_sent_emo\.csv:1: the header lacks the MELD columns \['Dialogue_ID'"):
        load_benchmark("meld", folder, format="csv")
    csv_path.write_text(lines[0] + "\n" + lines[1].replace(",0,0,", ",zero,0,") + "\n")
    with pytest.raises(DataFileError, match=r"dev_sent_emo\.csv:2: Dialogue_ID must be an integer, but got 'zero'"):
        load_benchmark("meld", folder, format="csv")
    csv_path.write_bytes(lines[0].encode() + b"\n1,caf\xe9,Ross,joy,positive,0,0,1,1,a,b\n")
    with pytest.raises(DataFileError, match=r"dev_sent_emo\.csv:2: not valid UTF-8"):
        load_benchmark("meld", folder, format="csv")


def test_json_errors(benchmark_fixtures, tmp_path):
    folder = _copy(benchmark_fixtures, tmp_path, "emorynlp")
    path = folder / "emotion-detection-tst.json"
    path.write_text('{"episodes": [')
    with pytest.raises(DataFileError, match=r"emotion-detection-tst\.json:1: not valid JSON"):
        load_benchmark("emorynlp", folder)
    data = {
        "episodes": [
            {
                "scenes": [
                    {"scene_id": "x", "utterances": [{"speakers": ["A"], "transcript": "Hi", "emotion": "Angry"}]}
                ]
            }
        ]
    }
    path.write_text(json.dumps(data))
    with pytest.raises(DataFileError, match=r"episodes\[0\]\.scenes\[0\]\.utterances\[0\]: unknown EmoryNLP label"):
        load_benchmark("emorynlp", folder)

    iemocap = _copy(benchmark_fixtures, tmp_path, "iemocap")
    (iemocap / "dev_data.json").write_text(json.dumps([[{"text": "Hi", "speaker": "nospeaker", "label": "neu"}]]))
    with pytest.raises(DataFileError, match=r"dev_data\.json: \[0\]\[0\]: expected a 'speaker' like"):
        load_benchmark("iemocap", iemocap, format="json")


def test_missing_files_and_unknown_format(benchmark_fixtures, tmp_path):
    folder = _copy(benchmark_fixtures, tmp_path, "meld")
    for name in ("test_sent_emo.csv", "MELD_test.txt"):
        (folder / name).unlink()
    with pytest.raises(
        DataFileError,
        match=r"No test file for MELD under .*expected test_sent_emo\.csv \(csv\), "
        r"MELD_test\.txt \(tsv\)",
    ):
        load_benchmark("meld", folder)
    with pytest.raises(DataFileError, match="Unknown format 'xml' for MELD; available: auto, csv, tsv"):
        load_benchmark("meld", folder, format="xml")
    with pytest.raises(DataFileError, match="does not exist"):
        load_benchmark("meld", tmp_path / "nowhere")


def test_ambiguous_files_at_same_depth(benchmark_fixtures, tmp_path):
    for sub in ("a", "b"):
        shutil.copytree(benchmark_fixtures / "meld", tmp_path / "meld" / sub)
    with pytest.raises(DataFileError, match="several files named 'train_sent_emo.csv'"):
        read_benchmark("meld", tmp_path / "meld")


# --- the real benchmark files -------------------------------------------------------------------------------------

MELD_COUNTS = {
    "train": {
        "neutral": 4710,
        "joy": 1743,
        "surprise": 1205,
        "anger": 1109,
        "sadness": 683,
        "disgust": 271,
        "fear": 268,
    },
    "validation": {
        "neutral": 470,
        "joy": 163,
        "anger": 153,
        "surprise": 150,
        "sadness": 111,
        "fear": 40,
        "disgust": 22,
    },
    "test": {"neutral": 1256, "joy": 402, "anger": 345, "surprise": 281, "sadness": 208, "disgust": 68, "fear": 50},
}
EMORY_COUNTS = {
    "train": {
        "Neutral": 3034,
        "Joyful": 2184,
        "Scared": 1285,
        "Mad": 1076,
        "Peaceful": 900,
        "Powerful": 784,
        "Sad": 671,
    },
    "validation": {
        "Neutral": 393,
        "Joyful": 289,
        "Scared": 178,
        "Mad": 143,
        "Powerful": 134,
        "Peaceful": 132,
        "Sad": 75,
    },
    "test": {"Neutral": 349, "Joyful": 282, "Scared": 182, "Peaceful": 159, "Powerful": 145, "Mad": 113, "Sad": 98},
}
IEMOCAP_COUNTS = {
    "train": {"fru": 1296, "neu": 1221, "ang": 831, "sad": 771, "exc": 593, "hap": 451},
    "validation": {"fru": 172, "exc": 149, "neu": 103, "ang": 102, "sad": 68, "hap": 53},
    "test": {"neu": 384, "fru": 381, "exc": 299, "sad": 245, "ang": 170, "hap": 144},
}


# Per benchmark: (dialogues, utterances, utterances per label) of each split, as published.
REAL_COUNTS = {
    "meld": (
        {"train": 1038, "validation": 114, "test": 280},
        {"train": 9989, "validation": 1109, "test": 2610},
        MELD_COUNTS,
    ),
    "emorynlp": (
        {"train": 713, "validation": 99, "test": 85},
        {"train": 9934, "validation": 1344, "test": 1328},
        EMORY_COUNTS,
    ),
}


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("name", "fmt"), [("meld", "csv"), ("meld", "tsv"), ("emorynlp", "auto"), ("emorynlp", "tsv")]
)
def test_real_meld_and_emorynlp(shared_data, name, fmt):
    counts = _counts(load_benchmark(name, shared_data / name, format=fmt))
    dialogues, utterances, labels = REAL_COUNTS[name]
    assert {s: c[1] for s, c in counts.items()} == utterances
    assert {s: c[0] for s, c in counts.items()} == dialogues
    assert {s: c[2] for s, c in counts.items()} == labels


@pytest.mark.real_data
def test_real_iemocap_six_way(shared_data):
    counts = _counts(load_benchmark("iemocap", shared_data / "iemocap"))
    assert counts["train"][1] + counts["validation"][1] == 5810
    assert counts["train"][0] + counts["validation"][0] == 120
    assert counts["test"][:2] == (31, 1623)
    assert {s: c[2] for s, c in counts.items()} == IEMOCAP_COUNTS


@pytest.mark.real_data
def test_real_iemocap_dagerc_counts_what_it_skips(shared_data):
    ds, report = load_benchmark("iemocap", shared_data / "iemocap", format="json", return_report=True)
    assert {s: len(d) for s, d in ds.items()} == {"train": 100, "validation": 20, "test": 31}
    assert {s: sum(map(len, d["emotions"])) for s, d in ds.items()} == {"train": 4778, "validation": 980, "test": 1622}
    assert {s: sum(c.values()) for s, c in report.skipped.items()} == {"train": 1712, "validation": 421, "test": 574}
