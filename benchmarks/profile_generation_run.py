"""Where a whole `erc-synth generate` run spends its time: its start, and its decoding steps by how many rows they ran.

`profile_decoding_step.py` looks inside one decoding step with every slot busy; this script looks at a whole run,
whose tokens/s is set also by what a step never shows: loading the model, compiling the grammars, prefilling the
prompts and allocating the cache buffers before the first step, and the tail, where the slots empty out and the
last requests (or a late retry) decode a few rows at a time for about the cost of a full step.

Each setting runs `erc-synth generate` (every default unless given, `OMP_NUM_THREADS` removed) in its own process,
one after the other, with the continuous batcher's admission (prefill and buffers) and step timed from outside (the
library code is not changed for it). It prints, per setting: the seconds before the first step and their parts, the
steps grouped by the rows they decoded (steps, seconds, ms a step, tokens, tokens/s), the step after which each later
request was admitted and beside how many rows, each rejected attempt and its tokens, the steps at the end that
decoded one row alone, the attempts and rejections, the whole run's tokens/s and accepted dialogues per minute, and
whether it accepted the same dialogues as the first.

    python benchmarks/profile_generation_run.py --num-dialogues 32 --settings default max-loop-tokens=0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_generation_contention import child_environment  # noqa: E402 (this folder is on the path: a script)

#: Rows per group of the step table.
ROW_GROUP = 4


def _worker(trace: Path, generate_args: list[str]) -> int:
    """Runs `erc-synth generate` in this process with the batcher's admission and steps timed; writes `trace`."""
    started = time.perf_counter()
    from generation.backends import continuous
    from generation.backends.transformers_backend import TransformersBackend

    events: list[tuple] = []
    totals = {"load": 0.0, "grammar": 0.0}

    def timed(cls: type, name: str, record) -> None:  # noqa: ANN001 - a recorder of one call
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):  # noqa: ANN001, ANN202
            begun = time.perf_counter()
            rows = len(getattr(self, "rows", ()))
            try:
                return original(self, *args, **kwargs)
            finally:
                record(self, rows, begun, time.perf_counter())

        setattr(cls, name, wrapper)

    def add(key: str):  # noqa: ANN202
        def record(_self, _rows, begun, ended):  # noqa: ANN001, ANN202
            totals[key] += ended - begun

        return record

    timed(TransformersBackend, "load", add("load"))
    timed(TransformersBackend, "_grammar", add("grammar"))
    timed(continuous.ContinuousBatcher, "_admit", lambda s, r, b, e: events.append(("admit", b - started, e - b, r)))
    timed(continuous.ContinuousBatcher, "_step", lambda s, r, b, e: events.append(("step", b - started, e - b, r)))

    from erc_synth.cli import main

    status = main(["generate", *generate_args])
    trace.write_text(json.dumps({"events": events, "totals": totals, "wall": time.perf_counter() - started}))
    return status


