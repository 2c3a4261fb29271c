"""A quality report on disk: its files, the report of one built dataset config, and the block its card shows.

A dataset folder built by `erc-synth build` keeps the report of config `NAME` in `quality/NAME/` (`quality.json`,
`quality.md`, `quality.png`): the default output of `erc-synth quality FOLDER --dataset-config NAME`, and what
`erc-synth build --quality` writes. The build shows that report in the config's card section when it describes the
data just built (same number of dialogues and utterances); a report of other data is left out of the card.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..benchmarks import Benchmark
from ..errors import ErcSynthError
from ..files import read_json_file, write_json_atomic, write_text_atomic
from ..stats import real_data_folder
from ..vocabulary import Split
from .plots import plot_report
from .render import render_card_section, render_markdown
from .report import QualitySettings, compute_report
from .sources import SyntheticSource, dialogues_from_records, load_real_split, load_run

__all__ = [
    "QUALITY_FOLDER",
    "REPORT_FILES",
    "QualityReportError",
    "card_quality_section",
    "config_report_folder",
    "read_report",
    "report_config",
    "report_run",
    "write_report",
]

logger = logging.getLogger(__name__)

#: File names of a written report, by kind.
REPORT_FILES = {"json": "quality.json", "markdown": "quality.md", "plot": "quality.png"}

#: The folder of a dataset repository that holds the configs' reports.
QUALITY_FOLDER = "quality"


class QualityReportError(ErcSynthError, ValueError):
    """A stored `quality.json` cannot be read back; the message names the file and what is wrong."""


def read_report(path: str | Path) -> dict[str, Any]:
    """A stored `quality.json`, read strictly and within bounds (`files.read_json_file`).

    Raises:
        QualityReportError: the file is missing, unreadable, not UTF-8, not bounded JSON, or not a JSON object.
    """
    return read_json_file(path, what="Quality report", error=QualityReportError)


def config_report_folder(dataset_folder: str | Path, config: str) -> Path:
    """Where the report of one config of a dataset folder lives: `<dataset folder>/quality/<config>`."""
    return Path(dataset_folder) / QUALITY_FOLDER / config


def write_report(report: dict[str, Any], output: str | Path) -> dict[str, Path]:
    """Writes the JSON, Markdown and plot of a report into `output`; returns their paths by kind."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = {kind: output / name for kind, name in REPORT_FILES.items()}
    write_json_atomic(paths["json"], report)
    plot_report(report, paths["plot"])
    markdown = render_markdown(report, plots={"turns and labels": REPORT_FILES["plot"]})
    write_text_atomic(paths["markdown"], markdown)
    return paths


def report_config(
    dataset_folder: str | Path,
    config: str,
    benchmark: Benchmark,
    records: Iterable[dict[str, Any]],
    *,
    data_dir: str | Path | None = None,
    encoder: str | None = None,
    attempts: int | None = None,
) -> dict[str, Any]:
    """Computes and writes the report of one config from its records (before the config can be loaded).

    The real side is the benchmark's files in `data_dir` (default `$ERC_SYNTH_DATA_DIR/<benchmark>`), else its
    stored figures. Embedding figures are computed only when `encoder` is given.

    Args:
        dataset_folder: The dataset folder the report is written into (`quality/<config>/`).
        config: The config name.
        benchmark: The benchmark the records follow.
        records: The config's dialogues (`speakers`, `utterances`, `emotions`), every split.
        data_dir: The real benchmark's files.
        encoder: A sentence-transformers id or folder for the embedding figures.
        attempts: Generation attempts behind the records, for the acceptance rate.

    Returns:
        The report.
    """
    where = f"config {config!r}"
    source = SyntheticSource(
        kind="dataset",
        path=str(dataset_folder),
        config=config,
        benchmark=benchmark,
        dialogues=dialogues_from_records(records, benchmark, where),
        attempts=attempts,
    )
    report = _compute(source, data_dir=data_dir, encoder=encoder)
    write_report(report, config_report_folder(dataset_folder, config))
    return report


def report_run(
    run_dir: str | Path, output: str | Path, *, data_dir: str | Path | None = None, encoder: str | None = None
) -> dict[str, Any]:
    """Computes the report of a generation run and writes it into `output` (as `erc-synth quality RUN` does without
    a classifier or judge); the real side as in `report_config`.

    Returns:
        The report.
    """
    report = _compute(load_run(run_dir), data_dir=data_dir, encoder=encoder)
    write_report(report, output)
    return report


def _compute(source: SyntheticSource, *, data_dir: str | Path | None, encoder: str | None) -> dict[str, Any]:
    """The report of `source` beside the real benchmark's files in `data_dir` (default `$ERC_SYNTH_DATA_DIR`), else
    beside its stored figures."""
    # heavy: loads datasets (turn_histogram); imported when a report is computed (build imports this module)
    from .reference import load_reference

    benchmark = source.benchmark
    data_dir = real_data_folder(benchmark, data_dir)
    real = real_test = None
    if data_dir is not None and Path(data_dir).is_dir():
        real = load_real_split(benchmark, data_dir, Split.TRAIN)
        real_test = load_real_split(benchmark, data_dir, Split.TEST)
    settings = QualitySettings(encoder=encoder, embeddings=encoder is not None)
    reference = load_reference(benchmark) if real is None else None
    return compute_report(source, real=real, real_test=real_test, reference=reference, settings=settings)


def card_quality_section(dataset_folder: str | Path, config: str, *, dialogues: int, utterances: int) -> str | None:
    """The quality block of a config's card section, from its stored report; None when there is no report, or
    when the report counts other data than `dialogues` / `utterances` (it was made before a rebuild).

    The plot is linked relative to the card at the folder's root.
    """
    folder = config_report_folder(dataset_folder, config)
    path = folder / REPORT_FILES["json"]
    if not path.is_file():
        return None
    try:
        report = read_report(path)
        counted = (report["counts"]["accepted"], report["counts"]["utterances"])
    except (QualityReportError, KeyError, TypeError) as err:
        logger.warning("%s: not a quality report (%s); the card shows no quality figures for %s.", path, err, config)
        return None
    if counted != (dialogues, utterances):
        logger.warning(
            "%s counts %d dialogues and %d utterances but config %s now has %d and %d; the card leaves the stale "
            "report out (run `erc-synth quality` on the config again, or build with --quality).",
            path,
            *counted,
            config,
            dialogues,
            utterances,
        )
        return None
    plot = f"{QUALITY_FOLDER}/{config}/{REPORT_FILES['plot']}" if (folder / REPORT_FILES["plot"]).is_file() else None
    return render_card_section(report, plot=plot)
