"""Run an experiment matrix: architectures x variants (org, natural, balanced) x benchmarks x seeds, then one table.

`erc-synth experiment configs/experiments/smoke.yaml` runs every training run of the matrix in its own process
(`python -m trainers.train`, or the configured `launcher`, e.g. `accelerate launch --num_processes 2`), skips runs
whose `results.json` is complete (so a crashed or killed experiment resumes where it stopped), and writes:

- `table_per_seed.csv` (long): `test_set,variant,seed,score`, one row per run and test set;
- `table.csv` (wide): `test_set` and one column per variant `<architecture>_<variant>`, the mean over seeds, then
  the floor: one column per baseline (`majority`, `tfidf_lr`), also as rows of `table_per_seed.csv`.

`erc-synth significance` reads the baseline columns as the floor: shown beside the systems, never ranked.

Scores are weighted F1 in percent. Rows are the test sets `<benchmark>_real`, `<benchmark>_natural`,
`<benchmark>_balanced` of every benchmark: the input of `erc-synth significance`.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.configuration import load_config_yaml
from erc_synth_datasets.files import read_yaml_mapping, write_text_atomic
from erc_synth_datasets.processes import ChildProcesses, FolderInUseError, folder_holder
from erc_synth_datasets.vocabulary import (
    LONG_TABLE_COLUMNS,
    REAL_SOURCE,
    TEST_SET_COLUMN,
    ConfigName,
    Mode,
    SystemName,
    TestSetName,
    Variant,
    VocabularyError,
)

from .baselines import BASELINES
from .config import DataArguments, ModelArguments, check_synthetic_dataset
from .errors import TrainingConfigError
from .results import read_results, results_complete, table_row_name

__all__ = [
    "ExperimentConfig",
    "Run",
    "collect_table",
    "plan_runs",
    "run_experiment",
]

_REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ExperimentConfig:
    """An experiment matrix; every run is one `erc-synth train` with the keys below and `train_config`."""

    name: str = field(default="experiment", metadata={"help": "Name of the experiment (used in the output path)."})
    output_dir: str | None = field(
        default=None, metadata={"help": "Where runs and tables go (default: runs/experiments/<name>)."}
    )
    architectures: list[str] = field(
        default_factory=lambda: ["compm", "emoone", "context"], metadata={"help": "Classifiers from the registry."}
    )
    variants: list[Variant] = field(
        default_factory=lambda: [Variant.ORG, Variant.NATURAL, Variant.BALANCED],
        metadata={
            "help": "org (real data only), natural, balanced (pretrain on that synthetic config first; the paper), "
            "and the levers: org-steps (real data only, as many optimiser steps as the pretrained variants of its "
            "seed), natural-teacher (a derived config: relabelled, curated: natural-clean, natural-teacher-top50), "
            "joint-natural-teacher (real and synthetic in one stage)."
        },
    )
    benchmarks: list[str] = field(
        default_factory=lambda: ["meld"],
        metadata={"help": "Benchmarks to run: names, or custom benchmark YAML files (runs and rows take their name)."},
    )
    seeds: list[int] = field(
        default_factory=lambda: [42],
        metadata={"range": "[0, 4294967295]", "help": "Seeds; every run is repeated per seed."},
    )
    data_root: str = field(
        default="../shared/data", metadata={"help": "Folder holding one folder of real files per benchmark."}
    )
    data_dirs: dict = field(
        default_factory=dict, metadata={"help": "Per-benchmark folders of real files, overriding data_root/<name>."}
    )
    synthetic_dataset: str | None = field(
        default=None, metadata={"help": "Synthetic dataset (Hub id or local folder) with <benchmark>_<mode> configs."}
    )
    synthetic_revision: str | None = field(default=None, metadata={"help": "Revision of the synthetic dataset."})
    test_modes: list[Mode] = field(
        default_factory=lambda: list(Mode),
        metadata={"help": "Synthetic test splits evaluated besides the real one (<benchmark>_<mode>)."},
    )
    train_config: str | None = field(
        default=None, metadata={"help": "A configs/train YAML used as the base of every run."}
    )
    train_overrides: dict = field(
        default_factory=dict, metadata={"help": "Training settings (keys of the train config) for every run."}
    )
    launcher: list[str] = field(
        default_factory=list,
        metadata={"help": "Command that launches trainers/train.py, e.g. [accelerate, launch]; empty: this Python."},
    )
    continue_on_error: bool = field(
        default=False, metadata={"help": "Go on with the next run when one fails (the table lists what finished)."}
    )

    def __post_init__(self) -> None:
        try:
            parsed = [Variant.parse(v) for v in self.variants]
        except VocabularyError as err:
            raise TrainingConfigError(f"variants: {err}") from None
        try:
            self.test_modes = [Mode.parse(m, what="test mode") for m in self.test_modes]
        except VocabularyError as err:
            raise TrainingConfigError(f"test_modes: {err}") from None
        # The steps-matched Org takes its step count from the other variants of its seed: it runs after them.
        self.variants = sorted(parsed, key=lambda v: v.steps_matched)
        if Variant.ORG_STEPS in parsed and all(v.is_org for v in parsed):
            raise TrainingConfigError("variants: org-steps matches the steps of pretrained variants; list some.")
        needs_synthetic = any(not v.is_org for v in parsed) or bool(self.test_modes)
        if needs_synthetic and not self.synthetic_dataset:
            raise TrainingConfigError(
                "Variants natural/balanced and synthetic test sets need synthetic_dataset (a Hub id or a local "
                "folder); set it, or use variants: [org] and test_modes: []."
            )
        if not self.architectures or not self.benchmarks or not self.seeds:
            raise TrainingConfigError("architectures, benchmarks and seeds must each list at least one value.")
        if self.output_dir is None:
            self.output_dir = f"runs/experiments/{self.name}"


@dataclass(frozen=True)
class Run:
    """One cell of the matrix; `benchmark` is the benchmark's name, `source` how the config gave it (name or YAML)."""

    benchmark: str
    architecture: str
    variant: Variant
    seed: int
    output_dir: Path
    source: str = ""

    @property
    def variant_name(self) -> str:
        return str(SystemName(self.architecture, self.variant))


