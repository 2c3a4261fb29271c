"""Settings that cannot work are refused with what is allowed; full disks, lone surrogates and secrets in server
answers never lose data, never make a record unwritable, and never leak into what is stored."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ScriptedBackend, run_scripted

from erc_synth.commands import generate as cli
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.redaction import redact_text, redact_url
from erc_synth_datasets.runs import (
    JsonlAppender,
    RunFormatError,
    RunManifest,
    RunStorageError,
    accepted_file_name,
    count_records,
    iter_accepted,
    iter_rejected,
    read_manifest,
    rejected_file_name,
    write_manifest,
)
from generation.backends import GenerationRequest, GenerationResult, build_backend
from generation.config import GenerationConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"temperature": math.nan}, "--temperature (temperature) must be a number in [0, inf), but got nan"),
        ({"temperature": math.inf}, "--temperature (temperature) must be a number in [0, inf)"),
        ({"temperature": -0.5}, "--temperature (temperature) must be a number in [0, inf), but got -0.5"),
        ({"temperature": True}, "--temperature (temperature) must be a number in [0, inf), but got True"),
        ({"top_p": 0.0}, "--top-p (top_p) must be a number in (0, 1], but got 0.0"),
        ({"top_p": 1.5}, "--top-p (top_p) must be a number in (0, 1]"),
        ({"typical_p": math.nan}, "--typical-p (typical_p) must be a number in (0, 1]"),
        ({"top_k": -1}, "--top-k (top_k) must be an integer in [0, 1000000], but got -1"),
        ({"repetition_penalty": math.inf}, "--repetition-penalty (repetition_penalty) must be a number in (0, inf)"),
        ({"request_timeout": 0.0}, "--request-timeout (request_timeout) must be a number in (0, 86400]"),
        ({"num_threads": -2}, "--num-threads (num_threads) must be an integer in [1, 4096], but got -2"),
        ({"attempt_budget": 0}, "--attempt-budget (attempt_budget) must be an integer in [1, 1000000000000]"),
        ({"max_new_tokens": 10**12}, "--max-new-tokens (max_new_tokens) must be an integer in [1, 1048576]"),
        ({"repetitive_threshold": 5.0}, "--repetitive-threshold (repetitive_threshold) must be a number in [0, 1]"),
    ],
)
def test_out_of_range_settings_are_refused_saying_what_is_allowed(overrides, expected):
    with pytest.raises(ConfigError) as info:
        GenerationConfig(**overrides)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("bogus", "device must be cpu, cuda, cuda:N, mps or xpu (or unset for the default), but got 'bogus'"),
        ("cuda:7", "device 'cuda:7' does not exist on this machine"),
    ],
)
def test_devices_that_do_not_exist_are_refused_before_loading(device, expected):
    import torch

    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    with pytest.raises(ConfigError) as info:
        build_backend(GenerationConfig(device=device))
    assert expected in str(info.value)


def test_the_cli_shows_a_refused_setting_in_one_line(tmp_path, capsys):
    args = ["--benchmark", "meld", "--output-dir", str(tmp_path / "run"), "--no-progress"]
    assert cli.main([*args, "--device", "bogus"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("erc-synth generate: device must be cpu, cuda") and "\n" not in err
    assert cli.main([*args, "--num-threads", "-2"]) == 1
    assert "--num-threads (num_threads) must be an integer in [1, 4096]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_an_output_folder_that_cannot_be_created_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for folder in ("/proc/erc-synth-run", str(blocker / "run")):
        with pytest.raises(RunFormatError, match="cannot be created .*choose a folder you can write to"):
            run_scripted(folder)


def test_writes_to_a_full_device_raise_one_clear_error():
    with JsonlAppender("/dev/full") as out, pytest.raises(RunStorageError) as info:
        out.write({"index": 0})
    assert "Could not write 'full' in '/dev': No space left on device" in str(info.value)
    assert "Everything accepted so far is safe" in str(info.value) and "re-run the same command" in str(info.value)
    with pytest.raises(RunStorageError, match="Could not write 'manifest.json' in '/proc'"):
        write_manifest("/proc", RunManifest(settings_hash="h", benchmark={}, mode="natural"))


_LIMITED_RUN = """
import resource, signal, sys
sys.path.insert(0, {tests!r})
from helpers import run_scripted
from erc_synth_datasets.runs import RunStorageError

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (12000, 12000))  # room for the manifest, not the run
try:
    run_scripted({output!r}, num_dialogues=40)
