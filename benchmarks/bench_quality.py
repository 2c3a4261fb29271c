"""Quality of the default model's output, before and after the quality work, beside real MELD.

Generates (or reads) MELD natural and balanced runs with fixed seeds, under the old settings (the paper's prompt, no
repetition control) and the current ones, and prints one table per run set: the issue's targets (repeated
utterances within a dialogue <= 5%, repetitive utterances <= 5%, legend-order label sequences <= 10% of dialogues,
in the accepted data), acceptance rate, label fidelity (kappa) and the real-vs-synthetic discriminator AUC, with
the real MELD figures in the last column. "after filters" applies `generation.filters.DialogueFilter` to the
accepted records in order, as the runner does when the filters are on (rejected dialogues count as failed attempts).

    python benchmarks/bench_quality.py --data-dir ../shared/data/meld --generate --num-dialogues 40 --work runs/bench
    python benchmarks/bench_quality.py --data-dir ../shared/data/meld --run old-natural=runs/a --run new-natural=runs/b

SmolLM2-135M on 2 CPU cores writes a few dialogues a minute; --generate at 40 dialogues per run takes hours there.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROMPTS = REPO / "generation" / "defaults" / "prompts"
#: Run settings compared: name -> extra `erc-synth generate` flags.
SETTINGS = {
    "old": ["--prompt_file", str(PROMPTS / "meld.yaml"), "--repetition_penalty", "1.0"],
    "new": ["--prompt_file", str(PROMPTS / "meld-v2.yaml"), "--repetition_penalty", "1.1"],
}
MODES = ("natural", "balanced")
ROWS = (
    ("repeated utterances within a dialogue (target <= 5%)", "degeneracy", "repeated_utterances"),
    ("repetitive utterances (target <= 5%)", "degeneracy", "repetitive_utterances"),
    ("legend-order dialogues (target <= 10%)", "degeneracy", "legend_order_dialogues"),
    ("dialogues at max_turns", "degeneracy", "at_max_turns"),
    ("turns per dialogue (mean)", "realism", "turns_mean"),
    ("distinct-2", "diversity", "distinct_2"),
    ("label JSD from real", "realism", "label_jsd"),
    ("discriminator AUC (0.5 = indistinguishable)", "realism", "discriminator_auc"),
    ("label fidelity, Cohen's kappa", "label_fidelity", "kappa"),
)


def generate(work: Path, num_dialogues: int, seed: int) -> dict[str, Path]:
    from generation.cli import main as generate_main

    runs = {}
    for setting, flags in SETTINGS.items():
        for mode in MODES:
            output = work / f"{setting}-{mode}"
            argv = ["--config", str(REPO / "configs" / "generation" / f"meld_{mode}.yaml"), "--output", str(output)]
            argv += ["--num_dialogues", str(num_dialogues), "--seed", str(seed), *flags]
            generate_main(argv)
            runs[f"{setting}-{mode}"] = output
    return runs


def filtered(source):
    """The source as the runner would have accepted it with the filters on (same attempts, fewer accepted)."""
    from generation.filters import DialogueFilter, FilterSettings

    dialogue_filter = DialogueFilter(FilterSettings(), source.benchmark)
    kept = []
    for dialogue in source.dialogues:
        if dialogue_filter.check(dialogue.speakers, dialogue.utterances, dialogue.emotions) is None:
            dialogue_filter.add(dialogue.speakers, dialogue.utterances, dialogue.emotions)
            kept.append(dialogue)
    return replace(source, dialogues=kept)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="Real MELD files.")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=DIR", help="An existing run folder.")
    parser.add_argument("--generate", action="store_true", help="Generate the old/new x natural/balanced runs.")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench_quality")
    parser.add_argument("--num-dialogues", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--embeddings", action="store_true", help="Also compute embedding figures (slower).")
    args = parser.parse_args(argv)

    from erc_synth_datasets.benchmarks import get_benchmark
    from erc_synth_datasets.quality.report import QualitySettings, compute_report
    from erc_synth_datasets.quality.sources import load_real_split, load_run

    runs = dict(item.split("=", 1) for item in args.run)
    if args.generate:
        runs.update(generate(args.work, args.num_dialogues, args.seed))
    meld = get_benchmark("meld")
    train = load_real_split(meld, args.data_dir, "train")
    test = load_real_split(meld, args.data_dir, "test")
    settings = QualitySettings(embeddings=args.embeddings, seed=args.seed)
    for name, run_dir in runs.items():
        source = load_run(run_dir)
        columns = {"as accepted": source, "after filters": filtered(source)}
        reports = {
            label: compute_report(data, real=train, real_test=test, settings=settings)
            for label, data in columns.items()
        }
        first = reports["as accepted"]
        print(f"\n### {name} ({run_dir})\n")
        print(f"| measure | {' | '.join(columns)} | real MELD train |")
        print("|---|" + "---:|" * (len(columns) + 1))
        accepted = [str(len(data.dialogues)) for data in columns.values()]
        print(f"| accepted dialogues | {' | '.join(accepted)} | {len(train)} |")
        rates = [_cell(len(data.dialogues) / data.attempts if data.attempts else None) for data in columns.values()]
        print(f"| acceptance rate ({source.attempts} attempts) | {' | '.join(rates)} | - |")
        for title, section, key in ROWS:
            cells = [_cell(report[section].get(key, {}).get("synthetic")) for report in reports.values()]
            print(f"| {title} | {' | '.join(cells)} | {_cell(first[section].get(key, {}).get('real'))} |")
        print(f"\nrejections: {source.rejections}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
