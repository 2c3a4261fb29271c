"""What synthetic data is worth, measured fairly: the utility protocol as library code.

One call of `run_utility` takes a dataset folder with `<benchmark>_<mode>` configs and the real benchmark, and runs
(resumably: every finished step is reused):

1. **Teacher**: the Org model of `teacher_seed`, trained on exactly the real dialogues the Org baseline trains on
   (`max_train_dialogues`: in a low-resource comparison the teacher never sees more real data than Org), saved.
2. **Relabel** every mode's config with it (`<config>_teacher`: hard labels and probabilities).
3. **Curate**: the generator's labels, cleanlab-cleaned with the teacher's probabilities (`<config>_clean`), and the
   teacher's most confident labels at each share of `curve` (`<config>_teacher_top<q>`).
4. **Train** every variant (`erc-synth experiment`), every stage to convergence on its validation split (evaluation
   each epoch, best checkpoint, early stopping with a patience, the same maximum epochs for all), with the
   steps-matched Org beside the converged one: a variant helps only when it beats the stronger of the two.
5. **Test**: Friedman ranks over (test set, seed) blocks with exact p-values (Eisinga et al. 2017) of each variant
   against each Org, Bonferroni-corrected; the utility curve (real-test weighted F1 against the share kept).

`benchmarks/bench_utility.py` runs it at CPU scale; a release runs it per benchmark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.build import BuildError, read_config_build
from erc_synth_datasets.configuration import config_to_dict
from erc_synth_datasets.curation import CurationOptions, curate_config
from erc_synth_datasets.files import write_json_atomic, write_text_atomic
from erc_synth_datasets.processes import exclusive_folder
from erc_synth_datasets.vocabulary import (
    REAL_SOURCE,
    ConfigName,
    LabelSource,
    Mode,
    SystemName,
    TestSetName,
    Variant,
    VocabularyError,
)

from .errors import TrainingConfigError
from .experiment import ExperimentConfig, run_experiment
from .relabel import RelabelOptions, relabel_with_teacher, teacher_record
from .results import read_results
from .significance import analyse, read_table, render_markdown

__all__ = ["UtilityConfig", "UtilityResult", "lever_variants", "run_utility"]


def lever_variants(modes: list[Mode], curve: list[int]) -> list[Variant]:
    """Org, the steps-matched Org, and per mode: the generator's labels (the paper), the teacher's soft labels, the
    cleaned generator labels, the joint protocol on the teacher's labels, and the curve's curated teacher configs."""
    variants = [Variant.ORG]
    for mode in modes:
        teacher = Variant(mode, LabelSource.TEACHER)
        variants += [Variant(mode), teacher, Variant(mode, curation="clean")]
        variants.append(Variant(mode, LabelSource.TEACHER, joint=True))
        variants += [Variant(mode, LabelSource.TEACHER, f"top{q}") for q in curve if q != 100]
    variants.append(Variant.ORG_STEPS)
    return variants


@dataclass
class UtilityConfig:
    """Settings of one utility measurement (one benchmark)."""

    dataset: str = field(metadata={"help": "Dataset folder with the <benchmark>_<mode> configs."})
    work: str = field(default="runs/utility", metadata={"help": "Where the teacher, runs and tables go."})
    benchmark: str = field(default="meld", metadata={"help": "Benchmark (name or custom YAML)."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder of the real benchmark's files."})
    modes: list[Mode] = field(default_factory=lambda: list(Mode), metadata={"help": "Synthetic modes."})
    variants: list[Variant] | None = field(
        default=None, metadata={"help": "Variants to train (default: every lever, `lever_variants`)."}
    )
    curve: list[int] = field(
        default_factory=lambda: [25, 50, 75, 100],
        metadata={"help": "Shares (percent) of the teacher's most confident synthetic utterances kept."},
    )
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3], metadata={"help": "Training seeds."})
    teacher_seed: int = field(default=1, metadata={"help": "Seed of the Org run that serves as the teacher."})
    train_config: str | None = field(default=None, metadata={"help": "A configs/train YAML for every run."})
    max_train_dialogues: int | None = field(
        default=None, metadata={"help": "Real (and synthetic) train dialogues per run: the real-data budget."}
    )
    max_epochs: float = field(default=6, metadata={"help": "The maximum epochs of every stage, every variant."})
    patience: int = field(default=2, metadata={"help": "Early stopping: evaluations without improvement."})
    synthetic_weight: float = field(default=1.0, metadata={"help": "Joint protocol: loss weight of synthetic rows."})
    test_modes: list[Mode] = field(
        default_factory=list, metadata={"help": "Synthetic test splits scored besides the real one (TSTR)."}
    )
    train_overrides: dict = field(default_factory=dict, metadata={"help": "More training settings for every run."})

    def __post_init__(self) -> None:
        bad = [q for q in self.curve if not isinstance(q, int) or not 1 <= q <= 100]
        if bad:
            raise TrainingConfigError(f"curve must list percentages 1-100, but got {bad}.")
        if self.max_epochs <= 0 or self.patience < 1:
            raise TrainingConfigError(
                f"max_epochs must be > 0 and patience >= 1, got {self.max_epochs}, {self.patience}."
            )
        try:
            self.modes = [Mode.parse(m, what="mode") for m in self.modes]
            self.test_modes = [Mode.parse(m, what="test mode") for m in self.test_modes]
            if self.variants is not None:
                self.variants = [Variant.parse(v) for v in self.variants]
        except VocabularyError as err:
            raise TrainingConfigError(str(err)) from None
        if self.variants is None:
            self.variants = lever_variants(self.modes, self.curve)
        outside = [str(v) for v in self.variants if v.mode is not None and v.mode not in self.modes]
        if outside:
            raise TrainingConfigError(
                f"variants {outside} train on a mode that modes {[m.value for m in self.modes]} does not generate; "
                "add the mode or drop the variant."
            )


@dataclass
class UtilityResult:
    """Where the outcome is, and the headline: each variant's mean real-test score and its p-values against the
    Orgs, the stronger Org's name, and the curve."""

    work: Path
    table: Path
    report: dict[str, Any]
    timings: dict[str, float]


