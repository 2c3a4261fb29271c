"""`erc-synth demo`: the main job on the embedded defaults, to see the tool work on a fresh machine.

Generates a small `meld_balanced` set with the default model (SmolLM2-135M-Instruct, packaged, CPU): exactly the
dialogues it asks for, the attempt budget grown from the acceptance rate it measures. Builds the dataset folder,
loads it back with `load_dataset`, prints its statistics, one sample dialogue and the quality headline (label
agreement, discriminator AUC, label distribution distance) beside the real MELD, with what the 135M model can and
cannot do; then the statistics of the real MELD (from ../shared/data when present). Everything is written under
`demo-output/` (ignored by git); re-running resumes or reuses the run. Every step is a library call
(`run_generation`, `build_dataset`, `report_run`, `benchmark_stats`), the same functions the other commands call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erc_synth_datasets.build import BuildConfig, build_dataset, refresh_card
from erc_synth_datasets.errors import ErcSynthError, reports_errors
from erc_synth_datasets.options import OptionParser
from erc_synth_datasets.quality.outputs import config_report_folder, report_run
from erc_synth_datasets.quality.render import headline_figures
from erc_synth_datasets.runs import MANIFEST_NAME, read_manifest
from erc_synth_datasets.stats import benchmark_stats, compute_stats, format_stats
from erc_synth_datasets.vocabulary import ConfigName, Mode
from generation.config import GenerationConfig

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
# The most attempts the demo spends per dialogue asked for (the budget grows to it from the measured acceptance).
MAX_ATTEMPTS_PER_DIALOGUE = 12
# The figures that say whether the labels and the dialogues are worth training on (`quality.render.headline_figures`).
QUALITY_HEADLINE = {
    "label_fidelity.kappa": "label agreement (kappa, generator vs a MELD-trained classifier)",
    "realism.discriminator_auc": "discriminator AUC, real vs synthetic (0.5 = indistinguishable)",
    "realism.label_jsd": "label distribution distance from real MELD (JS divergence)",
}
MODEL_NOTE = (
    "The default SmolLM2-135M runs on any CPU and keeps the dialogue format and the label set, so it shows the whole "
    "pipeline; it cannot be trusted to label emotions (its labels agree with a MELD-trained classifier far less than "
    "MELD's own labels do) or to write MELD-like dialogue, and a handful of dialogues makes every figure above noisy: "
    "data worth training on needs a 7B+ model and thousands of dialogues (configs/release/paper.yaml)."
)


class DemoError(ErcSynthError):
    """The demo's generation stopped before it had the dialogues it asked for."""


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


def make_parser() -> OptionParser:
    return OptionParser(
        DemoOptions,
        prog=PROG,
        description="Generate a small meld_balanced set with the default model, build the dataset folder, load it "
        "with load_dataset, print statistics and one dialogue; then the real MELD's statistics for comparison.",
    )


