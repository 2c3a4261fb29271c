"""Turning generation runs into a dataset repository folder: one config per benchmark and mode, Parquet splits.

Layout of the folder (the one `DatasetDict.push_to_hub(config_name=...)` produces, so that `load_dataset(folder,
config)` and, once pushed, `load_dataset("<org>/<name>", config)` read it the same way)::

    OUTPUT/
      README.md                                   dataset card: YAML `configs:` + `dataset_info:`, then prose
      meld_balanced/train-00000-of-00001.parquet
      meld_balanced/validation-00000-of-00001.parquet
      meld_balanced/test-00000-of-00001.parquet
      meld_balanced/label_distribution.png        the card's plot of this config
      meld_balanced/build_info.json               provenance: runs, manifests, split settings, counts
      quality/meld_balanced/quality.json          optional quality report shown in the card (docs/quality.md)

A build is all-or-nothing: the new folder is assembled next to OUTPUT and renamed into place, so a failure leaves
the previous OUTPUT untouched; a kill between the renames is repaired by the next build (`erc_synth_datasets.swap`).
Configs already in OUTPUT that are not rebuilt are kept, and so is the card's prose.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from .benchmarks import Benchmark, BenchmarkError, get_benchmark
from .configuration import output_dir_alias, take_old_output
from .errors import ErcSynthError
from .files import DiskFullError, is_disk_full, read_json_file, write_json_atomic, write_text_atomic
from .plots import plot_label_distribution
from .processes import exclusive_replaced_folder
from .quality.outputs import card_quality_section, report_config
from .runs import RunFormatError, count_records, iter_jsonl, list_accepted_files, read_manifest
from .splitting import SPLIT_NAMES, SplitError, SplitRatios, split_dialogues
from .swap import make_staging_folder, recover_swap, swap_into_place
from .utility_outputs import card_utility_section
from .vocabulary import BUILD_INFO_NAME, ConfigName

__all__ = [
    "BUILD_INFO_NAME",
    "BuildConfig",
    "BuildError",
    "BuildResult",
    "ConfigBuild",
    "RunInput",
    "build_dataset",
    "read_config_build",
    "read_run",
    "refresh_card",
    "update_dataset_folder",
    "write_splits",
]

PLOT_NAME = "label_distribution.png"
_LOCAL_SETTINGS = ("output",)
_RECORD_COLUMNS = (
    "dialogue_id",
    "speakers",
    "utterances",
    "emotions",
    "mode",
    "target_emotion",
    "persona",
    "generator_model",
    "sampling",
    "seed",
    "prompt_version",
    "prompt",
)


class BuildError(ErcSynthError, ValueError):
    """Generation runs cannot be turned into a dataset (the message says which run or file, and how to fix it)."""


@output_dir_alias
@dataclass
class BuildConfig:
    """Settings of `erc-synth build`.

    Args:
        output_dir: The dataset repository folder to create or update (`output`, its old name, still works for
            this release).
        split_ratios: Fractions of dialogues per split (train, validation, test).
        split_seed: Seed of the dialogue-level shuffle that assigns splits.
        min_per_split: The fewest dialogues any split may hold; fewer is an error.
        license: License identifier written into the card's metadata; None takes the licence of the real data the
            configs imitate from the benchmark definition, or writes `unknown` and asks for one in the card.
        pretty_name: Human-readable dataset name for the card.
        repo_id: The Hub repository the card's examples load from (`<org>/<name>`); the folder name when None.
        allow_incomplete: Also accept runs whose manifest status is not `complete` (e.g. `stopped`, `running`).
        quality: Compute each built config's quality report into `quality/<config>/` (see docs/quality.md). A
            report already there that matches the built data is shown in the card either way.
        quality_encoder: Sentence encoder for the report's embedding figures; none are computed when None.
    """

    output_dir: str = field(default="erc-synth", metadata={"help": "Dataset repository folder to create or update."})
    split_ratios: str = field(
        default="0.8,0.1,0.1", metadata={"help": "Fractions of dialogues in train,validation,test (sum 1)."}
    )
    split_seed: int = field(
        default=42, metadata={"range": "[0, 4294967295]", "help": "Seed of the dialogue-level split shuffle."}
    )
    min_per_split: int = field(
        default=1, metadata={"range": "[1, 1000000000]", "help": "The fewest dialogues any split may hold."}
    )
    license: str | None = field(
        default=None,
        metadata={
            "help": "License identifier for the card metadata (default: the licence of the real data the configs "
            "imitate, from the benchmark definition; 'unknown' when it has none)."
        },
    )
    pretty_name: str = field(default="erc-synth", metadata={"help": "Human-readable dataset name for the card."})
    repo_id: str | None = field(
        default=None, metadata={"help": "Hub repository (<org>/<name>) used in the card's loading examples."}
    )
    allow_incomplete: bool = field(
        default=False, metadata={"help": "Accept runs whose manifest status is not 'complete'."}
    )
    quality: bool = field(
        default=False, metadata={"help": "Compute each built config's quality report and show it in the card."}
    )
    quality_encoder: str | None = field(
        default=None, metadata={"help": "Sentence encoder for --quality's embedding figures (default: none)."}
    )

    @property
    def ratios(self) -> SplitRatios:
        return SplitRatios.parse(self.split_ratios)

    #: The old name of `output_dir` (one release).
    output: InitVar[str | None] = None

    def __post_init__(self, output: str | None = None) -> None:
        take_old_output(self, output)
        if isinstance(self.split_ratios, SplitRatios):
            ratios = self.split_ratios.as_dict()
            self.split_ratios = ",".join(f"{ratios[name]:g}" for name in SPLIT_NAMES)
        elif isinstance(self.split_ratios, (list, tuple)):
            self.split_ratios = ",".join(str(value) for value in self.split_ratios)
        try:
            SplitRatios.parse(self.split_ratios)
        except SplitError as err:
            raise BuildError(f"split_ratios: {err}") from None
        if not isinstance(self.min_per_split, int) or self.min_per_split < 1:
            raise BuildError(f"min_per_split must be an integer >= 1, but got min_per_split={self.min_per_split!r}.")
        if not str(self.output_dir).strip():
            raise BuildError("output_dir must name a folder, but got an empty string.")


@dataclass
class RunInput:
    """One generation run as the build sees it: its manifest, benchmark and accepted dialogues."""

    run_dir: Path
    manifest: dict[str, Any]
    benchmark: Benchmark
    mode: str
    records: list[dict[str, Any]]

    @property
    def config_name(self) -> str:
        """`<benchmark>_<mode>`, plus `_persona` for a persona run (never pooled with plain runs of that mode)."""
        return str(ConfigName(self.benchmark.name, self.mode, persona=bool(self.manifest.get("persona"))))


@dataclass
class ConfigBuild:
    """What was built for one config; the data of its dataset-card section."""

    name: str
    benchmark: Benchmark
    mode: str
    runs: list[dict[str, Any]]
    split_seed: int
    split_ratios: dict[str, float]
    num_dialogues: dict[str, int]
    num_utterances: dict[str, int]
    label_counts: dict[str, list[int]]
    target_counts: dict[str, int]
    files: dict[str, str]
    file_sizes: dict[str, int]
    num_bytes: dict[str, int]
    plot: str
    # sha256 of each split's Parquet file: lets users verify files, and makes the card (which `datasets` uses to
    # key its cache of a local folder) change whenever the data changes.
    file_sha256: dict[str, str] = field(default_factory=dict)
    # The quality block of the card section (`quality.outputs.card_quality_section`); not part of build_info.json.
    quality: str | None = None
    # The utility block of the card section (`utility_outputs.card_utility_section`); not part of build_info.json.
    utility: str | None = None
    # A config derived from a built one (`erc_synth_datasets.derived`): where its labels came from (source, teacher,
    # its revision and real-test score) and the curation applied (policy, counts before and after); None when built.
    label_source: dict[str, Any] | None = None
    curation: dict[str, Any] | None = None

    @property
    def features(self):  # -> datasets.Features
        """The config's `datasets.Features`: the dialogue schema, plus the label columns of a derived config."""
        # the schema's Features import datasets: loaded only when asked for.
        from .schema import derived_features, dialogue_features

        derived = self.label_source is not None or self.curation is not None
        return derived_features(self.benchmark) if derived else dialogue_features(self.benchmark)

    @property
    def accepted(self) -> int:
        return sum(run["counts"].get("accepted", 0) for run in self.runs)

    @property
    def attempts(self) -> int:
        return sum(run["counts"].get("attempts", 0) for run in self.runs)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.attempts if self.attempts else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_name": self.name,
            "benchmark": self.benchmark.to_dict(),
            "mode": self.mode,
            "runs": self.runs,
            "split_seed": self.split_seed,
            "split_ratios": self.split_ratios,
            "num_dialogues": self.num_dialogues,
            "num_utterances": self.num_utterances,
            "label_counts": self.label_counts,
            "target_counts": self.target_counts,
            "files": self.files,
            "file_sizes": self.file_sizes,
            "num_bytes": self.num_bytes,
            "plot": self.plot,
            "file_sha256": self.file_sha256,
            "label_source": self.label_source,
            "curation": self.curation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfigBuild:
        data = dict(data)
        # build_info.json is written with sorted keys; the splits go back into their canonical order, the order of
        # the card's `data_files` and of `load_dataset`'s splits.
        for key in _SPLIT_KEYED:
            if isinstance(data.get(key), dict):
                data[key] = {split: data[key][split] for split in sorted(data[key], key=_split_order)}
        data["name"] = data.pop("config_name")
        data["benchmark"] = Benchmark(**data["benchmark"])
        return cls(**data)


