"""`erc-synth generate` with every default on a quiet and on a busy machine, against plain HF `generate` at batch 1.

One run measures, each in its own process and in this order:

1. `erc-synth generate` with every default (threads and slots chosen by the tool) on the machine as it is;
2. the same with 1 busy single-threaded competitor process beside it (a pure-Python busy loop this script starts
   and stops);
3. the same with 4 such competitors;
4. plain HF `model.generate` at batch 1 (greedy, `--baseline-tokens` new tokens, torch's default threads) on the
   first prompt of run 1: the baseline.

and prints tokens/s, accepted/asked, each run's share of the quiet figure and its ratio to the baseline, the threads
and slots the tool chose (from the run manifest, with their reasons), and the 1-minute load average before and after.
Runs 1-3 take their figures from the run manifest (completion tokens of finished requests over the run's elapsed
time, model loading included); a run stopped at `--time-limit` counts only what finished (a lower bound, marked).
`OMP_NUM_THREADS` is removed from the runs' environment: it is a user's explicit thread count.

`--alternatives` also runs, beside the default at each competitor count, other ways to use the same CPUs:

- `workers`: one `erc-synth generate --num-threads 1` process per CPU of this process's affinity, each a shard of the
  same plan (`--num-shards`), started together (their tokens summed over the longest shard's elapsed time);
- `passive`: one process with one thread per CPU and `OMP_WAIT_POLICY=PASSIVE` (OpenMP threads sleep at a barrier
  instead of spinning, so a thread waiting for one that lost its core gives the core away);
- `unstopped`: every default but `--max-loop-tokens 0`, the path before loops were stopped: an output that falls into
  a loop decodes to `--max-new-tokens` before its retry starts.

Besides tokens/s, each run's accepted dialogues per minute: a run that stops loops makes fewer tokens for the same
dialogues (the loop's tokens are never made), so tokens/s alone undersells it.

    nice -n 10 python benchmarks/bench_generation_contention.py --num-dialogues 8 --time-limit 180
    python benchmarks/bench_generation_contention.py --num-dialogues 32 --time-limit 900 --alternatives workers,passive
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: A single-threaded competitor: a pure-Python busy loop.
_BUSY_LOOP = "while True: pass"


def child_environment() -> dict[str, str]:
    """The environment of a measured `erc-synth generate` process: offline, this checkout importable, and without
    `OMP_NUM_THREADS` (a user's explicit thread count; the runs measure the tool's own choice)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("OMP_NUM_THREADS", None)
    return env


def _start_competitors(count: int) -> list[subprocess.Popen]:
    competitors = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP]) for _ in range(count)]
    if competitors:
        time.sleep(2.0)  # running before the tool measures what other work takes
    return competitors


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


#: The settings each run is made with: the tool's defaults, and the alternatives `--alternatives` names.
SETTINGS = ("default", "workers", "passive", "unstopped")


def _processes(args: argparse.Namespace, output: Path, setting: str) -> list[tuple[list[str], Path, dict[str, str]]]:
    """The `erc-synth generate` processes of one run with `setting`: (command, run directory, environment) each."""
    command = [
        sys.executable, "-m", "erc_synth.cli", "generate", "--benchmark", args.benchmark, "--mode", args.mode,
        "--num-dialogues", str(args.num_dialogues), "--seed", str(args.seed), "--progress", "false",
    ]  # fmt: skip
    cpus = len(os.sched_getaffinity(0))
    if setting == "workers":
        shard = ["--num-shards", str(cpus), "--num-threads", "1"]
        return [
            ([*command, *shard, "--shard-index", str(i), "--output-dir", str(output / f"shard-{i}")],
             output / f"shard-{i}", child_environment())
            for i in range(cpus)
        ]  # fmt: skip
    if setting == "passive":
        environment = {**child_environment(), "OMP_WAIT_POLICY": "PASSIVE"}
        return [([*command, "--num-threads", str(cpus), "--output-dir", str(output)], output, environment)]
    if setting == "unstopped":
        return [([*command, "--max-loop-tokens", "0", "--output-dir", str(output)], output, child_environment())]
    return [([*command, "--output-dir", str(output)], output, child_environment())]


def _generate(args: argparse.Namespace, output: Path, competitors: int, setting: str = "default") -> dict:
    """One run of `setting` (every default but the size of the run, or an alternative) beside `competitors` busy
    processes."""
    from erc_synth_datasets.runs import read_manifest

    processes = _processes(args, output, setting)
    busy = _start_competitors(competitors)
    stopped = False
    log = output.parent / f"{output.name}.log"
    try:
        with open(log, "w", encoding="utf-8") as handle:
            started = [
                subprocess.Popen(command, env=environment, stdout=handle, stderr=subprocess.STDOUT)
                for command, _, environment in processes
            ]
            deadline = time.monotonic() + args.time_limit
            for process in started:
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.terminate()
                    process.wait()
                    stopped = True
    finally:
        _stop(busy)
    try:
        manifests = [read_manifest(run) for _, run, _ in processes]
    except Exception as err:  # noqa: BLE001 - reported in the table
        return {"competitors": competitors, "setting": setting, "error": f"{type(err).__name__}: {err}; see {log}"}
    tokens = sum(int(manifest.tokens.get("completion", 0)) for manifest in manifests)
    accepted = sum(manifest.counts.accepted for manifest in manifests)
    seconds = max(manifest.elapsed_seconds for manifest in manifests)  # started together: the longest is the run's
    return {
        "competitors": competitors,
        "setting": setting,
        "processes": len(manifests),
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds else 0.0,
        "accepted": accepted,
        "accepted_per_minute": accepted / seconds * 60 if seconds else 0.0,
        "rejected_by_reason": dict(sum((Counter(m.counts.rejected_by_reason) for m in manifests), Counter())),
        "asked": args.num_dialogues,
        "stopped_at_time_limit": stopped,
        "threads": manifests[0].runtime.get("threads", {}),
        "slots": manifests[0].runtime.get("slots", {}),
        "load_average_after": os.getloadavg()[0],
    }


