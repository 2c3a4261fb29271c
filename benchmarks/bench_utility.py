"""What synthetic data is worth, fairly measured, in one command: every lever against a converged and a
steps-matched Org (`trainers.utility`).

1. Generation: `<benchmark>_natural` and `_balanced` runs with the default model (SmolLM2-135M-Instruct, every default
   setting), `--num-dialogues` accepted dialogues each; an existing run folder is resumed or reused as it is
   (`--run natural=DIR --run balanced=DIR` points at runs made earlier).
2. Build: one dataset folder with both configs.
3. With `--resampled K` (opt-in): the generator's own labels resampled K times on every mode's config
   (`generation.resample`, `<benchmark>_<mode>_resampled`), and the variants `<mode>-resampled` added to the levers.
4. `trainers.utility.run_utility`: the teacher (the converged Org of the first seed, trained on the same real
   dialogues as Org), relabelling, cleanlab curation and the utility curve's configs, then `context` on
   all-MiniLM-L6-v2 (`configs/train/minilm_meld.yaml`: lr 5e-5, batch 16, max length 64) for every variant and seed,
   every stage trained to convergence on its validation split (`--max-epochs`, `--patience`), and the exact
   Friedman p-values of every variant against both Orgs (Bonferroni).

Everything is written under `--work` and resumable (finished generation, teacher, derived configs and training runs
are reused). Seeds can run side by side as separate processes on the same `--work` (`--seeds 1`, `--seeds 2` ...,
the same `--teacher-seed`): the first makes the data, the teacher and the derived configs, the others wait for it;
once all have finished, the command with every seed prints the whole table (reusing every run). Prints the table
with the floors, the significance report, the curve and the wall time of each step.

    python benchmarks/bench_utility.py --data-dir ../shared/data/meld --max-train-dialogues 300 --work runs/utility
    python benchmarks/bench_utility.py --data-dir ../shared/data/meld --max-train-dialogues 0 --work runs/utility-all
    python benchmarks/bench_utility.py --data-dir ../shared/data/meld --resampled 5 --work runs/utility
    python benchmarks/bench_utility.py --benchmark emorynlp --data-dir ../shared/data/emorynlp --work runs/utility-e
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from erc_synth_datasets.errors import reports_errors  # noqa: E402 (after the path)
from erc_synth_datasets.vocabulary import LabelSource, Mode, Variant  # noqa: E402 (after the path)

MODES = Mode.values()


def _runs(args: argparse.Namespace) -> dict[str, Path]:
    """Mode -> run folder: the ones given with --run, else generated (or resumed) under --work."""
    from generation.config import GenerationConfig
    from generation.runner import run_generation

    given = dict(item.split("=", 1) for item in args.run)
    unknown = sorted(set(given) - set(args.modes))
    if unknown:
        raise SystemExit(f"--run takes MODE=DIR with MODE in {list(args.modes)}, but got {unknown}.")
    runs = {}
    for mode in args.modes:
        if mode in given:
            runs[mode] = Path(given[mode])
            continue
        runs[mode] = args.work / "runs" / f"{args.benchmark}_{mode}"
        summary = run_generation(
            GenerationConfig(
                benchmark=args.benchmark,
                mode=mode,
                num_dialogues=args.num_dialogues,
                seed=args.seed,
                output_dir=str(runs[mode]),
                **{name: getattr(args, name) for name in ("batch_size", "num_threads") if getattr(args, name)},
            )
        )
        print(f"{args.benchmark}_{mode}: {summary.status}, {summary.accepted} accepted, {summary.rejected} rejected")
    return runs


def _resample(args: argparse.Namespace, dataset: Path) -> None:
    """Every mode's config labelled `--resampled` times by the generator (reused when made with the same settings)."""
    from generation.resample import ResampleOptions, resample_config

    options = ResampleOptions(samples=args.resampled, seed=args.seed, num_threads=args.num_threads)
    for mode in args.modes:
        built = resample_config(dataset, f"{args.benchmark_name}_{mode}", options, batch_size=args.batch_size)
        record = built.label_source
        print(
            f"{built.name}: {record['samples']} samples a dialogue, agreement with the generator's labels "
            f"{100 * record['agreement_with_generator']:.1f}%, unanimous utterances "
            f"{100 * record['unanimous_utterances']:.1f}%",
            flush=True,
        )


def _with_resampled(variants: list[Variant], modes: list[str]) -> list[Variant]:
    """The levers with `<mode>-resampled` added before the steps-matched Org (which the experiment runs last)."""
    head = [v for v in variants if v != Variant.ORG_STEPS]
    return head + [Variant(Mode(mode), LabelSource.RESAMPLED) for mode in modes] + [Variant.ORG_STEPS]


def _waiting(holder: str) -> None:
    print(f"waiting for {holder}: it generates and builds the data this run reuses", flush=True)


