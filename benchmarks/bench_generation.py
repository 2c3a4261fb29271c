"""Generation throughput on this machine with the packaged SmolLM2: static batches, continuous batching, llama-server.

Runs the real pipeline (`generation.runner.run_generation`: prompts, backend, parsing, validation, JSONL shards) at
the default settings (`GenerationConfig`'s: constrained JSON, 1536 new tokens, drawn turn counts) on the same prompts
and seeds (one attempt per prompt, so every path answers the same requests) through:

1. `static`: the `transformers` backend in static batches of `--batch-size` (`generate`: every row waits for the
   longest one): the baseline;
2. `continuous`: the `transformers` backend with continuous batching over `--slots` slots (`stream`);
   `continuous-bf16` the same with bf16 weights (grouped eager attention on CPU, `attention_for`);
   `continuous-uncached` the same without the prompt cache (every request's prompt prefilled: the path before it);
3. `llama-server`: llama.cpp's own server (`make install-llama-server`) with `--server-slots` parallel slots, through
   the `openai` backend (skipped, with the reason, when the binary is missing);

and prints aggregate tokens/s, dialogues/min (outputs and accepted), peak resident memory, and each path's ratio to
the static one. With `--memory-check`, the continuous path runs again on 4x the dialogues: its peak memory should stay
flat, since it depends on the slots, not on the run's size. Each path runs in its own process (clean peak memory).

    nice -n 10 python benchmarks/bench_generation.py --dialogues 32 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PATHS = ("static", "continuous", "continuous-bf16", "continuous-uncached", "llama-server")
#: Generation settings a reduced run may change (None keeps the run's default).
_SETTINGS = ("max_new_tokens", "max_turns", "max_utterance_chars")


def _config(args: argparse.Namespace, output: Path, dialogues: int, **backend: object):
    from generation.config import GenerationConfig

    return GenerationConfig(
        benchmark=args.benchmark,
        mode=args.mode,
        num_dialogues=dialogues,
        seed=args.seed,
        max_attempts=1,
        progress=False,
        output_dir=str(output),
        **{name: getattr(args, name) for name in _SETTINGS if getattr(args, name) is not None},
        **backend,
    )


def _peak_rss_mib(pid: int | None = None) -> float:
    """Peak resident memory of this process (or of `pid`, read from /proc) in MiB."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker(args: argparse.Namespace) -> dict:
    """Runs one path in this process and returns its measurements."""
    from generation.runner import run_generation

    dialogues = args.worker_dialogues
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "run"
        if args.worker == "llama-server":
            import servers

            from generation.backends import create_backend

            server = servers.LlamaCppServer(
                log_path=Path(tmp) / "llama-server.log", slots=args.server_slots, n_threads=args.num_threads
            ).start()
            backend = create_backend(
                "openai", model=server.model, base_urls=[server.base_url], max_in_flight=args.server_slots
            )
            config = _config(
                args, output, dialogues, backend="openai", base_url=[server.base_url], model=server.model,
                batch_size=args.server_slots,
            )  # fmt: skip
            slots = args.server_slots
        else:
            from generation.backends.continuous import PROMPT_CACHE_ENTRIES
            from generation.backends.transformers_backend import TransformersBackend

            continuous = args.worker.startswith("continuous")
            dtype = "bfloat16" if args.worker == "continuous-bf16" else args.dtype or "float32"
            backend = TransformersBackend(
                num_threads=args.num_threads,
                continuous_batching=continuous,
                dtype=dtype,
                prompt_cache=0 if args.worker == "continuous-uncached" else PROMPT_CACHE_ENTRIES,
            )
            slots = args.slots if continuous else args.batch_size
            config = _config(args, output, dialogues, batch_size=slots, num_threads=args.num_threads, dtype=dtype)
        backend.load()
        backend.max_in_flight = slots
        try:
            started = time.perf_counter()
            summary = run_generation(config, backend=backend, log=lambda message: None)
            wall = time.perf_counter() - started
            server_peak = _peak_rss_mib(server.process.pid) if server is not None else 0.0
        finally:
            if server is not None:
                server.stop()
    outputs = summary.accepted + summary.rejected
    return {
        "path": args.worker,
        "slots": slots,
        "dialogues": dialogues,
        "outputs": outputs,
        "accepted": summary.accepted,
        "completion_tokens": summary.completion_tokens,
        "seconds": wall,
        "tokens_per_second": summary.completion_tokens / wall,
        "outputs_per_minute": outputs / wall * 60,
        "accepted_per_minute": summary.accepted / wall * 60,
        "peak_rss_mib": _peak_rss_mib() + server_peak,
        "rejections": summary.rejected_by_reason,
        "load_average": os.getloadavg()[0],
    }


