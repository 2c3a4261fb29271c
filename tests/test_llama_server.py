"""llama.cpp's own `llama-server` (built by `make install-llama-server`) serving SmolLM2, through the `openai` backend:
parallel slots, JSON schema, per-request seeds, and `erc-synth generate` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TINY_SCHEMA

from erc_synth_datasets.runs import iter_accepted, iter_rejected, read_manifest
from generation.backends import create_backend
from generation.backends.base import GenerationRequest, SamplingParams
from generation.llama_server import LlamaServerMissingError, find_llama_server, llama_server_command

try:
    from tests import servers
except ImportError:  # tests/ is not a package: its folder is on sys.path
    import servers

_MISSING = servers.llama_server_missing_reason()
SLOTS = 4


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.LlamaCppServer]:
    if _MISSING is not None:
        pytest.skip(_MISSING)
    log = tmp_path_factory.mktemp("llama-server") / "llama-server.log"
    with servers.LlamaCppServer(log_path=log, slots=SLOTS) as server:
        yield server


def test_command_line_gives_every_slot_its_context() -> None:
    command = llama_server_command(Path("/bin/llama-server"), "m.gguf", port=8080, slots=6, slot_context=1000)
    assert command[command.index("--parallel") + 1] == "6"
    assert command[command.index("--ctx-size") + 1] == "6000"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    with pytest.raises(ValueError, match="slots"):
        llama_server_command(Path("/bin/llama-server"), "m.gguf", port=8080, slots=0)


def test_a_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ERC_SYNTH_LLAMA_SERVER", str(tmp_path / "nowhere" / "llama-server"))
    with pytest.raises(LlamaServerMissingError, match="ERC_SYNTH_LLAMA_SERVER"):
        find_llama_server()


@pytest.mark.slow
def test_schema_and_seed_are_honoured_across_parallel_slots(llama_server: servers.LlamaCppServer) -> None:
    backend = create_backend(
        "openai", model=llama_server.model, base_urls=[llama_server.base_url], max_in_flight=SLOTS, max_retries=1
    )
    backend.load()
    try:
        assert backend.supports_json_schema
        messages = [{"role": "user", "content": "Tell me about your day, then pick a number."}]
        requests = [
            GenerationRequest(messages=messages, seed=seed, json_schema=TINY_SCHEMA, key=str(i))
            for i, seed in enumerate([5, 5, 6, 7, 8, 9])
        ]
        results = backend.generate(requests, SamplingParams(temperature=1.0, max_new_tokens=32))
        for result in results:
            assert result.error is None, result.error
            assert json.loads(result.text) in ({"answer": 3}, {"answer": 7})
        free = [GenerationRequest(messages=messages, seed=seed, key=f"free{seed}") for seed in (21, 21, 22)]
        texts = [r.text for r in backend.generate(free, SamplingParams(temperature=1.0, max_new_tokens=24))]
        assert texts[0] == texts[1] and texts[0] != texts[2]
    finally:
        backend.close()


@pytest.mark.slow
def test_generate_end_to_end_through_llama_server(llama_server: servers.LlamaCppServer, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "erc_synth.cli", "generate", "--benchmark", "meld", "--backend", "openai",
        "--base-url", llama_server.base_url, "--model", servers.SERVED_MODEL_NAME, "--output-dir", str(run_dir),
        "--num-dialogues", "3", "--max-attempts", "2", "--max-turns", "4", "--max-new-tokens", "768",
        "--batch-size", str(SLOTS), "--seed", "4", "--max-retries", "1", "--request-timeout", "300",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    manifest = read_manifest(run_dir)
    assert (done.returncode, manifest.status.value) in ((0, "complete"), (1, "budget_spent")), done.stderr[-2000:]
    accepted = [r.to_dict() for r in iter_accepted(run_dir)]
    rejected = [r.to_dict() for r in iter_rejected(run_dir)]
    attempts = [(r["index"], r["attempt"]) for r in accepted + rejected]
    assert len(attempts) == len(set(attempts)) == manifest.counts.attempts > 0
    assert manifest.counts.accepted == len(accepted) <= 3
    # The schema was enforced by the server: nothing was rejected for not being a JSON document.
    assert not [r for r in rejected if r.get("reason") == "invalid_json"], rejected