_SPLIT_KEYED = (
    "split_ratios",
    "num_dialogues",
    "num_utterances",
    "label_counts",
    "files",
    "file_sizes",
    "num_bytes",
    "file_sha256",
)


def _split_order(split: str) -> tuple[int, str]:
    return (SPLIT_NAMES.index(split) if split in SPLIT_NAMES else len(SPLIT_NAMES), split)


@dataclass
class BuildResult:
    """The outcome of `build_dataset`: the folder and what was (re)built in it."""

    output: Path
    configs: list[ConfigBuild]
    kept_configs: list[str]


def _benchmark_from_manifest(run_dir: Path, manifest: dict[str, Any]) -> Benchmark:
    definition = manifest.get("benchmark")
    if not isinstance(definition, dict) or "name" not in definition:
        raise BuildError(f"{run_dir / 'manifest.json'}: 'benchmark' must be a Benchmark definition with a name.")
    try:
        from_manifest = Benchmark(**definition)
    except (TypeError, BenchmarkError) as err:
        raise BuildError(f"{run_dir / 'manifest.json'}: invalid benchmark definition ({err}).") from None
    try:
        registered = get_benchmark(from_manifest.name)
    except BenchmarkError:
        return from_manifest  # a custom benchmark: the manifest carries its whole definition
    if registered.labels != from_manifest.labels:
        raise BuildError(
            f"Mixed label sets: run {str(run_dir)!r} labels {from_manifest.name!r} dialogues with "
            f"{list(from_manifest.labels)}, but the registered benchmark {registered.name!r} has "
            f"{list(registered.labels)}. Give the custom benchmark its own name (configs/benchmarks/*.yaml) "
            "and generate again."
        )
    return registered


