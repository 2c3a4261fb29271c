"""`erc-synth demo`: the main job on the embedded defaults, to see the tool work on a fresh machine.

Generates a small `meld_balanced` set with the default model (SmolLM2-135M-Instruct, packaged, CPU), builds the
dataset folder, loads it back with `load_dataset`, and prints its statistics and one sample dialogue; then, for
comparison, the statistics of the real MELD (from ../shared/data when present, else the project's own small
fixture). Everything is written under `demo-output/` (ignored by git); re-running resumes or reuses the runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["main", "make_parser"]

REPO_ROOT = Path(__file__).resolve().parents[2]

# Small enough for a few minutes on 2 CPU cores: one dialogue per MELD label, a few short utterances each.
DEMO_GENERATION = [
    "--benchmark", "meld", "--mode", "balanced", "--num-dialogues", "7", "--max-new-tokens", "144",
    "--batch-size", "7", "--max-turns", "3", "--max-utterance-chars", "40", "--max-attempts", "2", "--no-progress",
]  # fmt: skip
DEMO_SPLIT_RATIOS = "0.6,0.2,0.2"
MIN_DIALOGUES = 3  # one per split
MAX_RUNS = 3


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erc-synth demo",
        description="Generate a small meld_balanced set with the default model, build the dataset folder, load it "
        "with load_dataset, print statistics and one dialogue; then the real MELD's statistics for comparison.",
    )
    parser.add_argument("--output", type=Path, default=Path("demo-output"), help="Folder for runs and the dataset.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the first generation run.")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="MELD folder for the closing comparison (default: ../shared/data/meld next to the checkout, if any).",
    )
    parser.add_argument("--skip-real", action="store_true", help="Do not print the real MELD's statistics.")
    return parser


def _generate(output: Path, first_seed: int) -> list[Path]:
    """Runs generation (seed, seed+1, ...) until the pooled runs hold enough dialogues for three splits."""
    from generation import cli as generate_cli
    from generation.run_format import read_manifest

    runs: list[Path] = []
    accepted = 0
    for seed in range(first_seed, first_seed + MAX_RUNS):
        run_dir = output / "runs" / f"meld_balanced-seed{seed}"
        print(f"\n== Generating {run_dir} (seed {seed}) with the default model ==", flush=True)
        status = generate_cli.main([*DEMO_GENERATION, "--seed", str(seed), "--output", str(run_dir)])
        if status != 0:
            raise SystemExit(status)
        runs.append(run_dir)
        accepted += read_manifest(run_dir)["counts"]["accepted"]
        if accepted >= MIN_DIALOGUES:
            break
        print(f"{accepted} accepted so far; a small model often breaks the format, generating more.", flush=True)
    return runs


def _show_dialogue(dataset) -> None:
    names = dataset.features["emotions"].feature.names
    row = dataset[0]
    print(f"\n== One dialogue: {row['dialogue_id']} (target emotion: {row['target_emotion']}) ==")
    for speaker, utterance, emotion in zip(row["speakers"], row["utterances"], row["emotions"], strict=True):
        print(f"  {speaker}: {utterance}  [{names[emotion]}]")


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from datasets import load_dataset

    from ..build import BuildConfig, BuildError, build_dataset
    from ..stats import compute_stats, format_stats
    from . import stats

    output = args.output
    runs = _generate(output, args.seed)
    folder = output / "erc-synth"
    print(f"\n== Building {folder} ==", flush=True)
    try:
        result = build_dataset(runs, BuildConfig(output=str(folder), split_ratios=DEMO_SPLIT_RATIOS))
    except BuildError as err:
        print(f"erc-synth demo: {err}")
        return 1
    built = result.configs[0]
    print(f'\n== load_dataset("{folder}", "{built.name}") ==')
    dataset = load_dataset(str(folder), built.name)
    print(dataset)
    rate = f"{100 * built.acceptance_rate:.1f}%" if built.acceptance_rate is not None else "n/a"
    print(f"\nAcceptance: {built.accepted} of {built.attempts} attempts ({rate}).")
    print(format_stats(compute_stats(dataset), title=f"{built.name} (synthetic)"))
    _show_dialogue(dataset["train"])
    print(f"\nDataset card: {folder / 'README.md'}; plot: {folder / built.plot}")
    print(f"Publish it with: erc-synth push {folder} --repo-id <org>/erc-synth --dry-run")

    if args.skip_real:
        return 0
    data_dir = args.data_dir
    if data_dir is None:
        data_dir = REPO_ROOT.parent / "shared" / "data" / "meld"
        if not data_dir.is_dir():
            print(f"\n(No MELD folder at {data_dir}: pass --data-dir to compare with the real benchmark.)")
            return 0
    print("\n== For comparison: the real MELD ==", flush=True)
    return stats.main(["meld", "--data-dir", str(data_dir)])
