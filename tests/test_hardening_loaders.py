"""Malformed benchmark files (all of them test-split files): each family of the hand-written corpus gives a
`DataFileError` naming the file, the line (or JSON path) and what was expected; a byte-order mark is accepted by
every text format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from erc_synth_datasets import DataFileError, load_benchmark
from erc_synth_datasets.errors import ErcSynthError

CORPUS = json.loads((Path(__file__).parent / "fixtures" / "hardening" / "benchmark_files.json").read_text())["cases"]


def _content(case: dict) -> str:
    content = case["content"]
    return content if isinstance(content, str) else "".join(piece * count for piece, count in content)


def _folder_with(benchmark_fixtures: Path, tmp_path: Path, case: dict) -> Path:
    folder = tmp_path / case["benchmark"]
    shutil.copytree(benchmark_fixtures / case["benchmark"], folder)
    (folder / case["file"]).write_text(_content(case), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "case", [c for c in CORPUS if "error" in c], ids=lambda c: f"{c['family']}-{c['benchmark']}-{c['format']}"
)
def test_malformed_file_names_file_place_and_expectation(benchmark_fixtures, tmp_path, case):
    folder = _folder_with(benchmark_fixtures, tmp_path, case)
    with pytest.raises(DataFileError, match=case["error"]) as caught:
        load_benchmark(case["benchmark"], folder, format=case["format"], splits=("test",))
    assert str(folder / case["file"]) in str(caught.value)
    assert isinstance(caught.value, ErcSynthError)


@pytest.mark.parametrize(
    "case", [c for c in CORPUS if "expected" in c], ids=lambda c: f"{c['family']}-{c['benchmark']}-{c['format']}"
)
def test_byte_order_mark_is_read_by_every_format(benchmark_fixtures, tmp_path, case):
    folder = _folder_with(benchmark_fixtures, tmp_path, case)
    dataset = load_benchmark(case["benchmark"], folder, format=case["format"], splits=(case["split"],))
    assert dataset[case["split"]]["speakers"] == case["expected"]
    assert all("\ufeff" not in u for dialogue in dataset[case["split"]]["utterances"] for u in dialogue)


def test_corpus_covers_every_family():
    families = {case["family"] for case in CORPUS}
    assert families == {
        "json_structure",
        "empty_file",
        "csv_rows",
        "duplicates",
        "closed_speakers",
        "tsv_fields",
        "byte_order_mark",
    }
    assert {(c["benchmark"], c["format"]) for c in CORPUS if c["family"] == "byte_order_mark"} == {
        ("meld", "csv"),
        ("meld", "tsv"),
        ("iemocap", "tsv"),
        ("iemocap", "json"),
        ("emorynlp", "json"),
        ("emorynlp", "tsv"),
    }