def _check_record(record: dict[str, Any], benchmark: Benchmark, where: str) -> dict[str, Any]:
    missing = [column for column in _RECORD_COLUMNS if column not in record]
    if missing:
        raise BuildError(f"{where}: accepted record lacks columns {missing}; expected {list(_RECORD_COLUMNS)}.")
    lengths = {len(record[key]) for key in ("speakers", "utterances", "emotions")}
    if len(lengths) != 1 or not record["utterances"]:
        raise BuildError(
            f"{where}: dialogue {record['dialogue_id']!r} needs as many speakers as utterances and emotions (at least "
            f"one), but got {len(record['speakers'])}, {len(record['utterances'])}, {len(record['emotions'])}."
        )
    unknown = sorted({e for e in record["emotions"] if e not in benchmark.label2id})
    if unknown:
        raise BuildError(
            f"Mixed label sets: {where}: dialogue {record['dialogue_id']!r} has labels {unknown} that "
            f"{benchmark.name!r} does not define; its labels are {list(benchmark.labels)}."
        )
    return {column: record[column] for column in _RECORD_COLUMNS}


def read_run(run_dir: str | Path, *, allow_incomplete: bool = False) -> RunInput:
    """Reads one generation run and checks that its manifest matches its shards.

    Raises:
        BuildError: the run is missing, incomplete, corrupt, uses labels outside its benchmark, or its manifest's
            record counts differ from its files.
    """

    run_dir = Path(run_dir)
    try:
        manifest = read_manifest(run_dir).to_dict()
        accepted_files = list_accepted_files(run_dir)
    except RunFormatError as err:
        raise BuildError(str(err)) from None
    status = manifest.get("status")
    if status != "complete" and not allow_incomplete:
        raise BuildError(
            f"Run {str(run_dir)!r} has status {status!r}, expected 'complete'. Resume it with the same "
            "`erc-synth generate` command, or pass --allow-incomplete to build from what it has."
        )
    benchmark = _benchmark_from_manifest(run_dir, manifest)
    mode = str(manifest["mode"])

    # The manifest must describe exactly the shard files that are there, with their record counts.
    declared = manifest.get("files")
    if not isinstance(declared, dict):
        raise BuildError(f"{run_dir / 'manifest.json'}: 'files' must map file names to record counts.")
    on_disk = {path.name: count_records(path) for path in sorted(run_dir.glob("*.jsonl"))}
    if declared != on_disk:
        differences = {
            name: {"manifest": declared.get(name), "on disk": on_disk.get(name)}
            for name in sorted(set(declared) | set(on_disk))
            if declared.get(name) != on_disk.get(name)
        }
        raise BuildError(
            f"The manifest of run {str(run_dir)!r} does not match its shards: {differences}. The run was changed "
            "after generation or copied incompletely; copy it again, or resume it with `erc-synth generate`."
        )

    records: list[dict[str, Any]] = []
    for path in accepted_files:
        try:
            for number, record in enumerate(iter_jsonl(path), start=1):
                records.append(_check_record(record, benchmark, f"{path}: record {number}"))
        except RunFormatError as err:
            raise BuildError(str(err)) from None
    accepted = manifest["counts"].get("accepted")
    if accepted != len(records):
        raise BuildError(
            f"The manifest of run {str(run_dir)!r} counts {accepted} accepted dialogues, but its shards hold "
            f"{len(records)}; copy the run again, or resume it with `erc-synth generate`."
        )
    for record in records:
        if record["mode"] != mode:
            raise BuildError(
                f"Run {str(run_dir)!r} is a {mode!r} run, but dialogue {record['dialogue_id']!r} has mode "
                f"{record['mode']!r}."
            )
    return RunInput(run_dir=run_dir, manifest=manifest, benchmark=benchmark, mode=mode, records=records)


