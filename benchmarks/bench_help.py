"""Wall time of `erc-synth --help` and of `erc-synth COMMAND --help` for every command, each in a fresh interpreter.

    python benchmarks/bench_help.py [--repeats 5] [--limit 0.3]

Prints the best of `--repeats` runs per command (seconds; the best, because a shared machine only ever adds time)
and exits 1 when any is above `--limit`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from erc_synth.cli import COMMANDS


def time_help(argv: list[str], repeats: int) -> float:
    """The best wall time of `python -m erc_synth.cli ARGV` over `repeats` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "erc_synth.cli", *argv], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="Runs per command; the best is kept.")
    parser.add_argument("--limit", type=float, default=0.3, help="Seconds a --help may take.")
    args = parser.parse_args(argv)
    slow = []
    for command in [[], *([name] for name in COMMANDS)]:
        seconds = time_help([*command, "--help"], args.repeats)
        name = " ".join(["erc-synth", *command, "--help"])
        print(f"{name:40s} {seconds:.3f} s")
        if seconds > args.limit:
            slow.append(name)
    if slow:
        print(f"over {args.limit} s: {', '.join(slow)}", file=sys.stderr)
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
