"""Quality of the default model's output under each generation setting, on the same seeds, beside the real benchmark.

Generates (or reads) natural and balanced runs of a benchmark (`--benchmark`: meld, emorynlp, iemocap, or a custom
benchmark YAML; default meld) with fixed seeds, one per setting of `SETTINGS` (the old defaults, each new option
alone, the options together, and whatever the defaults are now), and prints one table per run: the degeneracy
targets (repeated utterances within a dialogue <= 5%, repetitive utterances <= 5%, legend-order label sequences <= 10%
of dialogues, in the accepted data), acceptance rate, label fidelity (kappa) and the real-vs-synthetic discriminator
AUC, with the real benchmark's figures (its train split) in the last column, then one summary table of the headline
figures of every run.

Columns of a run's table:

- "valid outputs": every output that passed validation, before the quality filters: the accepted dialogues plus
  those the generation-time filters rejected (re-read from their raw text in the rejection log). This is what the
  model writes when its output is well-formed.
- "accepted": what the run accepted (with the filters on, the default, these already passed them; for a run made
  with `--no-filters`, a third column applies `generation.filters.DialogueFilter` to the accepted records in order,
  as the runner would have).

    python benchmarks/bench_quality.py --data-dir ../shared/data/meld --generate --num-dialogues 8 \\
        --modes natural --settings old,turns,words,turns+words --work /tmp/bench_quality
    python benchmarks/bench_quality.py --data-dir ../shared/data/meld --generate --num-dialogues 40 \\
        --settings default --work /tmp/bench_quality
    python benchmarks/bench_quality.py --data-dir ../shared/data/meld --run old-natural=runs/a --run x=runs/b
    python benchmarks/bench_quality.py --benchmark emorynlp --data-dir ../shared/data/emorynlp --generate \
        --num-dialogues 40 --settings default --work /tmp/bench_quality_emorynlp

The settings other than "default" name MELD's prompt templates and so run on MELD only; "default" runs on every
benchmark (its `configs/generation/<benchmark>_<mode>.yaml` preset). Only aggregate figures are printed, never a
dialogue, so the output of a licensed benchmark (IEMOCAP) can be recorded.

Every setting spells out every option it compares, so its runs do not change when the defaults change ("default"
alone takes the defaults as they are). SmolLM2-135M on 2 shared CPU cores writes a few dialogues a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from erc_synth_datasets.errors import reports_errors  # noqa: E402 (after the path)


def _flags(template: str, turn_counts: str, emotion_format: str, repetition_penalty: float) -> list[str]:
    """Every option a setting compares, spelled out, so that its runs do not move when the defaults do."""
    return [
        *("--prompt_file", template, "--turn_counts", turn_counts, "--emotion_format", emotion_format),
        *("--repetition_penalty", str(repetition_penalty)),
    ]


#: Run settings compared: name -> extra `erc-synth generate` flags (on top of configs/generation/meld_<mode>.yaml).
SETTINGS = {
    # The defaults before this work: the paper's template, min_turns..max_turns, legend numbers, no penalty.
    "old": _flags("meld", "range", "number", 1.0),
    # One new option at a time: the drawn turn count (stated by meld-v3, the paper's text otherwise), label words.
    "turns": _flags("meld-v3", "reference", "number", 1.0),
    "words": _flags("meld", "range", "word", 1.0),
    # Both.
    "turns+words": _flags("meld-v3", "reference", "word", 1.0),
    # A repetition penalty (1.1, on every token) alone and with label words: without a count in the schema it makes
    # the model close the JSON list early.
    "penalty": _flags("meld", "range", "number", 1.1),
    "words+penalty": _flags("meld", "range", "word", 1.1),
    # With the count enforced by the schema, a repetition penalty can no longer end the JSON early.
    "turns+penalty": _flags("meld-v3", "reference", "number", 1.1),
    "turns+words+penalty": _flags("meld-v3", "reference", "word", 1.1),
    # The earlier candidate (revised template, repetition penalty), kept for comparison.
    "v2+penalty": _flags("meld-v2", "range", "number", 1.1),
    # Whatever the defaults are now (the target measurement).
    "default": [],
}
MODES = ("natural", "balanced")
ROWS = (
    ("repeated utterances within a dialogue (target <= 5%)", "degeneracy", "repeated_utterances"),
    ("repetitive utterances (target <= 5%)", "degeneracy", "repetitive_utterances"),
    ("legend-order dialogues (target <= 10%)", "degeneracy", "legend_order_dialogues"),
    ("dialogues at max_turns", "degeneracy", "at_max_turns"),
    ("turns per dialogue (mean)", "realism", "turns_mean"),
    ("label entropy within a dialogue (bits)", "degeneracy", "label_entropy"),
    ("distinct-2", "diversity", "distinct_2"),
    ("label JSD from real", "realism", "label_jsd"),
    ("discriminator AUC (0.5 = indistinguishable)", "realism", "discriminator_auc"),
    ("label fidelity, Cohen's kappa", "label_fidelity", "kappa"),
)
SUMMARY = (
    "repeated_utterances",
    "repetitive_utterances",
    "legend_order_dialogues",
    "turns_mean",
    "kappa",
    "discriminator_auc",
)


def generate(
    work: Path,
    benchmark: str,
    settings: list[str],
    modes: list[str],
    num_dialogues: int,
    seed: int,
    runtime: list[str],
) -> dict[str, Path]:
    """Runs `erc-synth generate` once per (setting, mode) into `work/<setting>-<mode>` (an existing run folder is
    resumed or extended), on `configs/generation/<benchmark>_<mode>.yaml` when that preset exists."""
    from erc_synth.commands.generate import main as generate_main

    runs = {}
    for setting in settings:
        for mode in modes:
            output = work / f"{setting}-{mode}"
            preset = REPO / "configs" / "generation" / f"{benchmark}_{mode}.yaml"
            argv = ["--config", str(preset)] if preset.is_file() else ["--benchmark", benchmark, "--mode", mode]
            argv += ["--output-dir", str(output)]
            argv += ["--num_dialogues", str(num_dialogues), "--seed", str(seed), *SETTINGS[setting], *runtime]
            started = time.monotonic()
            status = generate_main(argv)
            print(f"[{setting}-{mode}] exit {status} after {time.monotonic() - started:.0f} s", flush=True)
            runs[f"{setting}-{mode}"] = output
    return runs


def valid_outputs(source, run_dir: Path):
    """The accepted dialogues plus the valid ones the quality filters rejected (re-read from the rejection log), in
    plan order: everything well-formed the model wrote."""
    from erc_synth_datasets.quality.metrics import Dialogue
    from erc_synth_datasets.runs import iter_accepted, iter_rejected, read_manifest
    from generation.filters import REASON_CODES
    from generation.parsing import parse_output

    output_format = read_manifest(run_dir).settings.get("output_format", "json")
    benchmark = source.benchmark
    entries = []
    for record in iter_accepted(run_dir):
        entries.append(((record.index, record.attempt), record.speakers, record.utterances, record.emotions))
    for record in iter_rejected(run_dir):
        if record.reason not in REASON_CODES:
            continue
        parsed = parse_output(record.raw_text, benchmark, output_format)
        turns = parsed.turns
        entries.append(
            (
                (record.index, record.attempt),
                [t.speaker for t in turns],
                [t.utterance for t in turns],
                [t.emotion for t in turns],
            )
        )
    dialogues = [
        Dialogue(speakers, [u.strip() for u in utterances], [benchmark.label_id(label) for label in emotions])
        for _, speakers, utterances, emotions in sorted(entries, key=lambda entry: entry[0])
    ]
    return replace(source, dialogues=dialogues)


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


def _figure(report, key):
    for section in ("degeneracy", "realism", "diversity", "label_fidelity"):
        if key in report[section]:
            return report[section][key]
    return {}


@reports_errors("bench_quality.py")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="meld", help="Benchmark: a name or a custom benchmark YAML.")
    parser.add_argument("--data-dir", type=Path, required=True, help="The real benchmark's files.")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=DIR", help="An existing run folder.")
    parser.add_argument("--generate", action="store_true", help="Generate one run per setting and mode.")
    parser.add_argument(
        "--settings", default="old,turns,words,turns+words", help=f"Comma-separated, of {list(SETTINGS)}."
    )
    parser.add_argument("--modes", default=",".join(MODES), help="Comma-separated: natural, balanced.")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench_quality")
    parser.add_argument("--num-dialogues", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="Slots decoding together (generate).")
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (generate).")
    parser.add_argument("--embeddings", action="store_true", help="Also compute embedding figures (slower).")
    args = parser.parse_args(argv)

    from erc_synth_datasets.benchmarks import get_benchmark
    from erc_synth_datasets.quality.report import QualitySettings, compute_report
    from erc_synth_datasets.quality.sources import load_real_split, load_run
    from erc_synth_datasets.runs import read_manifest

    runs = {name: Path(path) for name, path in (item.split("=", 1) for item in args.run)}
    if args.generate:
        settings = [name for name in args.settings.split(",") if name]
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            parser.error(f"unknown settings {unknown}; available: {list(SETTINGS)}")
        if args.benchmark != "meld" and set(settings) - {"default"}:
            parser.error("settings other than 'default' use MELD's prompt templates: give --settings default")
        runtime = ["--no-progress"]
        if args.batch_size is not None:
            runtime += ["--batch_size", str(args.batch_size)]
        if args.num_threads is not None:
            runtime += ["--num_threads", str(args.num_threads)]
        modes = [mode for mode in args.modes.split(",") if mode]
        runs.update(generate(args.work, args.benchmark, settings, modes, args.num_dialogues, args.seed, runtime))
    benchmark = get_benchmark(args.benchmark)
    train = load_real_split(benchmark, args.data_dir, "train")
    test = load_real_split(benchmark, args.data_dir, "test")
    real_name = f"real {benchmark.name}"
    settings = QualitySettings(embeddings=args.embeddings, seed=args.seed)
    summary = {}
    for name, run_dir in runs.items():
        source = load_run(run_dir)
        columns = {"valid outputs": valid_outputs(source, run_dir), "accepted": source}
        if read_manifest(run_dir).settings.get("filters") is False:
            columns["after filters"] = filtered(source)
        reports = {
            label: compute_report(data, real=train, real_test=test, settings=settings)
            for label, data in columns.items()
        }
        accepted = reports["accepted"]
        print(f"\n### {name} ({run_dir})\n")
        print(f"| measure | {' | '.join(columns)} | {real_name} train |")
        print("|---|" + "---:|" * (len(columns) + 1))
        print(f"| dialogues | {' | '.join(str(len(data.dialogues)) for data in columns.values())} | {len(train)} |")
        rate = len(source.dialogues) / source.attempts if source.attempts else None
        print(f"| acceptance rate (accepted / {source.attempts} attempts) | - | {_cell(rate)} | - |")
        for title, section, key in ROWS:
            cells = [_cell(report[section].get(key, {}).get("synthetic")) for report in reports.values()]
            print(f"| {title} | {' | '.join(cells)} | {_cell(accepted[section].get(key, {}).get('real'))} |")
        print(f"\nrejections: {source.rejections}")
        summary[name] = (len(source.dialogues), source.attempts, rate, reports)
    if summary:
        print("\n### summary (accepted data; valid outputs before filters in brackets)\n")
        print(f"| run | accepted / attempts | acceptance | {' | '.join(SUMMARY)} |")
        print("|---|---:|---:|" + "---:|" * len(SUMMARY))
        for name, (count, attempts, rate, reports) in summary.items():
            cells = [
                f"{_cell(_figure(reports['accepted'], key).get('synthetic'))} "
                f"({_cell(_figure(reports['valid outputs'], key).get('synthetic'))})"
                for key in SUMMARY
            ]
            print(f"| {name} | {count} / {attempts} | {_cell(rate)} | {' | '.join(cells)} |")
        first = next(iter(summary.values()))[3]["accepted"]
        real = [_cell(_figure(first, key).get("real")) for key in SUMMARY]
        print(f"| {real_name} | - | - | {' | '.join(real)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
