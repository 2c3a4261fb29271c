"""Every subcommand's --help works, and the generate command's --api-key stays out of output and files."""

import os
import socket

import pytest

from erc_synth.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_working_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: erc-synth") and f"erc-synth {name}" in out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_api_key_flag_reaches_the_backend_but_no_output_or_file(tmp_path, monkeypatch, capsys):
    secret = "sk-flag-secret-7f3a"
    monkeypatch.delenv("ERC_TEST_API_KEY", raising=False)
    run_dir = tmp_path / "run"
    code = main(
        [
            "generate", "--benchmark", "meld", "--backend", "openai", "--model", "served",
            "--base-url", f"http://127.0.0.1:{_closed_port()}/v1", "--api-key", secret,
            "--api-key-env", "ERC_TEST_API_KEY", "--max-retries", "0", "--request-timeout", "5",
            "--no-constrained", "--num-dialogues", "1", "--output-dir", str(run_dir), "--no-progress",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1  # no server answers: the run stops cleanly, resumable
    assert "127.0.0.1" in captured.err
    assert os.environ["ERC_TEST_API_KEY"] == secret  # what the backend read
    assert secret not in captured.out + captured.err
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(encoding="utf-8"), path