def _run_summary(run: RunInput) -> dict[str, Any]:
    # the schema's Features import datasets: loaded only when dialogues are flattened or built.
    from .schema import SAMPLING_FEATURES

    manifest = run.manifest
    # Local paths (where the run was written) say nothing about the data and do not belong in a published card.
    settings = {key: value for key, value in (manifest.get("settings") or {}).items() if key not in _LOCAL_SETTINGS}
    sampling = (
        manifest.get("sampling")
        or settings.get("sampling")
        or {key: settings[key] for key in SAMPLING_FEATURES if key in settings}
    )
    return {
        "run": run.run_dir.name,
        "settings_hash": manifest.get("settings_hash"),
        "status": manifest.get("status"),
        "backend": manifest.get("backend"),
        "model": manifest.get("model"),
        "model_revision": manifest.get("model_revision"),
        "prompt_version": manifest.get("prompt_version"),
        "prompt_template": manifest.get("prompt_template"),
        "output_format": manifest.get("output_format"),
        "persona": manifest.get("persona"),
        "seed": settings.get("seed"),
        "sampling": sampling,
        "settings": settings,
        "counts": dict(manifest.get("counts") or {}),
        "tokens": dict(manifest.get("tokens") or {}),
        "elapsed_seconds": manifest.get("elapsed_seconds"),
    }