def _converged(config: UtilityConfig) -> dict[str, Any]:
    return {
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "load_best_model_at_end": True,
        "metric_for_best_model": "weighted_f1",
        "num_train_epochs": config.max_epochs,
        "pretrain_num_train_epochs": config.max_epochs,
        "early_stopping_patience": config.patience,
        "save_final_model": False,
        "report_to": [],
        "disable_tqdm": True,
        **({"max_train_dialogues": config.max_train_dialogues} if config.max_train_dialogues else {}),
        **config.train_overrides,
    }


def _experiment(config: UtilityConfig, benchmark: str, **changes: Any) -> ExperimentConfig:
    """The utility experiment: every variant and seed, every stage to convergence, in `<work>/experiment`."""
    settings: dict[str, Any] = {
        "name": "utility",
        "output_dir": str(Path(config.work) / "experiment"),
        "architectures": ["context"],
        "variants": list(config.variants),
        "benchmarks": [config.benchmark],
        "seeds": config.seeds,
        "data_dirs": {benchmark: config.data_dir} if config.data_dir else {},
        "synthetic_dataset": config.dataset,
        "test_modes": config.test_modes,
        "train_config": config.train_config,
        "train_overrides": {**_converged(config), "synthetic_weight": config.synthetic_weight},
    }
    return ExperimentConfig(**{**settings, **changes})


def _needs_label_teacher(variants: list[Variant]) -> bool:
    """Whether any of `variants` trains on what the teacher makes: its labels, or a curation scored with its
    probabilities. Org, the steps-matched Org and the generator's own labels need no teacher, so a run of only
    those starts training at once, beside a process that trains the teacher."""
    return any(v.labels is LabelSource.TEACHER or v.curation for v in variants)


