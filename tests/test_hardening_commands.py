"""What a command does with the settings a user gives it: a custom benchmark's `data:` section is the real side of
every command that reads real data, an option a config file set can be reset to its default, and a missing input
folder is named before any work. One test per class, on real files and the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from run_fixtures import write_run
from test_custom_benchmark import fixture_dialogues, make_custom_benchmark

from erc_synth.cli import main as erc_synth


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = erc_synth([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_quality_of_a_custom_benchmark_reads_the_real_side_from_its_yaml(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ERC_SYNTH_DATA_DIR", raising=False)
    definition = make_custom_benchmark(tmp_path / "bench", "csv")
    run = write_run(tmp_path / "run", benchmark=definition, mode="natural", num_dialogues=4, num_rejected=0)
    code, out, err = run_cli(capsys, "quality", run, "--benchmark", definition, "--no-embeddings", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["real"]["kind"] == "data"
    assert report["real"]["dialogues"] == len(fixture_dialogues()["train"])
