"""A release: every config of the datasets generated, measured, built, tested for utility and published, resumably.

`run_release(ReleaseConfig)` runs these stages into one release folder (`ReleaseConfig.output_dir`)::

    runs/<config>-<hash>/         generate   one resumable generation run per config (`generation.runner`); with
                                             `shards: N`, N `erc-synth generate --num-shards N` processes side by
                                             side into `<config>-<hash>-shards/`, merged into `<config>-<hash>-merged/`
    quality/<config>-<hash>/      quality    its quality report beside the real benchmark (`..._datasets.quality`)
    dataset/                      build      every config in one dataset folder, each report in its card section
    utility/<benchmark>-<hash>/   utility    the Org / Nat / Bal protocol per benchmark (`trainers.utility`)
    state.json                    push       the folder to the Hub (`erc_synth_datasets.publish`), or a dry run

Every stage has a settings hash of its inputs (its own settings and the hashes of the stages it reads); a stage
whose hash is recorded in `state.json` as finished is reused, any other is run. `state.json` is rewritten
atomically after every finished stage, and every stage's own output is resumable or all-or-nothing (generation runs
append and resume, reports and the dataset folder are written atomically, the training runs are reused one by one),
so a release killed at any point continues where it stopped when it is run again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.build import BuildConfig, BuildError, build_dataset, read_config_build, refresh_card
from erc_synth_datasets.configuration import (
    ConfigError,
    check_fields,
    config_from_dict,
    load_config_yaml,
    save_config_yaml,
)
from erc_synth_datasets.files import read_json_file, write_json_atomic
from erc_synth_datasets.processes import ChildProcesses
from erc_synth_datasets.publish import PushConfig, push_folder
from erc_synth_datasets.quality.outputs import REPORT_FILES, config_report_folder, read_report, report_run
from erc_synth_datasets.quality.render import headline_figures
from erc_synth_datasets.stats import default_data_dir
from erc_synth_datasets.utility_outputs import read_utility, store_utility
from erc_synth_datasets.vocabulary import ConfigName, Mode
from generation.config import GenerationConfig, settings_hash
from generation.merge import merge_runs
from trainers.utility import UtilityConfig, run_utility

if TYPE_CHECKING:
    from generation.backends import Backend

__all__ = ["STATE_NAME", "ReleaseConfig", "ReleaseResult", "StageRecord", "load_release_config", "run_release"]

STATE_NAME = "state.json"
DATASET_FOLDER = "dataset"
SUMMARY_NAME = "release.json"

# Settings a release sets per config; a `generation` / `build` / `utility` mapping may not set them.
_GENERATION_OWNED = ("benchmark", "mode", "num_dialogues", "seed", "output_dir", "progress")
_BUILD_OWNED = ("output_dir", "repo_id", "quality", "quality_encoder")
_UTILITY_OWNED = ("dataset", "work", "benchmark", "data_dir", "modes")


@dataclass
class ReleaseConfig:
    """Settings of one release (`erc-synth release CONFIG.yaml`); YAML keys map 1:1 onto these fields."""

    output_dir: str = field(default="releases/erc-synth", metadata={"help": "The release folder (created; resumed)."})
    benchmarks: list[str] = field(
        default_factory=lambda: ["meld", "emorynlp", "iemocap"], metadata={"help": "Benchmarks to release."}
    )
    modes: list[Mode] = field(default_factory=lambda: list(Mode), metadata={"help": "Modes per benchmark."})
    num_dialogues: int = field(
        default=10, metadata={"range": "[1, 1000000000]", "help": "Accepted dialogues per config."}
    )
    counts: dict[str, int] = field(
        default_factory=dict, metadata={"help": "Accepted dialogues of single configs (<benchmark>_<mode>: N)."}
    )
    seed: int = field(default=1, metadata={"range": "[0, 9223372036854775807]", "help": "Generation seed."})
    generation: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "GenerationConfig settings of every run: backend, model, base_url, sampling, turns ..."},
    )
    build: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "BuildConfig settings: split_ratios, split_seed, license ..."}
    )
    data_dirs: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "The real benchmark's folder per benchmark (default: $ERC_SYNTH_DATA_DIR/<benchmark>)."},
    )
    quality_encoder: str | None = field(
        default=None, metadata={"help": "Sentence encoder of the quality reports' embedding figures (default: none)."}
    )
    utility: dict[str, Any] | None = field(
        default=None,
        metadata={
            "help": "UtilityConfig settings (seeds, train_config, max_train_dialogues, max_epochs, variants, curve "
            "...); no utility stage when absent."
        },
    )
    utility_benchmarks: list[str] | None = field(
        default=None, metadata={"help": "Benchmarks whose utility is measured (default: all of them)."}
    )
    repo_id: str | None = field(default=None, metadata={"help": "Hub dataset repository, <org>/<name>."})
    tag: str | None = field(default=None, metadata={"help": "Version tag of the pushed commit, e.g. v1.0.0."})
    private: bool = field(default=False, metadata={"help": "Create the Hub repository as private."})
    shards: int = field(
        default=1,
        metadata={
            "range": "[1, 1024]",
            "help": "Generation processes per config, run side by side (one per GPU, or several on one served model): "
            "shard i takes every shards-th prompt of the plan; the shards are merged (`erc-synth merge`) into the "
            "config's run.",
        },
    )
    shard_devices: list[str] = field(
        default_factory=list,
        metadata={
            "help": "The device of each shard (cuda:0 cuda:1 ...; as many as shards); empty: the generation "
            "settings' device for all."
        },
    )

    def __post_init__(self) -> None:
        check_fields(self)
        self.benchmarks = [get_benchmark(name).name for name in self.benchmarks]
        if not self.modes or any(mode not in Mode.values() for mode in self.modes):
            raise ConfigError(f"modes must be a non-empty list of {list(Mode.values())}, but got {self.modes}.")
        self.modes = [Mode(mode) for mode in self.modes]
        unknown = sorted(set(self.counts) - {str(name) for name in self.config_names()})
        if unknown:
            raise ConfigError(
                f"counts names configs {unknown} that the release does not make; its configs are "
                f"{[str(name) for name in self.config_names()]}."
            )
        for section, owned in (("generation", _GENERATION_OWNED), ("build", _BUILD_OWNED)):
            taken = sorted(set(getattr(self, section)) & set(owned))
            if taken:
                raise ConfigError(f"{section} may not set {taken}: the release sets them (see ReleaseConfig).")
        if self.generation.get("num_shards", 1) != 1 or self.generation.get("shard_index", 0) != 0:
            raise ConfigError(
                "generation sets num_shards/shard_index, but a release shards its runs itself: set shards (and "
                "shard_devices) at the top level of the release file."
            )
        if self.shard_devices and len(self.shard_devices) != self.shards:
            raise ConfigError(
                f"shard_devices lists {len(self.shard_devices)} devices for {self.shards} shards; give one per shard "
                "or none."
            )
        if self.utility is not None:
            taken = sorted(set(self.utility) & set(_UTILITY_OWNED))
            if taken:
                raise ConfigError(f"utility may not set {taken}: the release sets them (see ReleaseConfig).")
        if self.utility_benchmarks is not None:
            outside = sorted(set(self.utility_benchmarks) - set(self.benchmarks))
            if outside:
                raise ConfigError(f"utility_benchmarks {outside} are not among benchmarks {self.benchmarks}.")
        # Every stage's settings are checked now, before anything runs.
        for name in self.config_names():
            self.generation_config(name)
        self.build_config()
        for benchmark in self.measured_benchmarks():
            self.utility_config(benchmark, "", "")

    def config_names(self) -> list[ConfigName]:
        return [ConfigName(benchmark, mode) for benchmark in self.benchmarks for mode in self.modes]

    def measured_benchmarks(self) -> list[str]:
        if self.utility is None:
            return []
        return list(self.utility_benchmarks if self.utility_benchmarks is not None else self.benchmarks)

    def generation_config(self, name: ConfigName, output: str | None = None) -> GenerationConfig:
        values = {
            **self.generation,
            "benchmark": name.benchmark,
            "mode": name.mode.value,
            "num_dialogues": self.counts.get(str(name), self.num_dialogues),
            "seed": self.seed,
            "output_dir": output,
            "progress": False,
        }
        return config_from_dict(GenerationConfig, values, source=f"release generation settings of {name}")

    def build_config(self) -> BuildConfig:
        values = {
            "allow_incomplete": True,
            **self.build,
            "output_dir": str(Path(self.output_dir) / DATASET_FOLDER),
            "repo_id": self.repo_id,
        }
        return config_from_dict(BuildConfig, values, source="release build settings")

    def utility_config(self, benchmark: str, work: str, dataset: str) -> UtilityConfig:
        data_dir = self.data_dir(benchmark)
        values = {
            **(self.utility or {}),
            "dataset": dataset,
            "work": work,
            "benchmark": benchmark,
            "data_dir": str(data_dir) if data_dir else None,
            "modes": list(self.modes),
        }
        return config_from_dict(UtilityConfig, values, source=f"release utility settings of {benchmark}")

    def data_dir(self, benchmark: str) -> Path | None:
        given = self.data_dirs.get(benchmark)
        return Path(given) if given else default_data_dir(benchmark)


def load_release_config(path: str | Path) -> ReleaseConfig:
    """The release described by a YAML file; unknown keys and bad values fail naming the file."""
    values = load_config_yaml(path, ReleaseConfig)
    where = f"Release file {str(path)!r}"
    try:
        return config_from_dict(ReleaseConfig, values, source=where)
    except ConfigError as err:
        if where in str(err):
            raise
        raise ConfigError(f"{where}: {err}") from None


@dataclass
class StageRecord:
    """One stage of a release: its key (`generate/meld_natural`), settings hash, and what happened to it."""

    key: str
    settings_hash: str
    status: str = "pending"  # pending | reused | done
    seconds: float = 0.0


@dataclass
class ReleaseResult:
    """Where a release is and what each stage did."""

    output: Path
    dataset: Path
    stages: list[StageRecord]
    dry_run: bool

    def ran(self) -> list[str]:
        return [stage.key for stage in self.stages if stage.status == "done"]


class ReleaseState:
    """`state.json`: the settings hash of every finished stage, rewritten atomically after each one."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_NAME
        self.finished: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            data = read_json_file(self.path, what="Release state", error=ConfigError)
            self.finished = dict(data.get("finished") or {})

    def is_finished(self, stage: StageRecord) -> bool:
        return (self.finished.get(stage.key) or {}).get("settings_hash") == stage.settings_hash

    def record(self, stage: StageRecord) -> None:
        self.finished[stage.key] = {"settings_hash": stage.settings_hash, "seconds": round(stage.seconds, 3)}
        write_json_atomic(self.path, {"finished": self.finished}, sort_keys=True)