def _run_path(args: argparse.Namespace, path: str, dialogues: int) -> dict:
    command = [sys.executable, __file__, "--worker", path, "--worker-dialogues", str(dialogues)]
    names = ("benchmark", "mode", "seed", "batch_size", "slots", "server_slots", "num_threads", "dtype", *_SETTINGS)
    for name in names:
        value = getattr(args, name)
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        return {"path": path, "dialogues": dialogues, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="meld")
    parser.add_argument("--mode", default="natural")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dialogues", type=int, default=32, help="Prompts per path (one attempt each).")
    parser.add_argument("--batch-size", type=int, default=8, help="Static batch size of the baseline.")
    parser.add_argument("--slots", type=int, default=32, help="Continuous-batching slots of the transformers path.")
    parser.add_argument("--server-slots", type=int, default=16, help="llama-server's parallel slots.")
    parser.add_argument("--num-threads", type=int, default=None, help="CPU threads (torch and llama-server).")
    parser.add_argument(
        "--dtype",
        default=None,
        help="dtype of the static and continuous paths (default float32; continuous-bf16 is bf16).",
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="Reduced runs only (default: 1536).")
    parser.add_argument("--max-turns", type=int, default=None, help="Reduced runs only (default: 12).")
    parser.add_argument("--max-utterance-chars", type=int, default=None, help="Reduced runs only.")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"Comma-separated subset of {PATHS}.")
    parser.add_argument("--memory-check", action="store_true", help="Also run the continuous path on 4x dialogues.")
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-dialogues", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0

    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown paths {sorted(unknown)}; choose from {PATHS}")
    if "llama-server" in paths:
        import servers

        reason = servers.llama_server_missing_reason()
        if reason is not None:
            print(f"llama-server path skipped: {reason}")
            paths.remove("llama-server")
    runs = [_run_path(args, path, args.dialogues) for path in paths]
    if args.memory_check and "continuous" in paths:
        runs.append(_run_path(args, "continuous", 4 * args.dialogues))

    threads = args.num_threads or "default"
    changed = {name: getattr(args, name) for name in _SETTINGS if getattr(args, name) is not None}
    settings = f"REDUCED settings {changed}" if changed else "default settings (GenerationConfig's defaults)"
    if args.dtype is not None:
        settings += f", transformers dtype {args.dtype}"
    print(f"SmolLM2-135M-Instruct, {args.benchmark} {args.mode}, {settings}, constrained JSON, seed {args.seed}, "
          f"CPU cores {os.cpu_count()}, threads {threads}")  # fmt: skip
    print(f"{'path':<20}{'slots':>6}{'prompts':>8}{'tokens':>8}{'s':>8}{'tok/s':>8}{'outputs/min':>12}"
          f"{'accepted/min':>13}{'peak MiB':>9}{'load':>6}")  # fmt: skip
    for r in runs:
        if "error" in r:
            print(f"{r['path']:<20} failed: {r['error']}")
            continue
        print(f"{r['path']:<20}{r['slots']:>6}{r['dialogues']:>8}{r['completion_tokens']:>8}{r['seconds']:>8.0f}"
              f"{r['tokens_per_second']:>8.1f}{r['outputs_per_minute']:>12.2f}{r['accepted_per_minute']:>13.2f}"
              f"{r['peak_rss_mib']:>9.0f}{r['load_average']:>6.1f}")  # fmt: skip
    baseline = next((r for r in runs if r["path"] == "static" and "error" not in r), None)
    summary = {}
    for r in runs:
        if baseline is None or r is baseline or "error" in r or r["dialogues"] != baseline["dialogues"]:
            continue
        ratio = r["tokens_per_second"] / baseline["tokens_per_second"]
        summary[f"{r['path']}_vs_static_tokens_per_second"] = ratio
        print(f"{r['path']} / static: {ratio:.2f}x tokens/s, "
              f"{r['outputs_per_minute'] / baseline['outputs_per_minute']:.2f}x dialogues/min")  # fmt: skip
    fp32 = next((r for r in runs if r["path"] == "continuous" and "error" not in r), None)
    bf16 = next((r for r in runs if r["path"] == "continuous-bf16" and "error" not in r), None)
    if fp32 and bf16 and fp32["dialogues"] == bf16["dialogues"]:
        ratio = summary["continuous_bf16_vs_continuous_tokens_per_second"] = (
            bf16["tokens_per_second"] / fp32["tokens_per_second"]
        )
        print(f"continuous-bf16 / continuous: {ratio:.2f}x tokens/s")
    uncached = next((r for r in runs if r["path"] == "continuous-uncached" and "error" not in r), None)
    if fp32 and uncached and fp32["dialogues"] == uncached["dialogues"]:
        ratio = summary["continuous_vs_continuous_uncached_tokens_per_second"] = (
            fp32["tokens_per_second"] / uncached["tokens_per_second"]
        )
        same = "the same" if fp32["completion_tokens"] == uncached["completion_tokens"] else "DIFFERENT"
        print(f"continuous / continuous-uncached (the prompt cache): {ratio:.2f}x tokens/s, {same} completion tokens")
    small = next((r for r in runs if r["path"] == "continuous" and r.get("dialogues") == args.dialogues), None)
    large = next((r for r in runs if r["path"] == "continuous" and r.get("dialogues") == 4 * args.dialogues), None)
    if small and large and "error" not in small and "error" not in large:
        growth = summary["continuous_peak_memory_4n_over_n"] = large["peak_rss_mib"] / small["peak_rss_mib"]
        print(f"continuous peak memory: {small['peak_rss_mib']:.0f} MiB at {args.dialogues} prompts, "
              f"{large['peak_rss_mib']:.0f} MiB at {4 * args.dialogues} ({growth:.2f}x)")  # fmt: skip
    for r in runs:
        if "error" not in r:
            print(f"  {r['path']} ({r['dialogues']} prompts) rejections: {r['rejections']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "summary": summary}, indent=2), encoding="utf-8")
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