def plan_runs(config: ExperimentConfig) -> list[Run]:
    """Every run of the matrix, benchmarks outermost, seeds innermost."""
    root = Path(config.output_dir) / "runs"
    names = _benchmark_names(config)
    return [
        Run(names[b], a, v, s, root / names[b] / str(SystemName(a, v)) / f"seed-{s}", source=b)
        for b in config.benchmarks
        for a in config.architectures
        for v in config.variants
        for s in config.seeds
    ]


def _benchmark_names(config: ExperimentConfig) -> dict[str, str]:
    """Each entry of `benchmarks` (a name or a custom benchmark YAML) -> the benchmark's name."""

    return {b: get_benchmark(b).name for b in config.benchmarks}


def test_sets_of(config: ExperimentConfig, benchmark: str) -> list[str]:
    sources = [REAL_SOURCE, *config.test_modes]
    return [str(TestSetName(benchmark, source)) for source in sources]


def _run_settings(config: ExperimentConfig, run: Run) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if config.train_config:
        settings.update(
            read_yaml_mapping(
                config.train_config,
                what="train_config",
                error=TrainingConfigError,
                missing_hint="set train_config in the experiment YAML to a configs/train file (relative to the "
                "current folder)",
                allow_empty=True,
            )
        )
    settings.update(config.train_overrides)
    # A custom benchmark is passed on as its YAML (the training process reads it again); one whose YAML names its
    # files needs no data folder.
    source = run.source or run.benchmark
    custom_files = get_benchmark(source).data is not None and run.benchmark not in config.data_dirs
    data_dir = (
        None if custom_files else str(config.data_dirs.get(run.benchmark, Path(config.data_root) / run.benchmark))
    )
    settings.update(
        {
            "architecture": run.architecture,
            "benchmark": str(Path(source).resolve()) if source != run.benchmark else source,
            "data_dir": data_dir,
            "seed": run.seed,
            "output_dir": str(run.output_dir),
            "test_configs": [str(ConfigName(run.benchmark, mode)) for mode in config.test_modes],
            **_variant_settings(config, run),
        }
    )
    if config.synthetic_dataset:
        settings["synthetic_dataset"] = config.synthetic_dataset
        settings["synthetic_revision"] = config.synthetic_revision
    return settings