def _teacher(config: UtilityConfig, benchmark: str) -> Path:
    """Trains (or reuses) the teacher: the converged Org run of `teacher_seed`, with its model saved. It is the
    experiment's own Org run of that seed (the same folder and settings), so the matrix does not train it twice."""
    experiment = _experiment(config, benchmark, variants=[Variant.ORG], seeds=[config.teacher_seed])
    experiment.train_overrides["save_final_model"] = True
    if run_experiment(experiment):
        raise TrainingConfigError(f"The teacher's training failed; see the train.log under {experiment.output_dir}.")
    return Path(experiment.output_dir) / "runs" / benchmark / f"context_{Variant.ORG}" / f"seed-{config.teacher_seed}"


def _derived_configs(config: UtilityConfig, benchmark: str, teacher: Path) -> None:
    """Relabels and curates what the variants need; a config made by the same teacher is reused."""
    weights = teacher_record(teacher / "model", benchmark)["weights_sha256"]
    needed = {v.config_name(benchmark) for v in config.variants} - {None}
    for mode in config.modes:
        base = ConfigName(benchmark, mode)
        relabelled = ConfigName(benchmark, mode, labels=LabelSource.TEACHER)
        try:
            fresh = read_config_build(config.dataset, str(relabelled)).label_source["teacher"]["weights_sha256"]
        except (BuildError, KeyError, TypeError):
            fresh = None
        made_now = fresh != weights
        if made_now:
            relabel_with_teacher(RelabelOptions(config.dataset, str(base), str(teacher / "model")))
        for name in sorted((n for n in needed if n.base == base and n.curation), key=str):
            folder = Path(config.dataset) / str(name)
            if folder.is_dir() and not made_now:
                continue
            generator = name.labels is LabelSource.GENERATOR
            curate_config(
                CurationOptions(
                    config.dataset,
                    str(name.curation_source),
                    policy=name.curation,
                    labels="generator" if generator else "source",
                )
            )


def _waiting(holder: str) -> None:
    print(f"waiting for {holder}: it prepares the teacher and the derived configs this run reuses", flush=True)


def run_utility(config: UtilityConfig) -> UtilityResult:
    """Runs the whole measurement (resumable); writes `<work>/utility.json` and `<work>/utility.md`.

    Several processes may share `work`, each with its own seeds (the runs of a seed are never trained by two): the
    teacher and the derived configs are made by the first, which the others wait for.
    """
    benchmark = get_benchmark(config.benchmark).name
    timings: dict[str, float] = {}
    teacher = None
    # The Org run of the teacher's seed is always trained as the teacher (its model saved) and relabels the modes'
    # configs (a release publishes them), so that a later run with teacher variants reuses both; a run of only the
    # other seeds' Orgs and the generator's labels needs neither.
    teaches = Variant.ORG in config.variants and config.teacher_seed in config.seeds
    if _needs_label_teacher(config.variants) or teaches:
        # Processes that share `work` (seeds run side by side) take turns here: the first trains the teacher and
        # makes the derived configs, the others wait for it and then reuse both.
        with exclusive_folder(
            config.work, "preparing the teacher and the derived configs", wait=True, on_wait=_waiting
        ):
            started = time.perf_counter()
            teacher = _teacher(config, benchmark)
            timings["teacher"] = time.perf_counter() - started

            started = time.perf_counter()
            _derived_configs(config, benchmark, teacher)
            timings["relabel_and_curate"] = time.perf_counter() - started

    started = time.perf_counter()
    experiment = _experiment(config, benchmark)
    failures = run_experiment(experiment)
    timings["training"] = time.perf_counter() - started
    if failures:
        raise TrainingConfigError(
            f"{failures} training run(s) failed; see the train.log files under {experiment.output_dir}."
        )

    table = Path(experiment.output_dir) / "table_per_seed.csv"
    # A process that trains one variant (variants split across processes) has nothing to rank; the command with
    # every variant reuses its runs for the table and the p-values.
    analysis = analyse(read_table(table, seeds="blocks")) if len(config.variants) > 1 else None
    report = _headline(config, benchmark, table, analysis)
    report["timings_s"] = timings
    report["settings"] = config_to_dict(config)
    report["teacher"] = str(teacher) if teacher else None
    work = Path(config.work)
    write_json_atomic(work / "utility.json", report)
    ranking = render_markdown(analysis) if analysis else "One variant: nothing to rank (run the variants together).\n"
    write_text_atomic(work / "utility.md", ranking + "\n" + _curve_markdown(report))
    return UtilityResult(work=work, table=table, report=report, timings=timings)


