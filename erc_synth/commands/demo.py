"""`erc-synth demo`: the main job on the embedded defaults, to see the tool work on a fresh machine.

Generates a small `meld_balanced` set with the default model (SmolLM2-135M-Instruct, packaged, CPU), builds the
dataset folder, loads it back with `load_dataset`, and prints its statistics and one sample dialogue; then, for
comparison, the statistics of the real MELD (from ../shared/data when present). Everything is written under
`demo-output/` (ignored by git); re-running resumes or reuses the runs. Every step is a library call
(`run_generation`, `build_dataset`, `benchmark_stats`), the same functions the other commands call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.errors import reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.vocabulary import ConfigName, Mode

__all__ = ["DemoOptions", "main", "make_parser"]

PROG = "erc-synth demo"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ConfigName("meld", Mode.BALANCED)

# Small enough for a few minutes on 2 CPU cores: one dialogue per MELD label, a few short utterances each.
DEMO_GENERATION: dict[str, Any] = {
    "benchmark": DEMO_CONFIG.benchmark,
    "mode": DEMO_CONFIG.mode.value,
    "num_dialogues": 7,
    "max_new_tokens": 144,
    "batch_size": 7,
    "max_turns": 3,
    "max_utterance_chars": 40,
    "max_attempts": 2,
    "progress": False,
}
DEMO_SPLIT_RATIOS = "0.6,0.2,0.2"
MIN_DIALOGUES = 3  # one per split
MAX_RUNS = 3


@dataclass
class DemoOptions:
    """Options of `erc-synth demo`."""

    output_dir: Path = field(default=Path("demo-output"), metadata={"help": "Folder for runs and the dataset."})
    seed: int = field(
        default=0, metadata={"range": "[0, 9223372036854775807]", "help": "Seed of the first generation run."}
    )
    data_dir: Path | None = field(
        default=None,
        metadata={
            "help": "MELD folder for the closing comparison (default: ../shared/data/meld next to the checkout, if "
            "any)."
        },
    )
    skip_real: bool = field(default=False, metadata={"help": "Do not print the real MELD's statistics."})

    def __post_init__(self) -> None:
        # A folder given on purpose is checked before minutes of generation (only the default may be absent).
        if self.data_dir is not None and not self.skip_real and not self.data_dir.is_dir():
            raise ConfigError(
                f"--data-dir {str(self.data_dir)!r} is not an existing folder; give the real MELD folder, or "
                "--skip-real."
            )


def make_parser() -> OptionParser:
    return OptionParser(
        DemoOptions,
        prog=PROG,
        description="Generate a small meld_balanced set with the default model, build the dataset folder, load it "
        "with load_dataset, print statistics and one dialogue; then the real MELD's statistics for comparison.",
    )


def _generate(output: Path, first_seed: int) -> list[Path]:
    """Runs generation (seed, seed+1, ...) until the pooled runs hold enough dialogues for three splits."""
    from generation.config import GenerationConfig
    from generation.runner import run_generation

    runs: list[Path] = []
    accepted = 0
    for seed in range(first_seed, first_seed + MAX_RUNS):
        run_dir = output / "runs" / f"{DEMO_CONFIG}-seed{seed}"
        print(f"\n== Generating {run_dir} (seed {seed}) with the default model ==", flush=True)
        summary = run_generation(GenerationConfig(**DEMO_GENERATION, seed=seed, output_dir=str(run_dir)))
        print(f"{summary.status}: {summary.accepted} accepted, {summary.rejected} rejected", flush=True)
        runs.append(run_dir)
        accepted += summary.accepted
        if accepted >= MIN_DIALOGUES:
            break
        print(f"{accepted} accepted so far; a small model often breaks the format, generating more.", flush=True)
    return runs


def _show_dialogue(dataset: Any) -> None:
    names = dataset.features["emotions"].feature.names
    row = dataset[0]
    print(f"\n== One dialogue: {row['dialogue_id']} (target emotion: {row['target_emotion']}) ==")
    for speaker, utterance, emotion in zip(row["speakers"], row["utterances"], row["emotions"], strict=True):
        print(f"  {speaker}: {utterance}  [{names[emotion]}]")


@reports_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    (options,) = make_parser().parse(argv)
    from datasets import load_dataset

    from erc_synth_datasets.build import BuildConfig, build_dataset
    from erc_synth_datasets.stats import benchmark_stats, compute_stats, format_stats

    runs = _generate(options.output_dir, options.seed)
    folder = options.output_dir / "erc-synth"
    print(f"\n== Building {folder} ==", flush=True)
    # The demo's runs have a small attempt budget; a run that spent it still holds good dialogues to build from.
    build_config = BuildConfig(output_dir=str(folder), split_ratios=DEMO_SPLIT_RATIOS, allow_incomplete=True)
    result = build_dataset(runs, build_config)
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

    if options.skip_real:
        return 0
    data_dir = options.data_dir or REPO_ROOT.parent / "shared" / "data" / DEMO_CONFIG.benchmark
    if not data_dir.is_dir():
        print(f"\n(No MELD folder at {data_dir}: pass --data-dir to compare with the real benchmark.)")
        return 0
    print("\n== For comparison: the real MELD ==", flush=True)
    stats, report = benchmark_stats(DEMO_CONFIG.benchmark, data_dir)
    print(format_stats(stats, title=f"MELD ({data_dir})"))
    print()
    print(report.summary())
    return 0