def _group_runs(runs: Sequence[RunInput]) -> dict[str, list[RunInput]]:
    groups: dict[str, list[RunInput]] = {}
    for run in runs:
        groups.setdefault(run.config_name, []).append(run)
    for name, members in groups.items():
        label_sets = {run.benchmark.labels for run in members}
        if len(label_sets) > 1:
            raise BuildError(
                f"Mixed label sets in config {name!r}: runs "
                f"{[str(run.run_dir) for run in members]} use {[list(labels) for labels in label_sets]}."
            )
        seen: dict[str, Path] = {}
        for run in members:
            for record in run.records:
                other = seen.setdefault(record["dialogue_id"], run.run_dir)
                if other != run.run_dir:
                    raise BuildError(
                        f"Dialogue id {record['dialogue_id']!r} appears in runs {str(other)!r} and "
                        f"{str(run.run_dir)!r} of config {name!r}: the same run was given twice, or two runs share "
                        "a seed. Give each run once; generate extra data with a different --seed."
                    )
    return groups


def write_splits(
    name: str, splits: dict[str, list[dict[str, Any]]], folder: Path, features: Any, benchmark: Benchmark
) -> dict[str, Any]:
    """Writes one Parquet file per split and the label plot into `folder` (the config's folder).

    Utterances whose `label_weights` entry is 0 (dropped by curation) are not counted per label.

    Returns:
        The `ConfigBuild` fields that describe the files: files, sizes, sha256, bytes, dialogue, utterance and
        label counts.
    """
    # pyarrow: loaded only when a dataset is written.
    from .parquet_io import rows_to_table, shard_filename, write_parquet

    out: dict[str, dict[str, Any]] = {
        key: {} for key in ("files", "file_sizes", "file_sha256", "num_bytes", "num_dialogues", "num_utterances")
    }
    out["label_counts"] = {}
    for split in [s for s in SPLIT_NAMES if s in splits]:
        rows = splits[split]
        table = rows_to_table(rows, features)
        filename = shard_filename(split)
        out["file_sizes"][split] = write_parquet(table, folder / filename)
        out["file_sha256"][split] = hashlib.sha256((folder / filename).read_bytes()).hexdigest()
        out["files"][split] = f"{name}/{filename}"
        out["num_bytes"][split] = table.nbytes
        out["num_dialogues"][split] = len(rows)
        out["num_utterances"][split] = sum(len(row["utterances"]) for row in rows)
        counter: Counter = Counter()
        for row in rows:
            weights = row.get("label_weights") or [1.0] * len(row["emotions"])
            counter.update(label for label, weight in zip(row["emotions"], weights, strict=True) if weight > 0)
        out["label_counts"][split] = [counter.get(label, 0) for label in benchmark.labels]
    plot_label_distribution(
        out["label_counts"],
        benchmark.labels,
        folder / PLOT_NAME,
        title=f"{name}: utterances per label",
        log_scale=True,
    )
    return out


def _write_config(name: str, runs: list[RunInput], folder: Path, config: BuildConfig) -> ConfigBuild:
    # heavy: the schema's Features import datasets; loaded only when a config is written
    from .schema import dialogue_features

    benchmark = runs[0].benchmark
    records = [record for run in runs for record in run.records]
    try:
        splits = split_dialogues(records, config.ratios, seed=config.split_seed, min_per_split=config.min_per_split)
    except SplitError as err:
        raise BuildError(f"Config {name!r} (runs {[str(run.run_dir) for run in runs]}): {err}") from None
    folder.mkdir(parents=True)
    # A split given a ratio of 0 (--split-ratios 1,0,0) is left out of the config.
    ratios = config.ratios.as_dict()
    splits = {split: rows for split, rows in splits.items() if rows or ratios[split] != 0}
    written = write_splits(name, splits, folder, dialogue_features(benchmark), benchmark)
    targets = Counter(record["target_emotion"] for record in records if record["target_emotion"] is not None)
    built = ConfigBuild(
        name=name,
        benchmark=benchmark,
        mode=runs[0].mode,
        runs=[_run_summary(run) for run in sorted(runs, key=lambda r: r.manifest.get("settings_hash") or "")],
        split_seed=config.split_seed,
        split_ratios=config.ratios.as_dict(),
        target_counts={label: targets.get(label, 0) for label in benchmark.labels if label in targets},
        plot=f"{name}/{PLOT_NAME}",
        **written,
    )

    if config.quality:
        report_config(folder.parent, name, benchmark, records, encoder=config.quality_encoder, attempts=built.attempts)
    _attach_reports(built, folder.parent)
    write_json_atomic(folder / BUILD_INFO_NAME, built.to_dict(), sort_keys=True)
    return built