def _variant_settings(config: ExperimentConfig, run: Run) -> dict[str, Any]:
    """The keys that make a run its variant: the synthetic config and protocol, or the steps to match."""
    variant = run.variant
    if variant.steps_matched:
        siblings = [
            r.output_dir
            for r in plan_runs(config)
            if (r.benchmark, r.architecture, r.seed) == (run.benchmark, run.architecture, run.seed)
            and not r.variant.is_org
        ]
        return {"pretrain_config": None, "joint_config": None, "match_steps_of": [str(d) for d in siblings]}
    synthetic = variant.config_name(run.benchmark)
    key = "joint_config" if variant.joint else "pretrain_config"
    other = "pretrain_config" if variant.joint else "joint_config"
    return {key: None if synthetic is None else str(synthetic), other: None}


def _launch(config: ExperimentConfig, run: Run) -> int:
    import yaml

    # transformers: loaded only when a run's settings are checked (the parser stays light).
    from .training_args import ErcTrainingArguments

    holder = folder_holder(run.output_dir)
    if holder is not None:  # checked before its config and log are touched; the run itself holds the folder
        raise FolderInUseError(
            f"Run folder {str(run.output_dir)!r} is in use: {holder} is training into it. Wait for it to finish "
            "(or stop it), then run the experiment again: finished runs are reused."
        )
    run.output_dir.mkdir(parents=True, exist_ok=True)
    run_config = run.output_dir / "train_config.yaml"
    write_text_atomic(run_config, yaml.safe_dump(_run_settings(config, run), sort_keys=False))
    load_config_yaml(run_config, ModelArguments, DataArguments, ErcTrainingArguments)  # unknown keys fail here
    script = ["-m", "trainers.train"] if not config.launcher else [str(_REPO_ROOT / "trainers" / "train.py")]
    command = [*(config.launcher or [sys.executable]), *script, "--config", str(run_config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(run.output_dir / "train.log", "a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
        log.flush()
        with ChildProcesses() as children:  # stopping the experiment stops its run
            return children.start(command, stdout=log, stderr=subprocess.STDOUT, env=env).wait()


def collect_table(config: ExperimentConfig, runs: list[Run]) -> tuple[list[dict], list[dict]]:
    """Reads the finished runs; returns (long rows `test_set,variant,seed,score`, wide rows of seed means).

    Both carry the floor: every run fits the same baselines on its real train split (`results.json` `baselines`),
    each counted once per test set and seed, as the variants `majority` and `tfidf_lr`.
    """

    long_rows: list[dict[str, Any]] = []
    floors: dict[tuple[str, str, int], float] = {}  # (test set row, baseline, seed) -> score
    row_names: dict[str, str] = {}  # test set -> its row name (marked when max_eval_utterances cut it)
    for run in runs:
        if not results_complete(run.output_dir, test_sets_of(config, run.benchmark)):
            continue
        results = read_results(run.output_dir)
        for test_set in test_sets_of(config, run.benchmark):
            name = row_names[test_set] = table_row_name(results, test_set)
            score = 100.0 * results["test"][test_set]["weighted_f1"]
            long_rows.append({"test_set": name, "variant": run.variant_name, "seed": run.seed, "score": score})
            for baseline, scores in results.get("baselines", {}).get(test_set, {}).items():
                floors.setdefault((name, baseline, run.seed), 100.0 * scores["weighted_f1"])
    long_rows += [{"test_set": t, "variant": b, "seed": s, "score": v} for (t, b, s), v in floors.items()]
    systems = list(dict.fromkeys(str(SystemName(a, v)) for a in config.architectures for v in config.variants))
    test_sets = [t for b in _benchmark_names(config).values() for t in test_sets_of(config, b)]
    wide_rows = []
    for test_set in test_sets:
        name = row_names.get(test_set, test_set)
        row: dict[str, Any] = {TEST_SET_COLUMN: name}
        for column in [*systems, *BASELINES]:
            scores = [r["score"] for r in long_rows if r["test_set"] == name and r["variant"] == column]
            row[column] = sum(scores) / len(scores) if scores else ""
        wide_rows.append(row)
    return long_rows, wide_rows


def _csv(rows: list[dict], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def check_inputs(config: ExperimentConfig, runs: list[Run]) -> None:
    """Checks, before the first run, what every run reads: the synthetic dataset, the base train config and each
    benchmark's real data folder (rather than failing in every run's log).

    Raises:
        TrainingConfigError: naming the missing or unreadable folder or file and the key that sets it.
    """
    if any(not run.variant.is_org for run in runs) or config.test_modes:
        check_synthetic_dataset(config.synthetic_dataset)
    checked = set()
    for run in runs:
        if run.benchmark in checked:
            continue
        checked.add(run.benchmark)
        data_dir = _run_settings(config, run)["data_dir"]  # reads train_config: a missing or bad file fails here
        if data_dir is not None and not Path(data_dir).is_dir():
            key = f"data_dirs.{run.benchmark}" if run.benchmark in config.data_dirs else "data_root"
            raise TrainingConfigError(
                f"The real {run.benchmark} data folder {data_dir!r} is not an existing folder; set {key} in the "
                "experiment YAML (or with --data-root / --data-dirs) to the folder of its files."
            )


def run_experiment(config: ExperimentConfig, *, dry_run: bool = False) -> int:
    """Runs the missing runs of the matrix, then writes `table.csv` and `table_per_seed.csv`; returns the failures."""

    runs = plan_runs(config)
    if not dry_run:
        check_inputs(config, runs)
    failures = 0
    for index, run in enumerate(runs, 1):
        label = f"[{index}/{len(runs)}] {run.benchmark} {run.variant_name} seed {run.seed}"
        if results_complete(run.output_dir, test_sets_of(config, run.benchmark)):
            print(f"{label}: skipped, already finished ({run.output_dir / 'results.json'})", flush=True)
            continue
        if dry_run:
            print(f"{label}: to run in {run.output_dir}", flush=True)
            continue
        print(f"{label}: running, log in {run.output_dir / 'train.log'}", flush=True)
        started = time.time()
        code = _launch(config, run)
        if code != 0:
            failures += 1
            print(f"{label}: failed with exit status {code}; see {run.output_dir / 'train.log'}", flush=True)
            if not config.continue_on_error:
                break
        else:
            print(f"{label}: done in {time.time() - started:.0f} s", flush=True)
    long_rows, wide_rows = collect_table(config, runs)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "table_per_seed.csv", _csv(long_rows, list(LONG_TABLE_COLUMNS)))
    systems = (str(SystemName(a, v)) for a in config.architectures for v in config.variants)
    columns = [TEST_SET_COLUMN, *dict.fromkeys(systems), *BASELINES]
    write_text_atomic(out / "table.csv", _csv(wide_rows, columns))
    print(f"tables: {out / 'table.csv'} and {out / 'table_per_seed.csv'} ({len(long_rows)} scores)", flush=True)
    return failures
