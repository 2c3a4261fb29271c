"""Wall time of `erc-synth --help` and of `erc-synth COMMAND --help` for every command, each in a fresh interpreter.

    python benchmarks/bench_help.py [--repeats 5] [--limit 0.3]

Prints, per command, the best of `--repeats` runs (the best, because a shared machine only ever adds time) of the
wall time and of the CPU time (user + system) of the process; the CPU time hardly depends on what else the machine
runs. Exits 1 when any wall time is above `--limit`.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

from erc_synth.cli import COMMANDS


def time_help(argv: list[str], repeats: int) -> tuple[float, float]:
    """The best wall time and the best CPU time of `python -m erc_synth.cli ARGV` over `repeats` runs."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "erc_synth.cli", *argv], check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="Runs per command; the best is kept.")
    parser.add_argument("--limit", type=float, default=0.3, help="Seconds a --help may take.")
    args = parser.parse_args(argv)
    slow = []
    for command in [[], *([name] for name in COMMANDS)]:
        seconds, cpu = time_help([*command, "--help"], args.repeats)
        name = " ".join(["erc-synth", *command, "--help"])
        print(f"{name:40s} wall {seconds:.3f} s   cpu {cpu:.3f} s")
        if seconds > args.limit:
            slow.append(name)
    if slow:
        print(f"over {args.limit} s: {', '.join(slow)}", file=sys.stderr)
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
