"""Generation throughput and structural validity with the packaged SmolLM2 on this machine, in one process.

Runs the real pipeline (`generation.runner.run_generation`: prompts, backend, parsing, validation, JSONL shards) on
the same prompts three times with one loaded model:

1. one request at a time (batch size 1, the source paper's setup), constrained JSON decoding: the baseline;
2. batched (batch size `--batch-size`), constrained JSON decoding;
3. batched, unconstrained (the paper's free line format, parsed leniently).

and prints tokens/s, accepted dialogues/min, the ratio of (2) to (1), and the share of outputs that are structurally
valid (they parse into turns whose every label is in the legend, speaker allowed, utterance non-empty) with and
without constrained decoding. Every prompt gets exactly one attempt, so the shares are per output.

    python benchmarks/bench_generation.py --dialogues 16 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STRUCTURAL_FAILURES = {
    "invalid_json",
    "no_turns",
    "missing_label",
    "label_out_of_range",
    "unknown_label",
    "speaker_not_allowed",
    "empty_utterance",
}


def _run(label: str, backend, base: dict, root: Path, **overrides) -> dict:
    from generation.config import GenerationConfig
    from generation.run_format import iter_rejected, read_manifest
    from generation.runner import run_generation

    out = root / label
    config = GenerationConfig(**{**base, **overrides, "output": str(out)})
    started = time.perf_counter()
    run_generation(config, backend=backend, log=lambda message: None)
    wall = time.perf_counter() - started
    manifest = read_manifest(out)
    reasons = Counter(r["reason"] for r in iter_rejected(out))
    attempts = manifest["counts"]["attempts"]
    accepted = manifest["counts"]["accepted"]
    structural = attempts - sum(n for reason, n in reasons.items() if reason in STRUCTURAL_FAILURES)
    tokens = manifest["tokens"]["completion"]
    return {
        "label": label,
        "batch_size": config.batch_size,
        "constrained": config.constrained,
        "outputs": attempts,
        "accepted": accepted,
        "structurally_valid": structural,
        "structurally_valid_share": structural / attempts if attempts else 0.0,
        "accepted_share": accepted / attempts if attempts else 0.0,
        "completion_tokens": tokens,
        "seconds": wall,
        "tokens_per_second": tokens / wall,
        "accepted_per_minute": accepted / wall * 60,
        "rejections": dict(reasons),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="meld")
    parser.add_argument("--mode", default="balanced")
    parser.add_argument("--dialogues", type=int, default=16, help="Prompts per configuration.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--max-turns", type=int, default=4)
    parser.add_argument("--max-utterance-chars", type=int, default=60)
    parser.add_argument("--num-threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--skip-sequential", action="store_true", help="Only the batched runs (no baseline).")
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from generation.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(num_threads=args.num_threads)
    backend.load()
    base = {
        "benchmark": args.benchmark,
        "mode": args.mode,
        "num_dialogues": args.dialogues,
        "seed": 0,
        "max_new_tokens": args.max_new_tokens,
        "min_turns": 2,
        "max_turns": args.max_turns,
        "max_utterance_chars": args.max_utterance_chars,
        "max_attempts": 1,
        "progress": False,
    }
    # Warm-up (first-call allocations, grammar compilation) outside the timed runs.
    with tempfile.TemporaryDirectory() as warm:
        _run("warmup", backend, {**base, "num_dialogues": 1, "max_new_tokens": 8}, Path(warm))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.skip_sequential:
            results.append(_run("one_at_a_time", backend, base, root, batch_size=1))
        results.append(_run("batched", backend, base, root, batch_size=args.batch_size))
        results.append(_run("batched_unconstrained", backend, base, root, batch_size=args.batch_size,
                            constrained=False))  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"SmolLM2-135M-Instruct, {args.benchmark} {args.mode}, {args.dialogues} prompts per run, "
          f"torch threads {torch.get_num_threads()}, CPU cores {os.cpu_count()}, load average {load:.1f}")  # fmt: skip
    header = f"{'run':<24}{'batch':>6}{'tok/s':>9}{'accepted/min':>14}{'struct. valid':>15}{'accepted':>10}"
    print(header)
    for r in results:
        print(
            f"{r['label']:<24}{r['batch_size']:>6}{r['tokens_per_second']:>9.2f}{r['accepted_per_minute']:>14.2f}"
            f"{r['structurally_valid']:>9}/{r['outputs']:<5}{r['accepted']:>10}"
        )
    by_label = {r["label"]: r for r in results}
    summary = {}
    if "one_at_a_time" in by_label:
        base_run, batched = by_label["one_at_a_time"], by_label["batched"]
        summary["batched_vs_one_at_a_time_tokens_per_second"] = (
            batched["tokens_per_second"] / base_run["tokens_per_second"]
        )
        summary["batched_vs_one_at_a_time_accepted_per_minute"] = (
            batched["accepted_per_minute"] / base_run["accepted_per_minute"]
            if base_run["accepted_per_minute"]
            else float("nan")
        )
        print(f"batched / one-at-a-time: {summary['batched_vs_one_at_a_time_tokens_per_second']:.2f}x tokens/s, "
              f"{summary['batched_vs_one_at_a_time_accepted_per_minute']:.2f}x accepted dialogues/min")  # fmt: skip
    constrained, free = by_label["batched"], by_label["batched_unconstrained"]
    summary["structurally_valid_constrained"] = constrained["structurally_valid_share"]
    summary["structurally_valid_unconstrained"] = free["structurally_valid_share"]
    summary["constrained_vs_unconstrained_tokens_per_second"] = (
        constrained["tokens_per_second"] / free["tokens_per_second"]
    )
    print(f"structurally valid: constrained {constrained['structurally_valid_share']:.1%}, "
          f"unconstrained {free['structurally_valid_share']:.1%}; constrained decoding runs at "
          f"{summary['constrained_vs_unconstrained_tokens_per_second']:.2f}x the unconstrained tokens/s")  # fmt: skip
    for r in results:
        print(f"  {r['label']} rejections: {r['rejections']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "summary": summary}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
