import json
import subprocess
import sys

import pytest

from erc_synth.cli import main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("stats", "generate", "build", "push", "train", "experiment", "significance"):
        assert name in out


def test_unknown_command_suggests(capsys):
    assert main(["stat"]) == 2
    assert "Did you mean 'stats'" in capsys.readouterr().err


def test_stats_json_contract_on_fixture(benchmark_fixtures, capsys):
    assert main(["stats", "meld", "--data-dir", str(benchmark_fixtures / "meld"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["splits"]["train"]["dialogues"] == 3
    assert stats["splits"]["train"]["utterances"] == 9
    assert stats["splits"]["train"]["labels"] == {
        "neutral": 2,
        "surprise": 1,
        "fear": 1,
        "sadness": 2,
        "joy": 1,
        "disgust": 1,
        "anger": 1,
    }
    assert list(stats["splits"]) == ["train", "validation", "test"]
    assert stats["splits"]["test"]["mean_turns"] == 2.5


def test_stats_markdown_and_plot(benchmark_fixtures, tmp_path, capsys):
    plot = tmp_path / "labels.png"
    assert main(["stats", "iemocap", "--data-dir", str(benchmark_fixtures / "iemocap"), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "| dialogues | 2 | 1 | 1 |" in out and "| speakers | 2 | 2 | 2 |" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_errors_are_clear(benchmark_fixtures, tmp_path, capsys):
    assert main(["stats", "meldd", "--data-dir", str(benchmark_fixtures / "meld")]) == 1
    assert "Did you mean 'meld'" in capsys.readouterr().err
    assert main(["stats", "meld", "--data-dir", str(tmp_path)]) == 1
    assert "No train file for MELD" in capsys.readouterr().err


@pytest.mark.real_data
def test_stats_console_script_on_real_meld(shared_data):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "erc_synth.cli",
            "stats",
            "meld",
            "--data-dir",
            str(shared_data / "meld"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stats = json.loads(out)
    assert {s: v["utterances"] for s, v in stats["splits"].items()} == {
        "train": 9989,
        "validation": 1109,
        "test": 2610,
    }
    assert stats["splits"]["test"]["labels"]["fear"] == 50