@reports_errors("bench_utility.py")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="meld", help="Benchmark (name or custom YAML).")
    parser.add_argument("--data-dir", type=Path, default=None, help="Real benchmark files (default: shared/data).")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench_utility", help="Output folder.")
    parser.add_argument("--run", action="append", default=[], metavar="MODE=DIR", help="Reuse this run folder.")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, help="Synthetic modes.")
    parser.add_argument("--num-dialogues", type=int, default=150, help="Accepted dialogues per generated run.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the generation runs.")
    parser.add_argument("--batch-size", type=int, default=None, help="Slots decoding together (generation).")
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (generation).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="Training seeds.")
    parser.add_argument(
        "--teacher-seed",
        type=int,
        default=None,
        help="Seed of the Org run that is the teacher (default: the first of --seeds). With it, the seeds can run "
        "as separate processes side by side once the teacher is trained: `--seeds 1 3` and `--seeds 2 --teacher-seed "
        "1`, then all seeds together for the table (finished runs are reused).",
    )
    parser.add_argument("--variants", nargs="+", default=None, help="Variants (default: every lever).")
    parser.add_argument(
        "--resampled", type=int, default=0, metavar="K", help="Also resample the generator's labels K times (0: no)."
    )
    parser.add_argument("--curve", type=int, nargs="+", default=[25, 50, 75, 100], help="Shares kept (percent).")
    parser.add_argument("--max-epochs", type=float, default=6, help="Maximum epochs of every stage.")
    parser.add_argument("--patience", type=int, default=2, help="Early-stopping patience (evaluations).")
    parser.add_argument("--synthetic-weight", type=float, default=1.0, help="Joint protocol: synthetic rows' weight.")
    parser.add_argument("--test-modes", nargs="*", default=[], help="Synthetic test splits scored too (TSTR).")
    parser.add_argument(
        "--train-config",
        type=Path,
        default=REPO / "configs" / "train" / "minilm_meld.yaml",
        help="The training settings of every run (a configs/train YAML).",
    )
    parser.add_argument(
        "--max-train-dialogues",
        type=int,
        default=300,
        help="Real (and synthetic) train dialogues: the real budget (0: the whole real train split).",
    )
    args = parser.parse_args(argv)
    if args.max_train_dialogues < 0:
        parser.error(f"--max-train-dialogues must be 0 (all) or more, got {args.max_train_dialogues}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from erc_synth_datasets.benchmarks import get_benchmark

    args.benchmark_name = get_benchmark(args.benchmark).name
    if args.data_dir is None:
        args.data_dir = REPO.parent / "shared" / "data" / args.benchmark_name
    if not args.data_dir.is_dir():
        parser.error(
            f"--data-dir {str(args.data_dir)!r} is not an existing folder; point it at the real "
            f"{args.benchmark_name} files (for example ../shared/data/{args.benchmark_name})."
        )

    from erc_synth_datasets.build import BuildConfig, build_dataset
    from erc_synth_datasets.processes import exclusive_folder
    from trainers.utility import UtilityConfig, lever_variants, run_utility

    # Every setting is checked (UtilityConfig validates the variants, modes and numbers) before any work starts.
    dataset = args.work / "erc-synth"
    variants = args.variants
    if args.resampled:
        variants = variants or _with_resampled(lever_variants(list(args.modes), args.curve), args.modes)
    config = UtilityConfig(
        dataset=str(dataset),
        work=str(args.work / "utility"),
        benchmark=args.benchmark,
        data_dir=str(args.data_dir),
        modes=list(args.modes),
        variants=variants,
        curve=args.curve,
        seeds=args.seeds,
        teacher_seed=args.seeds[0] if args.teacher_seed is None else args.teacher_seed,
        train_config=str(args.train_config),
        max_train_dialogues=args.max_train_dialogues,
        max_epochs=args.max_epochs,
        patience=args.patience,
        synthetic_weight=args.synthetic_weight,
        test_modes=args.test_modes,
    )

    timings = {}
    # Processes that share --work (seeds side by side) take turns for the data: the first generates and builds it,
    # the others wait and reuse it.
    with exclusive_folder(args.work, "generating and building the data", wait=True, on_wait=_waiting):
        started = time.perf_counter()
        runs = _runs(args)
        timings["generation"] = time.perf_counter() - started

        started = time.perf_counter()
        if not all((dataset / f"{args.benchmark_name}_{mode}" / "build_info.json").is_file() for mode in args.modes):
            result = build_dataset(list(runs.values()), BuildConfig(output_dir=str(dataset), allow_incomplete=True))
            for built in result.configs:
                print(f"built {built.name}: dialogues per split {built.num_dialogues}", flush=True)
        timings["build"] = time.perf_counter() - started

        if args.resampled:
            started = time.perf_counter()
            _resample(args, dataset)
            timings["resample"] = time.perf_counter() - started

    result = run_utility(config)
    timings.update(result.timings)
    print("\nMean weighted F1 over seeds (table.csv):\n")
    print((result.table.parent / "table.csv").read_text(encoding="utf-8"))
    print((result.work / "utility.md").read_text(encoding="utf-8"))
    print("wall time: " + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
