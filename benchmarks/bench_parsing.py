"""Speed of parsing and validating 1 MB model outputs, adversarial and ordinary, against a read-only baseline.

For each input of about 1 MB it times `parse_output` + `validate_dialogue` (the slowest of `--repeat` runs) and, as
the baseline measured in the same run, the least any parser must do with that text: `str.splitlines` plus
`json.loads` attempted on the whole text. The inputs are the shapes that made earlier regex-based parsers
super-linear (runs of spaces inside brackets, an unclosed code fence, repeated prefixes, deep nesting) and ordinary
shapes (many well-formed lines, a large JSON document, random printable text).

Usage:
    python benchmarks/bench_parsing.py              # every input, both output formats
    python benchmarks/bench_parsing.py --size 200000
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time
from functools import partial

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark
from generation.parsing import parse_output
from generation.validation import validate_dialogue


def inputs(size: int) -> dict[str, str]:
    rng = random.Random(0)
    turn = {"speaker": "Ross", "utterance": "We were on a break!", "emotion": 7}
    document = json.dumps({"turns": [turn] * (size // len(json.dumps(turn)))})
    return {
        "spaces in brackets": "Ross: (" + " " * size + "x",
        "unclosed fence": "```" + " " * size,
        "fence then spaces then json": "```json" + " " * size + "{",
        "repeated list prefixes": "- 1. " * (size // 5) + "Ross: Hi. (1)",
        "opening brackets": "Ross: " + "(" * size,
        "deep JSON nesting": "[" * size,
        "colons": ":" * size,
        "short colon lines": "a:\n" * (size // 3),
        "empty lines": "\n" * size,
        "dashes and digits": "Ross: a" + " - 1" * (size // 4),
        "well-formed lines": "Ross: I can't believe it. (2)\n" * (size // 30),
        "large JSON document": document,
        "random printable": "".join(rng.choice(string.printable) for _ in range(size)),
    }


def baseline(text: str) -> None:
    text.splitlines()
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        pass


def parse_and_validate(text: str, benchmark: Benchmark, output_format: str) -> None:
    validate_dialogue(parse_output(text, benchmark, output_format), benchmark, max_utterance_chars=200)


def slowest(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000, help="Characters per input (default 1 MB).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per input; the slowest is reported.")
    args = parser.parse_args()
    meld = get_benchmark("meld")
    worst = 0.0
    print(f"{'input':<30} {'format':<6} {'chars':>9} {'ours (s)':>9} {'baseline (s)':>12} {'result':<20}")
    for name, text in inputs(args.size).items():
        for output_format in ("json", "lines"):
            ours_s = slowest(partial(parse_and_validate, text, meld, output_format), args.repeat)
            base_s = slowest(partial(baseline, text), args.repeat)
            verdict = validate_dialogue(parse_output(text, meld, output_format), meld, max_utterance_chars=200)
            worst = max(worst, ours_s)
            result = "accepted" if verdict.ok else verdict.reason
            print(f"{name:<30} {output_format:<6} {len(text):>9} {ours_s:>9.3f} {base_s:>12.3f} {result:<20}")
    print(f"slowest parse + validate of one input: {worst:.3f} s")


if __name__ == "__main__":
    main()