def _headline(config: UtilityConfig, benchmark: str, table: Path, analysis: Any | None) -> dict[str, Any]:
    """Per variant: the real-test mean and per-seed scores, the epochs its stages ran, and its p-values."""
    import csv

    real = str(TestSetName(benchmark, REAL_SOURCE))
    rows = [r for r in csv.DictReader(table.open(encoding="utf-8")) if r["test_set"] == real]
    scores: dict[str, dict[int, float]] = {}
    for row in rows:
        scores.setdefault(row["variant"], {})[int(row["seed"])] = float(row["score"])
    means = {name: sum(s.values()) / len(s) for name, s in scores.items()}
    orgs = [
        str(SystemName("context", v))
        for v in (Variant.ORG, Variant.ORG_STEPS)
        if str(SystemName("context", v)) in means
    ]
    stronger = max(orgs, key=lambda name: means[name]) if orgs else None
    comparisons = [c.to_dict() for c in analysis.comparisons] if analysis else []
    variants = {}
    for name, per_seed in scores.items():
        parsed = SystemName.try_parse(name)
        if parsed is None:
            continue  # the floors
        wins = None
        if stronger and not parsed.variant.is_org:
            wins = sum(per_seed[s] > scores[stronger].get(s, float("inf")) for s in per_seed)
        variants[name] = {
            "mean": means[name],
            "per_seed": per_seed,
            "beats_stronger_org": bool(stronger and means[name] > means[stronger] and not parsed.variant.is_org),
            "seeds_won_against_stronger_org": wins,
            "epochs": _epochs(config, benchmark, str(parsed.variant)),
        }
    curve = []
    for mode in config.modes:
        for q in config.curve:
            variant = Variant(mode, LabelSource.TEACHER, None if q == 100 else f"top{q}")
            name = str(SystemName("context", variant))
            if name in means:
                curve.append({"mode": str(mode), "kept_percent": q, "mean": means[name]})
    floors = {name: sum(s.values()) / len(s) for name, s in scores.items() if SystemName.try_parse(name) is None}
    return {
        "test_set": real,
        "stronger_org": stronger,
        "variants": variants,
        "floors": floors,
        "comparisons": comparisons,
        "curve": curve,
    }


def _epochs(config: UtilityConfig, benchmark: str, variant: str) -> dict[int, list[dict[str, Any]]]:
    """Per seed, each stage's epochs run and the epoch of the checkpoint kept."""
    out = {}
    for seed in config.seeds:
        path = (
            Path(config.work)
            / "experiment"
            / "runs"
            / benchmark
            / f"context_{variant}"
            / f"seed-{seed}"
            / "results.json"
        )
        if path.is_file():
            stages = read_results(path).get("stages", [])
            out[seed] = [
                {
                    "stage": s["name"],
                    "epochs_run": s.get("epochs_run"),
                    "best_epoch": s.get("best_epoch"),
                    "steps": s.get("global_step"),
                }
                for s in stages
            ]
    return out


def _curve_markdown(report: dict[str, Any]) -> str:
    lines = [f"Real-test weighted F1 (mean over seeds); stronger Org: `{report['stronger_org']}`.", ""]
    lines += ["| variant | mean | seeds won vs stronger Org |", "|---|---:|---:|"]
    for name, v in sorted(report["variants"].items(), key=lambda kv: -kv[1]["mean"]):
        won = "" if v["seeds_won_against_stronger_org"] is None else str(v["seeds_won_against_stronger_org"])
        lines.append(f"| {name} | {v['mean']:.2f} | {won} |")
    for name, mean in report["floors"].items():
        lines.append(f"| {name} (floor) | {mean:.2f} | |")
    if report["curve"]:
        lines += [
            "",
            "Utility curve (teacher labels, most confident share kept):",
            "",
            "| mode | kept % | mean |",
            "|---|---:|---:|",
        ]
        lines += [f"| {c['mode']} | {c['kept_percent']} | {c['mean']:.2f} |" for c in report["curve"]]
    return "\n".join(lines) + "\n"