def _attach_reports(built: ConfigBuild, dataset_folder: Path) -> None:
    """The card blocks of the reports stored in the dataset folder: the config's quality, its benchmark's utility."""
    built.quality = card_quality_section(
        dataset_folder,
        built.name,
        dialogues=sum(built.num_dialogues.values()),
        utterances=sum(built.num_utterances.values()),
    )
    built.utility = card_utility_section(dataset_folder, built.benchmark.name)


def refresh_card(output: str | Path, config: BuildConfig | None = None) -> list[ConfigBuild]:
    """Re-renders every config's card section of a built dataset folder from its `build_info.json` and the reports
    stored in the folder now (`quality/<config>/`, `utility/<benchmark>/`); the data files are not rewritten.

    Returns:
        The `ConfigBuild` of every config, with its card blocks.

    Raises:
        BuildError: `output` is not a dataset folder built by erc-synth.
    """
    # heavy: huggingface_hub's DatasetCard; loaded only when a card is read or written
    from .card import card_settings_of, load_card_data

    output = Path(output).absolute()
    recover_swap(output)
    if not (output / "README.md").is_file():
        raise BuildError(f"{str(output)!r} has no README.md dataset card; build it first (`erc-synth build`).")
    names = _existing_configs(output)

    def write(staging: Path) -> list[ConfigBuild]:
        builds = []
        for name in names:
            shutil.copytree(output / name, staging / name)
            built = read_config_build(staging, name)
            _attach_reports(built, staging)
            builds.append(built)
        return builds

    existing = card_settings_of((output / "README.md").read_text(encoding="utf-8"))
    settings = load_card_data(config) if config is not None else existing
    return update_dataset_folder(output, names, write, settings)[0]


def _existing_configs(output: Path) -> list[str]:
    """Config folders of an existing dataset folder (those with a build_info.json)."""
    return sorted(p.parent.name for p in output.glob(f"*/{BUILD_INFO_NAME}"))


def _check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise BuildError(f"--output-dir {str(output)!r} is a file; give a folder path.")
    if output.is_dir() and any(output.iterdir()) and not (output / "README.md").is_file():
        raise BuildError(
            f"--output-dir {str(output)!r} is a non-empty folder without a README.md dataset card, so it is not a "
            "dataset folder built by erc-synth; choose a new or empty folder."
        )