class StageDisplay:
    """The one progress display of a release: a line per stage, numbered over all stages."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total = total
        self.index = 0
        self.stream = stream or sys.stdout
        self.started = time.perf_counter()

    def start(self, stage: StageRecord, reused: bool) -> None:
        self.index += 1
        what = "reused (settings unchanged)" if reused else "running ..."
        print(f"[{self.index}/{self.total}] {stage.key}: {what}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """A line from inside the running stage, indented under it."""
        print(f"    {message}", file=self.stream, flush=True)

    def finish(self, stage: StageRecord, note: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        tail = f"; {note}" if note else ""
        print(
            f"[{self.index}/{self.total}] {stage.key}: done in {stage.seconds:.1f} s{tail} (release {elapsed:.0f} s)",
            file=self.stream,
            flush=True,
        )


def _hash(*parts: Any) -> str:
    return settings_hash({"parts": list(parts)})[:16]


def _amount(settings: Any) -> dict[str, Any]:
    """How much a run generates: its target and attempt budget (left out of its data settings)."""
    return {"num_dialogues": settings.num_dialogues, "attempt_budget": settings.attempt_budget}


def _drop_derived(dataset: Path, benchmark: str) -> None:
    """Removes the configs a former utility measurement derived from `benchmark`'s configs (relabelled, curated):
    their teacher may be trained again with identical weights, and `run_utility` would then keep them as made."""
    for info in sorted(dataset.glob("*/build_info.json")):
        try:
            built = read_config_build(dataset, info.parent.name)
        except BuildError:
            continue
        if built.benchmark.name == benchmark and (built.label_source is not None or built.curation is not None):
            shutil.rmtree(info.parent)


def _summary(config: ReleaseConfig, dataset: Path, builds: list[Any]) -> dict[str, Any]:
    """The card's figures per config as data: generator and settings, quality headline beside the real
    benchmark, label source and curation, and the benchmark's utility table."""
    configs = {}
    for built in builds:
        report_path = config_report_folder(dataset, built.name) / REPORT_FILES["json"]
        quality = None
        if built.quality is not None and report_path.is_file():
            report = read_report(report_path)
            quality = {"real": report["real"]["kind"], "counts": report["counts"], "figures": headline_figures(report)}
        utility = read_utility(dataset, built.benchmark.name) if built.utility is not None else None
        configs[built.name] = {
            "benchmark": built.benchmark.name,
            "mode": built.mode,
            "num_dialogues": built.num_dialogues,
            "num_utterances": built.num_utterances,
            "generator": [
                {key: run.get(key) for key in ("run", "model", "model_revision", "backend", "prompt_version", "seed")}
                | {
                    "sampling": run.get("sampling"),
                    "counts": run.get("counts"),
                    "settings_hash": run.get("settings_hash"),
                }
                for run in built.runs
            ],
            "quality": quality,
            "label_source": built.label_source,
            "curation": built.curation,
            "utility": None
            if utility is None
            else {key: utility.get(key) for key in ("test_set", "stronger_org", "variants", "floors", "comparisons")},
        }
    return {"repo_id": config.repo_id, "tag": config.tag, "configs": configs}


