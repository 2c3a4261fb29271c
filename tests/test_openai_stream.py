"""The `openai` backend's stream against a small real HTTP server on 127.0.0.1: a constant number of requests in
flight for the whole run, retries, credentials echoed by the server never stored, and an outage that stops the run
without using up any prompt's attempts.

The server is a scripted OpenAI-compatible endpoint (its answers are a function of the request's seed, as in
`helpers.scripted_text`), so that these tests need no model; the llama.cpp server tests cover a real model.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from helpers import scripted_text
from servers import JsonHandler, LocalHTTPServer

from erc_synth_datasets.runs import RunStatus, iter_accepted, iter_rejected, read_manifest
from generation.backends import GenerationRequest, SamplingParams, build_backend
from generation.config import GenerationConfig
from generation.runner import run_generation

SECRET = "sk-stream-test-0123456789"


class ScriptedServer(LocalHTTPServer):
    """Answers `/v1/chat/completions` after `latency` seconds (longer for some seeds), and counts concurrency."""

    def __init__(self, latency: float = 0.02, echo_every: int = 0, fail_after: int | None = None) -> None:
        super().__init__(_Handler)
        self.latency, self.echo_every, self.fail_after = latency, echo_every, fail_after
        self.crashed = False  # after `fail_after` requests: every request, even one already waiting, gets no answer
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.requests = 0
        self.arrivals: list[int] = []  # requests already waiting when each request arrived


class _Handler(JsonHandler):
    server: ScriptedServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._send(200, {"data": [{"id": "scripted"}]})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.requests += 1
            number = server.requests
            server.arrivals.append(server.in_flight)
            server.in_flight += 1
            server.peak = max(server.peak, server.in_flight)
        if server.fail_after is not None and number > server.fail_after:
            server.crashed = True
        time.sleep(server.latency * (1 + body["seed"] % 5))
        with server.lock:
            server.in_flight -= 1  # answered (or dropped) from here on: the client may send the next one
        if server.crashed:
            self.close_connection = True  # hang up without an answer, like a crashed server
            return
        if server.echo_every and number % server.echo_every == 0:
            # A misconfigured proxy that echoes the request headers in its error page.
            self._send(400, f"bad request; headers were: Authorization: {self.headers['Authorization']}")
            return
        text = scripted_text(body["seed"])
        self._send(200, {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split())}})  # fmt: skip


def config(output: Path, base_url: str, **overrides) -> GenerationConfig:
    settings = {
        "benchmark": "meld",
        "num_dialogues": 24,
        "seed": 5,
        "progress": False,
        "constrained": False,
        "backend": "openai",
        "model": "scripted",
        "base_url": [base_url],
        "max_in_flight": 4,
        "max_retries": 0,
        "api_key_env": "ERC_STREAM_KEY",
    }
    return GenerationConfig(**{**settings, **overrides, "output": str(output)})


def test_the_stream_keeps_every_slot_busy_and_matches_a_one_at_a_time_run(tmp_path):
    with ScriptedServer() as server:
        summary = run_generation(config(tmp_path / "wide", server.base_url))
        peak = server.peak
    assert summary.status == "complete" and summary.accepted == 24
    assert peak == 4
    with ScriptedServer(latency=0.0) as server:
        run_generation(config(tmp_path / "one", server.base_url, max_in_flight=1))
        assert server.peak == 1
    # Completion order differs (latency depends on the seed); the records do not.
    for name in ("accepted-00000-of-00001.jsonl", "rejected-00000-of-00001.jsonl"):
        assert (tmp_path / "wide" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_requests_in_flight_stay_constant_across_the_run(tmp_path):
    # Direct use of the contract: a source of 40 requests, 4 in flight, every free slot refilled at once.
    with ScriptedServer(latency=0.02) as server:
        backend = build_backend(config(tmp_path / "x", server.base_url))
        backend.load()
        queue = [GenerationRequest([{"role": "user", "content": "Hi"}], seed=s, key=str(s)) for s in range(40)]
        handed_out = 0

        def source() -> GenerationRequest | None:
            nonlocal handed_out
            handed_out += queue != []
            return queue.pop(0) if queue else None

        finished, outstanding = [], []
        for request, _ in backend.stream(source, SamplingParams(max_new_tokens=8)):
            outstanding.append(handed_out - len(finished))  # requests out when this one came back, itself included
            finished.append(request.key)
        backend.close()
    assert sorted(finished, key=int) == [str(s) for s in range(40)] and finished != sorted(finished, key=int)
    assert server.peak == 4
    # Whenever requests came back, every freed slot was refilled before waiting again: the count is back at 4, or
    # one less than at the previous result (several results of one wait), and only runs down once the source is dry.
    assert outstanding[0] == 4 and outstanding[-4:] == [4, 3, 2, 1] or outstanding[-1] == 1
    for before, now in zip(outstanding, outstanding[1:], strict=False):
        assert now == 4 or now == before - 1, outstanding


def test_credentials_echoed_by_a_server_are_never_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("ERC_STREAM_KEY", SECRET)
    with ScriptedServer(echo_every=3) as server:
        plain, with_userinfo = tmp_path / "plain", tmp_path / "userinfo"
        run_generation(config(plain, server.base_url, num_dialogues=6))
        # Credentials in the URL are sent as Basic auth (no API key with them), and the server echoes that header.
        url = server.base_url.replace("http://", "http://admin:hunter2-secret@")
        run_generation(config(with_userinfo, url, num_dialogues=6, api_key_env="ERC_STREAM_UNSET_KEY"))
    errors = [r for r in iter_rejected(plain) if r.reason == "backend_error"]
    assert errors and all(r.message.endswith("Authorization: Bearer ***") for r in errors), [r.message for r in errors]
    errors = [r for r in iter_rejected(with_userinfo) if r.reason == "backend_error"]
    assert errors and all(r.message.endswith("Authorization: Basic ***") for r in errors), [r.message for r in errors]
    for out in (plain, with_userinfo):
        stored = "".join(path.read_text(encoding="utf-8") for path in out.iterdir())
        assert SECRET not in stored and "hunter2-secret" not in stored
    port = server.server_address[1]
    assert read_manifest(with_userinfo).runtime["base_url"] == [f"http://***@127.0.0.1:{port}/v1"]


def test_an_outage_stops_the_run_without_using_up_attempts_and_a_rerun_finishes(tmp_path):
    with ScriptedServer(latency=0.0) as server:
        run_generation(config(tmp_path / "reference", server.base_url))
    out = tmp_path / "run"
    with ScriptedServer(latency=0.005, fail_after=15) as server:
        stopped = run_generation(config(out, server.base_url))
    assert stopped.status == "stopped" and "No server answered at" in stopped.message
    assert read_manifest(out).status is RunStatus.STOPPED
    assert all(r.reason != "backend_error" for r in iter_rejected(out))  # no prompt was used up by the outage
    before = {p.name: p.read_bytes() for p in out.glob("*.jsonl")}
    assert 0 < len(list(iter_accepted(out))) < 24

    with ScriptedServer(latency=0.0) as again:
        finished = run_generation(config(out, again.base_url))
    assert finished.status == "complete" and finished.accepted == 24
    for name, data in before.items():
        assert (out / name).read_bytes().startswith(data)
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()