except RunStorageError as err:
    print(err)
    sys.exit(3)
"""


def test_a_full_disk_mid_run_keeps_what_was_written_and_a_rerun_finishes(tmp_path):
    out = tmp_path / "run"
    script = textwrap.dedent(_LIMITED_RUN).format(tests=str(REPO / "tests"), output=str(out))
    limited = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert limited.returncode == 3, limited.stderr[-2000:]
    assert f"in {str(out)!r}: File too large" in limited.stdout
    assert "Everything accepted so far is safe" in limited.stdout
    written = count_records(out / accepted_file_name())
    assert 0 < written < 40
    assert (out / accepted_file_name()).read_bytes().endswith(b"\n")  # the failed line was taken back

    reference = tmp_path / "reference"
    run_scripted(reference, num_dialogues=40)
    resumed, _ = run_scripted(out, num_dialogues=40)
    assert resumed.status == "complete" and resumed.accepted == 40
    for name in (accepted_file_name(), rejected_file_name()):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


class _EchoingBackend(ScriptedBackend):
    """Answers some requests like a misbehaving server: errors that echo the request headers, lone surrogates."""

    def result(self, request: GenerationRequest) -> GenerationResult:
        index = int(request.key.split(":")[0])
        if index == 1:
            return GenerationResult(
                text="",
                error=f"HTTP 500: echo of the request: Authorization: Bearer {os.environ['ERC_TEST_KEY']} "
                'headers={"api-key": "abcd-1234-efgh", "Content-Type": "application/json"}',
            )
        if index == 2:
            return GenerationResult(text="Ross: Hi \udcff there. (1)\nRachel: \ud800Hello! (5)")
        return super().result(request)


def test_secrets_are_redacted_and_lone_surrogates_rejected_not_fatal(tmp_path, monkeypatch):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("ERC_TEST_KEY", secret)
    out = tmp_path / "run"
    summary, _ = run_scripted(
        out,
        _EchoingBackend(refuse=0.0, repeat=0.0),
        num_dialogues=6,
        max_attempts=2,
        api_key_env="ERC_TEST_KEY",
        base_url=["http://user:hunter2-password@127.0.0.1:9/v1"],
    )
    assert summary.status == "complete"
    rejected = {(r.index, r.attempt): r for r in iter_rejected(out)}
    assert rejected[(1, 0)].reason == "backend_error" and rejected[(1, 1)].reason == "backend_error"
    message = rejected[(1, 0)].message
    assert "Authorization: Bearer ***" in message and '"api-key": "***"' in message
    assert rejected[(2, 0)].reason not in ("backend_error", "duplicate")
    stored = "".join(p.read_text(encoding="utf-8") for p in out.iterdir())
    assert secret not in stored and "abcd-1234-efgh" not in stored and "hunter2-password" not in stored
    assert read_manifest(out).runtime["base_url"] == ["http://***@127.0.0.1:9/v1"]
    assert {r.index for r in iter_accepted(out)}.isdisjoint({1, 2})


def test_a_record_with_lone_surrogates_is_always_writable(tmp_path):
    with JsonlAppender(tmp_path / "r.jsonl") as out:
        out.write({"raw_text": "bad \udcff text", "ok": "é"})
        out.write({"raw_text": "fine é"})
    lines = (tmp_path / "r.jsonl").read_bytes().splitlines()
    assert lines[0] == b'{"raw_text":"bad \\udcff text","ok":"\\u00e9"}'
    assert json.loads(lines[1]) == {"raw_text": "fine é"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer ***"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "Basic ***"}'),
        ("'api-key': 'k-123456'", "'api-key': '***'"),
        ("x-api-key=zzzz9999, next", "x-api-key=***, next"),
        ("sent bearer tok_123456789", "sent bearer ***"),
        ("key sk-proj-AAAABBBBCCCC in text", "key *** in text"),
        ("see https://me:pw@example.com/v1 now", "see https://***@example.com/v1 now"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected


def test_redact_known_secrets_and_urls():
    assert redact_text("the key is plainvalue42!", ["plainvalue42", None, "ab"]) == "the key is ***!"
    assert redact_url("http://user:pw@host:8000/v1") == "http://***@host:8000/v1"
    assert redact_url("http://host:8000/v1") == "http://host:8000/v1"
    # Linear on adversarial input: a long run of header-like text is handled at once.
    assert redact_text("authorization:" * 20000).count("***") >= 1