def _refresh(config: ReleaseConfig, dataset: Path) -> None:
    """The card and `release.json` re-rendered from what the dataset folder holds now."""
    builds = refresh_card(dataset, config.build_config())
    write_json_atomic(dataset / SUMMARY_NAME, _summary(config, dataset, builds), sort_keys=True)


def run_release(
    config: ReleaseConfig,
    *,
    dry_run: bool | None = None,
    backend_factory: Callable[[str], Backend] | None = None,
    api: Any = None,
    stream: Any = None,
) -> ReleaseResult:
    """Runs (or continues) a release; see the module docstring.

    Args:
        config: The release.
        dry_run: Plan the push without sending anything; default: a dry run unless a Hub token is found.
        backend_factory: benchmark name -> a generation backend to use instead of the configured one (not with
            `shards` > 1: shards run in processes of their own).
        api: The Hub client of the push (default `HfApi()`).
        stream: Where the progress display writes (default stdout).

    Returns:
        A `ReleaseResult`.

    Raises:
        ConfigError, BuildError, TrainingConfigError, PushError: a stage's settings or inputs are wrong, or a stage
            failed; every stage finished before is kept and reused by the next call.
    """
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    dataset = output / DATASET_FOLDER
    if dry_run is None:
        dry_run = not _has_token()
    if not dry_run and not config.repo_id:
        raise ConfigError("A push needs repo_id in the release file (<org>/<name>); or run with --dry-run.")
    state = ReleaseState(output)

    names = config.config_names()
    # A run folder is named by what its dialogues are (the data settings); its stage also by how many there are, so
    # a larger count extends the same run.
    data_hash = {name: _hash(config.generation_config(name).data_settings()) for name in names}
    # Sharded runs live in other folders: the shard count joins the hash (only when > 1, so that a release without
    # shards keeps its stages).
    sharding = [config.shards] if config.shards > 1 else []
    gen_hash = {name: _hash(data_hash[name], _amount(config.generation_config(name)), *sharding) for name in names}
    data_dirs = {b: str(config.data_dir(b)) if config.data_dir(b) else None for b in config.benchmarks}
    quality_hash = {name: _hash(gen_hash[name], config.quality_encoder, data_dirs[name.benchmark]) for name in names}
    build_settings = {k: v for k, v in vars(config.build_config()).items() if k != "output_dir"}
    build_hash = _hash(sorted(gen_hash.values()), sorted(quality_hash.values()), build_settings)
    utility_hash = {
        benchmark: _hash(
            [gen_hash[n] for n in names if n.benchmark == benchmark],
            build_settings,
            config.utility,
            data_dirs[benchmark],
        )
        for benchmark in config.measured_benchmarks()
    }
    push_hash = _hash(build_hash, sorted(utility_hash.values()), config.repo_id, config.tag, config.private, dry_run)

    def run_dir(name: ConfigName) -> Path:
        base = output / "runs" / f"{name}-{data_hash[name][:12]}"
        return base.with_name(base.name + "-merged") if config.shards > 1 else base

    def quality_dir(name: ConfigName) -> Path:
        return output / "quality" / f"{name}-{quality_hash[name][:12]}"

    def utility_dir(benchmark: str) -> Path:
        return output / "utility" / f"{benchmark}-{utility_hash[benchmark][:12]}"

    stages: list[tuple[StageRecord, Callable[[], str]]] = []
    for name in names:
        stages.append((StageRecord(f"generate/{name}", gen_hash[name]), lambda n=name: _generate(n)))
    for name in names:
        stages.append((StageRecord(f"quality/{name}", quality_hash[name]), lambda n=name: _quality(n)))
    stages.append((StageRecord("build", build_hash), lambda: _build()))
    for benchmark in config.measured_benchmarks():
        stages.append((StageRecord(f"utility/{benchmark}", utility_hash[benchmark]), lambda b=benchmark: _utility(b)))
    stages.append((StageRecord("push", push_hash), lambda: _push()))

    def _generate(name: ConfigName) -> str:
        # heavy: loads datasets; imported when a generation stage runs so `erc-synth release --help` stays fast
        from generation.runner import run_generation

        if config.shards > 1:
            return _generate_shards(config, name, run_dir(name), display.note)
        backend = backend_factory(name.benchmark) if backend_factory else None
        settings = config.generation_config(name, str(run_dir(name)))
        summary = run_generation(settings, backend=backend, log=display.note)
        if summary.status == "stopped":
            raise ConfigError(f"Generation of {name} stopped: {summary.message} Run the release again to resume.")
        return f"{summary.status}, {summary.accepted} accepted of {summary.attempts} attempts"

    def _quality(name: ConfigName) -> str:
        report = report_run(
            run_dir(name), quality_dir(name), data_dir=config.data_dir(name.benchmark), encoder=config.quality_encoder
        )
        return "beside " + ("the real data" if report["real"]["kind"] == "data" else "stored real figures")

    def _build() -> str:
        build_dataset([run_dir(name) for name in names], config.build_config())
        for name in names:
            target = config_report_folder(dataset, str(name))
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(quality_dir(name), target)
        _refresh(config, dataset)
        return f"{len(names)} configs in {dataset}"

    def _utility(benchmark: str) -> str:
        work = utility_dir(benchmark)
        if not (work / "utility.json").is_file():
            _drop_derived(dataset, benchmark)
        result = run_utility(config.utility_config(benchmark, str(work), str(dataset)))
        store_utility(result.work, dataset, benchmark)
        _refresh(config, dataset)
        return f"stronger Org {result.report['stronger_org']}"

    def _push() -> str:
        if not config.repo_id:
            return "no repo_id: nothing to push"
        push = PushConfig(repo_id=config.repo_id, tag=config.tag, private=config.private, dry_run=dry_run)
        result = push_folder(dataset, push, api=api)
        print(result.plan.describe(), file=stream or sys.stdout)
        return "dry run: nothing was sent" if dry_run else f"pushed {result.commit_url}"

    display = StageDisplay(len(stages), stream)
    for stage, action in stages:
        reused = state.is_finished(stage)
        display.start(stage, reused)
        if reused:
            stage.status = "reused"
            continue
        started = time.perf_counter()
        note = action()
        stage.seconds = time.perf_counter() - started
        stage.status = "done"
        state.record(stage)
        display.finish(stage, note)
    return ReleaseResult(output=output, dataset=dataset, stages=[stage for stage, _ in stages], dry_run=dry_run)