def _summary(trace: dict, manifest: dict) -> dict:
    steps = [e for e in trace["events"] if e[0] == "step"]
    admits = [e for e in trace["events"] if e[0] == "admit"]
    first_step = steps[0][1] if steps else trace["wall"]
    before = [e for e in admits if e[1] < first_step]
    groups: dict[int, list[float]] = {}
    for _, _, seconds, rows in steps:
        group = groups.setdefault((rows - 1) // ROW_GROUP, [0, 0.0, 0])
        group[0] += 1
        group[1] += seconds
        group[2] += rows
    alone = 0  # the steps at the end that decoded one row
    while alone < len(steps) and steps[len(steps) - 1 - alone][3] == 1:
        alone += 1
    later = [(sum(1 for s in steps if s[1] < e[1]), e[3]) for e in admits if e[1] >= first_step]
    counts = manifest["counts"]
    elapsed = manifest["elapsed_seconds"]
    return {
        "wall": trace["wall"],
        "elapsed": elapsed,
        "load": trace["totals"]["load"],
        "grammar": trace["totals"]["grammar"],
        "first_step_at": first_step,
        "admit_before_first_step": sum(e[2] for e in before),
        "admit_later": sum(e[2] for e in admits if e[1] >= first_step),
        "steps": len(steps),
        "step_seconds": sum(e[2] for e in steps),
        "groups": {g * ROW_GROUP + 1: v for g, v in sorted(groups.items(), reverse=True)},
        "alone_at_end": alone,
        "later_admissions": later,  # (steps before it, rows decoding then)
        "tokens": manifest["tokens"]["completion"],
        "accepted": counts["accepted"],
        "attempts": counts["attempts"],
        "rejected_by_reason": counts["rejected_by_reason"],
        "tokens_per_second": manifest["tokens"]["completion"] / elapsed,
        "accepted_per_minute": counts["accepted"] / elapsed * 60,
    }


def _options(setting: str) -> list[str]:
    """`default` -> no option; `name=value,name=value` -> `--name value --name value`."""
    if setting == "default":
        return []
    options = []
    for pair in setting.split(","):
        name, _, value = pair.partition("=")
        options += [f"--{name.strip()}", value.strip()]
    return options


def _run(setting: str, args: argparse.Namespace, tmp: Path, index: int) -> dict:
    output, trace = tmp / f"run-{index}", tmp / f"trace-{index}.json"
    generate_args = [
        "--benchmark", args.benchmark, "--mode", args.mode, "--num-dialogues", str(args.num_dialogues),
        "--seed", str(args.seed), "--progress", "false", "--output-dir", str(output), *_options(setting),
    ]  # fmt: skip
    command = [sys.executable, __file__, "--worker", str(trace), "--", *generate_args]
    done = subprocess.run(command, env=child_environment(), capture_output=True, text=True)
    if done.returncode != 0 or not trace.exists():
        return {"setting": setting, "error": done.stderr.strip().splitlines()[-3:]}
    from erc_synth_datasets.runs import iter_accepted, iter_rejected

    manifest = json.loads((output / "manifest.json").read_text(encoding="utf-8"))
    dialogues = sorted((r.index, r.attempt, r.speakers, r.utterances, r.emotions) for r in iter_accepted(output))
    digest = hashlib.sha256(json.dumps(dialogues, ensure_ascii=False).encode("utf-8")).hexdigest()
    rejected = sorted((r.index, r.attempt, r.reason, r.completion_tokens) for r in iter_rejected(output))
    summary = _summary(json.loads(trace.read_text()), manifest)
    return {"setting": setting, **summary, "rejected": rejected, "accepted_sha256": digest}


def _print(runs: list[dict]) -> None:
    first = next((run for run in runs if "error" not in run), None)
    for run in runs:
        name = "every default" if run["setting"] == "default" else f"every default but {run['setting']}"
        print(f"\n== {name}")
        if "error" in run:
            print(f"failed: {run['error']}")
            continue
        parts = (f"loading the model {run['load']:.1f}, grammars {run['grammar']:.1f}, "
                 f"prefill and cache buffers {run['admit_before_first_step']:.1f}")  # fmt: skip
        print(f"before the first step: {run['first_step_at']:6.1f} s ({parts})")
        print(f"decoding steps:        {run['step_seconds']:6.1f} s in {run['steps']} steps (later admissions "
              f"{run['admit_later']:.1f} s)")  # fmt: skip
        print(f"  {'rows':>7} {'steps':>6} {'s':>7} {'ms/step':>8} {'tokens':>7} {'tok/s':>7}")
        for lowest, (count, seconds, tokens) in run["groups"].items():
            rows = f"{lowest}-{lowest + ROW_GROUP - 1}"
            print(f"  {rows:>7} {count:>6} {seconds:>7.1f} {1000 * seconds / count:>8.1f} {tokens:>7} "
                  f"{tokens / seconds:>7.1f}")  # fmt: skip
        for steps, rows in run["later_admissions"]:
            print(f"admitted after step {steps}, beside {rows} rows decoding")
        for index, attempt, reason, tokens in run["rejected"]:
            print(f"rejected: plan index {index}, attempt {attempt}, {reason} after {tokens} tokens")
        print(f"the last {run['alone_at_end']} of the {run['steps']} steps decoded one row")
        print(f"whole run: {run['elapsed']:.1f} s, {run['tokens']} tokens, {run['tokens_per_second']:.1f} tok/s, "
              f"{run['accepted']} accepted in {run['attempts']} attempts ({run['accepted_per_minute']:.2f}/min), "
              f"rejections {run['rejected_by_reason']}")  # fmt: skip
        if run is not first:
            same = "the same as" if run["accepted_sha256"] == first["accepted_sha256"] else "NOT the same as"
            print(f"accepted dialogues (index, attempt, speakers, utterances, emotions): {same} the first run's")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        separator = argv.index("--")
        return _worker(Path(argv[1]), argv[separator + 1 :])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="meld")
    parser.add_argument("--mode", default="natural")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-dialogues", type=int, default=32)
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["default"],
        help="Each run's `erc-synth generate` options as name=value pairs joined by commas (max-loop-tokens=0), or "
        "default for every default.",
    )
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    print(f"1-minute load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [_run(setting, args, Path(tmp), i) for i, setting in enumerate(args.settings)]
    _print(runs)
    print(f"\n1-minute load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