def _first_prompt(run: Path) -> str | None:
    for name in sorted(run.glob("*.jsonl")):
        for line in name.read_text(encoding="utf-8").splitlines():
            prompt = json.loads(line).get("prompt")
            if prompt:
                return prompt
    return None


def _baseline_worker(prompt: str, new_tokens: int) -> dict:
    """Plain HF `generate`, batch 1, greedy, exactly `new_tokens` new tokens, torch's default threads."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from generation.default_model import default_model_path

    path = str(default_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
    )
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    settings = {"do_sample": False, "max_new_tokens": new_tokens, "min_new_tokens": new_tokens}
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=4, do_sample=False)  # warm-up
        started = time.perf_counter()
        output = model.generate(**inputs, pad_token_id=tokenizer.eos_token_id, **settings)
        seconds = time.perf_counter() - started
    tokens = output.shape[1] - inputs["input_ids"].shape[1]
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_second": tokens / seconds,
        "threads": torch.get_num_threads(),
    }


def _baseline(args: argparse.Namespace, prompt: str) -> dict:
    command = [sys.executable, __file__, "--baseline-worker", "--baseline-tokens", str(args.baseline_tokens)]
    done = subprocess.run(command, input=prompt, capture_output=True, text=True, env=child_environment(), timeout=600)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="meld")
    parser.add_argument("--mode", default="natural")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-dialogues", type=int, default=8, help="Dialogues asked of each generate run.")
    parser.add_argument("--competitors", default="0,1,4", help="Busy competitor processes of each run, in order.")
    parser.add_argument(
        "--alternatives",
        default="",
        help=f"Comma-separated settings also run at each competitor count, after the default: "
        f"{', '.join(SETTINGS[1:])} (module docstring).",
    )
    parser.add_argument("--time-limit", type=float, default=180.0, help="Seconds after which a run is stopped.")
    parser.add_argument("--baseline-tokens", type=int, default=128, help="New tokens of the batch-1 baseline.")
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    alternatives = [name.strip() for name in args.alternatives.split(",") if name.strip()]
    unknown = sorted(set(alternatives) - set(SETTINGS[1:]))
    if unknown:
        parser.error(f"--alternatives: unknown {unknown}; choose from {list(SETTINGS[1:])}.")
    if args.baseline_worker:
        print(json.dumps(_baseline_worker(sys.stdin.read(), args.baseline_tokens)))
        return 0

    load_before = os.getloadavg()
    print(f"1-minute load average before: {load_before[0]:.2f} (CPUs {os.cpu_count()}, affinity "
          f"{len(os.sched_getaffinity(0))})", flush=True)  # fmt: skip
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in [int(c) for c in args.competitors.split(",") if c.strip()]:
            for setting in ["default", *alternatives]:
                runs.append(_generate(args, Path(tmp) / f"run-{count}-{setting}", count, setting))
                print(f"  {count} competitors, {setting}: {json.dumps(runs[-1])}", flush=True)
        prompt = _first_prompt(Path(tmp) / f"run-{runs[0]['competitors']}-default") if runs else None
    baseline = _baseline(args, prompt) if prompt else {"error": "the first run wrote no record to take a prompt from"}
    load_after = os.getloadavg()

    print(f"\nSmolLM2-135M-Instruct, {args.benchmark} {args.mode}, erc-synth generate with every default, "
          f"--num-dialogues {args.num_dialogues}, seed {args.seed}")  # fmt: skip
    if "error" in baseline:
        print(f"baseline failed: {baseline['error']}")
    else:
        print(f"plain HF generate, batch 1 (greedy, {baseline['tokens']} tokens, {baseline['threads']} threads): "
              f"{baseline['tokens_per_second']:.1f} tokens/s")  # fmt: skip
    quiet = next(
        (r for r in runs if r.get("competitors") == 0 and r["setting"] == "default" and "error" not in r), None
    )
    print(
        f"{'competitors':>11}{'setting':>10}{'tok/s':>8}{'accepted':>10}{'acc/min':>8}{'of quiet':>10}"
        f"{'x batch 1':>10}  threads / slots (reason)"
    )
    for r in runs:
        if "error" in r:
            print(f"{r['competitors']:>11}{r['setting']:>10}  failed: {r['error']}")
            continue
        share = f"{r['tokens_per_second'] / quiet['tokens_per_second']:.0%}" if quiet else "-"
        ratio = f"{r['tokens_per_second'] / baseline['tokens_per_second']:.1f}x" if "error" not in baseline else "-"
        limit = " (stopped at the time limit: lower bound)" if r["stopped_at_time_limit"] else ""
        processes = f"{r['processes']} processes x " if r["processes"] > 1 else ""
        threads = f"{processes}{r['threads'].get('num_threads')} ({r['threads'].get('reason')})"
        slots = f"{r['slots'].get('slots')}{limit}"
        print(f"{r['competitors']:>11}{r['setting']:>10}{r['tokens_per_second']:>8.1f}{r['accepted']:>5}/{r['asked']:<4}"
              f"{r['accepted_per_minute']:>9.2f}{share:>10}{ratio:>10}  {threads} / {slots}")  # fmt: skip
    for r in runs:
        if r.get("rejected_by_reason"):
            print(f"rejections, {r['competitors']} competitors, {r['setting']}: {r['rejected_by_reason']}")
    print(f"1-minute load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if args.json:
        record = {"runs": runs, "baseline": baseline, "load_before": load_before, "load_after": load_after}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
