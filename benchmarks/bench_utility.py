"""What synthetic data is worth: the source paper's Org / Nat / Bal protocol at CPU scale, in one command.

1. Generation: MELD `natural` and `balanced` runs with the default model (SmolLM2-135M-Instruct, every default
   setting), `--num-dialogues` accepted dialogues each; an existing run folder is resumed or reused as it is
   (`--run natural=DIR --run balanced=DIR` points at runs made earlier).
2. Build: one dataset folder with the configs `meld_natural` and `meld_balanced` (`build_dataset`).
3. Training: `erc-synth experiment` with `context` on all-MiniLM-L6-v2 (`configs/train/minilm_meld.yaml`: one epoch,
   lr 5e-5, batch 16, max length 64), the variants Org (real MELD train only), Nat and Bal (stage 1 on the
   synthetic train split, stage 2 on real MELD train), `--seeds` seeds; every run is scored on the whole real MELD
   test split and on both synthetic test splits, beside the majority and TF-IDF + LR baselines.
4. Significance: Friedman ranks over (test set, seed) blocks with exact p-values of the rank-sum differences
   Nat - Org and Bal - Org (Eisinga et al. 2017), Bonferroni-corrected, as `erc-synth significance` prints them.

Everything is written under `--work` (resumable: finished generation and training runs are not redone). Prints the
table, the significance report and the wall time of each step.

    python benchmarks/bench_utility.py --data-dir ../shared/data/meld --work runs/bench_utility
    python benchmarks/bench_utility.py --data-dir ../shared/data/meld --run natural=RUN --run balanced=RUN \\
        --max-train-dialogues 300 --work /tmp/utility          # a smaller fine-tuning budget
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = ("natural", "balanced")


def _runs(args: argparse.Namespace) -> dict[str, Path]:
    """Mode -> run folder: the ones given with --run, else generated (or resumed) under --work."""
    from generation.config import GenerationConfig
    from generation.runner import run_generation

    given = dict(item.split("=", 1) for item in args.run)
    unknown = sorted(set(given) - set(MODES))
    if unknown:
        raise SystemExit(f"--run takes natural=DIR or balanced=DIR, but got {unknown}.")
    runs = {}
    for mode in MODES:
        if mode in given:
            runs[mode] = Path(given[mode])
            continue
        runs[mode] = args.work / "runs" / f"meld_{mode}"
        summary = run_generation(
            GenerationConfig(
                benchmark="meld",
                mode=mode,
                num_dialogues=args.num_dialogues,
                seed=args.seed,
                output=str(runs[mode]),
                **{name: getattr(args, name) for name in ("batch_size", "num_threads") if getattr(args, name)},
            )
        )
        print(f"meld_{mode}: {summary.status}, {summary.accepted} accepted, {summary.rejected} rejected", flush=True)
    return runs


def _experiment(args: argparse.Namespace, dataset: Path):
    from trainers.experiment import ExperimentConfig

    overrides = {
        # No validation during training: the model after the last step is tested (as bench_classifiers.py).
        "eval_strategy": "no",
        "save_strategy": "no",
        "load_best_model_at_end": False,
        "save_final_model": False,
        "report_to": [],
        "disable_tqdm": True,
    }
    if args.max_train_dialogues is not None:
        overrides["max_train_dialogues"] = args.max_train_dialogues
    return ExperimentConfig(
        name="utility",
        output_dir=str(args.work / "experiment"),
        architectures=["context"],
        variants=["org", "natural", "balanced"],
        benchmarks=["meld"],
        seeds=args.seeds,
        data_dirs={"meld": str(args.data_dir)},
        synthetic_dataset=str(dataset),
        test_modes=list(MODES),
        train_config=str(args.train_config),
        train_overrides=overrides,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "meld", help="Real MELD.")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench_utility", help="Output folder.")
    parser.add_argument("--run", action="append", default=[], metavar="MODE=DIR", help="Reuse this run folder.")
    parser.add_argument("--num-dialogues", type=int, default=300, help="Accepted dialogues per generated run.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the generation runs.")
    parser.add_argument("--batch-size", type=int, default=None, help="Slots decoding together (generation).")
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (generation).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="Training seeds.")
    parser.add_argument(
        "--train-config",
        type=Path,
        default=REPO / "configs" / "train" / "minilm_meld.yaml",
        help="The training settings of every run (a configs/train YAML).",
    )
    parser.add_argument(
        "--max-train-dialogues",
        type=int,
        default=None,
        help="Cut every train split (synthetic and real) to its first N dialogues; default: all. Test splits are "
        "never cut.",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from erc_synth_datasets.build import BuildConfig, build_dataset
    from trainers.experiment import run_experiment
    from trainers.significance import analyse, read_table, render_markdown

    timings = {}
    started = time.perf_counter()
    runs = _runs(args)
    timings["generation"] = time.perf_counter() - started

    started = time.perf_counter()
    dataset = args.work / "erc-synth"
    result = build_dataset(list(runs.values()), BuildConfig(output=str(dataset), allow_incomplete=True))
    for built in result.configs:
        print(f"built {built.name}: dialogues per split {built.num_dialogues}", flush=True)
    timings["build"] = time.perf_counter() - started

    started = time.perf_counter()
    config = _experiment(args, dataset)
    failures = run_experiment(config)
    timings["training"] = time.perf_counter() - started
    if failures:
        print(f"{failures} training run(s) failed; see the train.log files under {config.output_dir}")
        return 1

    out = Path(config.output_dir)
    print("\nMean weighted F1 over seeds (table.csv):\n")
    print((out / "table.csv").read_text(encoding="utf-8"))
    report = analyse(read_table(out / "table_per_seed.csv", seeds="blocks"))
    print("Friedman ranks over (test set, seed) blocks, exact p-values (table_per_seed.csv):\n")
    print(render_markdown(report))
    print("wall time: " + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