def _generate_shards(config: ReleaseConfig, name: ConfigName, merged: Path, note: Callable[[str], None]) -> str:
    """Runs the config's shards as `erc-synth generate` processes side by side (each resumable, its log beside its
    folder), then merges them into `merged` (a merge product only, so an earlier merge is replaced)."""
    folder = merged.with_name(merged.name.removesuffix("-merged") + "-shards")
    folder.mkdir(parents=True, exist_ok=True)
    settings = folder / "generation.yaml"
    save_config_yaml(config.generation_config(name), settings)
    with ChildProcesses() as children:  # stopping the release stops its shards (each resumes on the next run)
        failed = _run_shards(config, name, folder, settings, children, note)
    if failed:
        raise ConfigError(
            f"Generation of {name} did not finish: {', '.join(failed)}. Run the release again to resume."
        )
    shutil.rmtree(merged, ignore_errors=True)
    manifest = merge_runs([folder / f"shard-{index}" for index in range(config.shards)], merged)
    return f"{config.shards} shards merged, {manifest.counts.accepted} accepted of {manifest.counts.attempts} attempts"


def _run_shards(
    config: ReleaseConfig,
    name: ConfigName,
    folder: Path,
    settings: Path,
    children: ChildProcesses,
    note: Callable[[str], None],
) -> list[str]:
    """Starts every shard's `erc-synth generate` process, waits for all; returns the failed ones, described."""
    processes = []
    for index in range(config.shards):
        command = [sys.executable, "-m", "erc_synth.cli", "generate", "--config", str(settings)]
        command += ["--shard-index", str(index), "--num-shards", str(config.shards)]
        command += ["--output-dir", str(folder / f"shard-{index}")]
        if config.shard_devices:
            command += ["--device", config.shard_devices[index]]
        log = folder / f"shard-{index}.log"
        with log.open("a", encoding="utf-8") as stream:
            processes.append((index, log, children.start(command, stdout=stream, stderr=subprocess.STDOUT)))
    failed = []
    for index, log, process in processes:
        code = process.wait()
        note(f"{name} shard {index}/{config.shards}: exit status {code} (log {log})")
        if code != 0:
            failed.append(f"shard {index} (exit status {code}, see {log})")
    return failed


def _has_token() -> bool:
    """Whether a Hub token is configured (the variable or `hf auth login`); never reads the Hub."""
    if os.environ.get("HF_TOKEN"):
        return True
    from huggingface_hub import get_token

    return get_token() is not None