def _generate(output: Path, seed: int) -> Path:
    """Generates exactly `num_dialogues` dialogues: when the attempt budget runs out first, the run is continued with
    a budget sized from the acceptance rate it measured, up to `MAX_ATTEMPTS_PER_DIALOGUE` attempts a dialogue."""
    # heavy: generation.runner loads datasets; imported when the demo generates so --help stays fast
    from generation.runner import run_generation

    wanted = DEMO_GENERATION["num_dialogues"]
    cap = wanted * MAX_ATTEMPTS_PER_DIALOGUE
    run_dir = output / "runs" / f"{DEMO_CONFIG}-seed{seed}"
    # A run made before (the demo run again) starts from the attempts it already spent.
    spent = read_manifest(run_dir).counts.attempts if (run_dir / MANIFEST_NAME).is_file() else 0
    budget = max(wanted * DEMO_GENERATION["max_attempts"], spent)
    print(f"\n== Generating {wanted} dialogues into {run_dir} (seed {seed}) with the default model ==", flush=True)
    while True:
        config = GenerationConfig(**DEMO_GENERATION, seed=seed, output_dir=str(run_dir), attempt_budget=budget)
        summary = run_generation(config)
        print(f"{summary.status}: {summary.accepted} accepted, {summary.rejected} rejected", flush=True)
        if summary.status == "complete":
            return run_dir
        if summary.status != "budget_spent" or budget >= cap:
            raise DemoError(
                f"The demo run {run_dir} ended {summary.status} with {summary.accepted} of {wanted} dialogues after "
                f"{summary.attempts} attempts ({summary.message or 'no message'}); run the demo again to continue."
            )
        rate = max(summary.accepted / summary.attempts, 1 / MAX_ATTEMPTS_PER_DIALOGUE)
        budget = min(cap, summary.attempts + math.ceil(1.5 * (wanted - summary.accepted) / rate))
        print(
            f"Acceptance so far {summary.accepted / summary.attempts:.0%}: a small model often breaks the format; "
            f"continuing with {budget - summary.attempts} more attempts for the other "
            f"{wanted - summary.accepted} dialogues.",
            flush=True,
        )


def _show_quality(report: dict[str, Any]) -> None:
    figures = headline_figures(report)
    real = "the real MELD" if report["real"]["kind"] == "data" else "stored figures of the real MELD"
    print(f"\n== Quality beside {real} (erc-synth quality) ==")
    print(f"  {'':<64} {'synthetic':>9} {'real':>9}")
    for key, title in QUALITY_HEADLINE.items():
        figure = figures.get(key) or {}
        print(f"  {title:<64} {_number(figure.get('synthetic')):>9} {_number(figure.get('real')):>9}")
    print(f"\n{MODEL_NOTE}")


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


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

    # heavy: loads datasets; imported when the demo runs so --help stays fast
    from erc_synth_datasets.loaders import benchmark_files

    data_dir = None if options.skip_real else options.data_dir or REPO_ROOT.parent / "shared" / "data" / "meld"
    # The real files are read after minutes of generation: a folder given on purpose (or the default one, when it
    # exists) must hold them now, as the loader finds them.
    if data_dir is not None and (options.data_dir is not None or data_dir.is_dir()):
        benchmark_files(DEMO_CONFIG.benchmark, data_dir)
    run_dir = _generate(options.output_dir, options.seed)
    folder = options.output_dir / "erc-synth"
    print(f"\n== Building {folder} ==", flush=True)
    build_config = BuildConfig(output_dir=str(folder), split_ratios=DEMO_SPLIT_RATIOS)
    built = build_dataset([run_dir], build_config).configs[0]
    report = report_run(run_dir, config_report_folder(folder, built.name), data_dir=data_dir)
    refresh_card(folder, build_config)  # the card shows the report
    print(f'\n== load_dataset("{folder}", "{built.name}") ==')
    dataset = load_dataset(str(folder), built.name)
    print(dataset)
    rate = f"{100 * built.acceptance_rate:.1f}%" if built.acceptance_rate is not None else "n/a"
    print(f"\nAcceptance: {built.accepted} of {built.attempts} attempts ({rate}).")
    print(format_stats(compute_stats(dataset), title=f"{built.name} (synthetic)"))
    _show_dialogue(dataset["train"])
    _show_quality(report)
    print(f"\nDataset card: {folder / 'README.md'}; plot: {folder / built.plot}")
    print(f"Publish it with: erc-synth push {folder} --repo-id <org>/erc-synth --dry-run")

    if options.skip_real:
        return 0
    if data_dir is None or not data_dir.is_dir():
        print(f"\n(No MELD folder at {data_dir}: pass --data-dir to compare with the real benchmark.)")
        return 0
    print("\n== For comparison: the real MELD ==", flush=True)
    stats, load_report = benchmark_stats(DEMO_CONFIG.benchmark, data_dir)
    print(format_stats(stats, title=f"MELD ({data_dir})"))
    print()
    print(load_report.summary())
    return 0
