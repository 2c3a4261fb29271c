"""`erc-synth demo`: the main job on the embedded defaults, to see the tool work on a fresh machine."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["main", "make_parser"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erc-synth demo",
        description="Load MELD from ../shared/data when present (else the project's own small fixture) and print "
        "its statistics.",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="MELD folder to read instead of the defaults.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from . import stats

    data_dir = args.data_dir
    if data_dir is None:
        shared = REPO_ROOT.parent / "shared" / "data" / "meld"
        data_dir = shared if shared.is_dir() else REPO_ROOT / "tests" / "fixtures" / "benchmarks" / "meld"
    return stats.main(["meld", "--data-dir", str(data_dir)])