def build_dataset(run_dirs: Sequence[str | Path], config: BuildConfig | None = None) -> BuildResult:
    """Builds (or updates) a dataset repository folder from generation runs.

    Runs are grouped by `<benchmark>_<mode>`; each group becomes one config whose dialogues are split seeded and
    by dialogue into train/validation/test Parquet files, with the features of `dialogue_features(benchmark)`.
    Configs already in the folder and not built now are kept, and so is the prose of an existing card.

    Args:
        run_dirs: Generation run directories (`manifest.json` + `accepted*.jsonl`).
        config: Build settings; defaults to `BuildConfig()`.

    Returns:
        A `BuildResult` with the folder and one `ConfigBuild` per built config.

    Raises:
        BuildError: a run is refused (see `read_run`), a config has too few dialogues for its splits, or the
            output is not a dataset folder. Nothing in the output folder changes in that case.
    """
    # heavy: huggingface_hub's DatasetCard; loaded only when a dataset is built
    from .card import load_card_data

    config = config or BuildConfig()
    if not run_dirs:
        raise BuildError("Give at least one generation run directory (the --output-dir of `erc-synth generate`).")
    output = Path(config.output_dir).absolute()
    recover_swap(output)
    _check_output(output)
    resolved = [Path(run_dir).resolve() for run_dir in run_dirs]
    repeated = sorted({str(path) for path in resolved if resolved.count(path) > 1})
    if repeated:
        raise BuildError(f"Run directories {repeated} are given more than once; give each run once.")
    runs = [read_run(run_dir, allow_incomplete=config.allow_incomplete) for run_dir in run_dirs]
    groups = _group_runs(runs)

    built, kept = update_dataset_folder(
        output,
        sorted(groups),
        lambda staging: [_write_config(name, groups[name], staging / name, config) for name in sorted(groups)],
        load_card_data(config),
    )
    return BuildResult(output=output, configs=built, kept_configs=kept)


def update_dataset_folder(
    output: Path,
    names: Sequence[str],
    write: Callable[[Path], list[ConfigBuild]],
    card_settings: Any,
) -> tuple[list[ConfigBuild], list[str]]:
    """Rewrites the configs `names` of the dataset folder `output` all-or-nothing, keeping every other config.

    The folder is assembled in a staging folder beside `output` (the kept configs copied, then `write(staging)`
    writes the new configs' folders and returns their `ConfigBuild`s), the card is re-rendered (its prose kept) and
    the staging folder is swapped into place; on any error `output` is left as it was. One process at a time
    rewrites a folder (`exclusive_replaced_folder`; another waits): two at once would each copy the configs they
    found, and the second swap would drop the config the first added.

    Returns:
        The configs written and the names of the configs kept.
    """
    # huggingface_hub's DatasetCard: loaded only when a card is written.
    from .card import render_card

    with exclusive_replaced_folder(output, "writing the dataset folder"):
        staging = make_staging_folder(output)
        try:
            kept: list[str] = []
            existing_card = None
            if output.is_dir():
                for entry in sorted(output.iterdir()):
                    if entry.name in names:
                        continue  # rewritten below
                    if entry.name == "README.md":
                        existing_card = entry.read_text(encoding="utf-8")
                        continue
                    if entry.is_dir():
                        shutil.copytree(entry, staging / entry.name)
                    else:
                        shutil.copy2(entry, staging / entry.name)
                kept = [name for name in _existing_configs(output) if name not in names]
            built = write(staging)
            kept_builds = [read_config_build(staging, name) for name in kept]
            card = render_card(
                built,
                all_configs=sorted([*built, *kept_builds], key=lambda c: c.name),
                existing=existing_card,
                data=card_settings,
            )
            write_text_atomic(staging / "README.md", str(card))
            swap_into_place(staging, output)
        except BaseException as err:
            shutil.rmtree(staging, ignore_errors=True)
            if is_disk_full(err):  # named by the output's folder, not the staging folder that is gone now
                raise DiskFullError(output.parent, f"the dataset folder {output.name!r}") from err
            raise
        return built, kept


def read_config_build(folder: str | Path, name: str) -> ConfigBuild:
    """The `ConfigBuild` recorded in `<folder>/<name>/build_info.json`.

    Raises:
        BuildError: the config has no build_info.json (it was not built by erc-synth), or it cannot be read back
            (read strictly by `files.read_json_file`; the message names the file).
    """
    path = Path(folder) / name / BUILD_INFO_NAME
    if not path.is_file():
        configs = _existing_configs(Path(folder))
        raise BuildError(
            f"{str(Path(folder))!r} has no config {name!r} built by erc-synth (no {name}/{BUILD_INFO_NAME}); its "
            f"configs are {configs}."
        )
    data = read_json_file(path, what="Build record", error=BuildError)
    try:
        return ConfigBuild.from_dict(data)
    except (KeyError, TypeError) as err:
        raise BuildError(
            f"Build record {str(path)!r} is not one erc-synth wrote ({type(err).__name__}: {err}); build the config "
            "again."
        ) from None
