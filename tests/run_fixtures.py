"""Run folders made by the real runner, for build, card and push tests: `write_run`.

`BenchmarkScriptedBackend` is a test double (a `ScriptedBackend` from tests/helpers.py that writes the given
benchmark's speakers and legend numbers): the first `num_rejected` answers are refusals, every later one a fresh
line-format dialogue drawn from the request's seed, one utterance per label in a seeded order. `write_run` hands it
to `run_generation`, so the run folder, its manifest and its records are exactly what `erc-synth generate` writes.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from helpers import ScriptedBackend

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark
from erc_synth_datasets.runs import RunStatus, read_manifest, write_manifest
from generation.backends import GenerationRequest, GenerationResult
from generation.config import GenerationConfig
from generation.runner import run_generation

__all__ = ["SCRIPTED_MODEL", "BenchmarkScriptedBackend", "write_run", "write_synthetic_dataset"]

SCRIPTED_MODEL = "scripted-test-backend"
REFUSAL = "I am sorry, I cannot write that conversation."
_WORDS = ("kettle", "umbrella", "parking", "recipe", "tickets", "garden", "laptop", "bicycle")


class BenchmarkScriptedBackend(ScriptedBackend):
    """A deterministic test backend that answers in `benchmark`'s speakers and labels (see the module docstring)."""

    def __init__(self, benchmark: Benchmark, *, num_rejected: int = 0) -> None:
        super().__init__(in_flight=1, refuse=0.0, repeat=0.0)
        self.benchmark = benchmark
        self.num_rejected = num_rejected
        self.answered = 0

    def result(self, request: GenerationRequest) -> GenerationResult:
        self.answered += 1
        if self.answered <= self.num_rejected:
            text = REFUSAL
        else:
            # Every legend number once, shuffled: a balanced run's target emotion is always present.
            rng = random.Random(request.seed)
            speakers = self.benchmark.speakers
            numbers = rng.sample(range(1, self.benchmark.num_labels + 1), self.benchmark.num_labels)
            if numbers[1] == numbers[0] + 1:
                # Never a run through the legend (the quality filters reject those as degenerate output).
                numbers[0], numbers[1] = numbers[1], numbers[0]
            lines = [
                f"{speakers[turn % len(speakers)]}: Did you see the {rng.choice(_WORDS)} number "
                f"{rng.randint(0, 10**6)}? ({number})"
                for turn, number in enumerate(numbers)
            ]
            text = "\n".join(lines)
        return GenerationResult(text=text, prompt_tokens=10, completion_tokens=len(text.split()))


def write_run(
    run_dir: Path,
    benchmark: str | Path = "meld",
    mode: str = "balanced",
    num_dialogues: int = 10,
    seed: int = 0,
    status: str = "complete",
    num_rejected: int = 2,
    persona: bool = False,
) -> Path:
    """Generates a run folder with the real runner: `num_dialogues` accepted dialogues after `num_rejected` refusals.

    Args:
        persona: Condition the prompts on personas (the run's config is then `<benchmark>_<mode>_persona`).
        status: A status other than `complete` is set on the finished run's manifest (through the typed manifest),
            to test what reads runs that did not finish.
    """
    bench = get_benchmark(benchmark)
    config = GenerationConfig(
        benchmark=str(benchmark),
        mode=mode,
        num_dialogues=num_dialogues,
        seed=seed,
        output_dir=str(run_dir),
        constrained=False,
        progress=False,
        top_p=0.95,
        max_attempts=num_rejected + 1,
        persona=persona,
    )
    backend = BenchmarkScriptedBackend(bench, num_rejected=num_rejected)
    summary = run_generation(config, backend=backend, log=lambda message: None)
    if (summary.accepted, summary.rejected) != (num_dialogues, num_rejected):
        raise AssertionError(f"the scripted run made {summary}, not {num_dialogues} + {num_rejected} rejections")
    if status != RunStatus.COMPLETE.value:
        write_manifest(run_dir, dataclasses.replace(read_manifest(run_dir), status=RunStatus(status)))
    return run_dir


def write_synthetic_dataset(
    folder: str | Path,
    benchmark: str | Benchmark = "meld",
    *,
    modes: tuple[str, ...] = ("natural", "balanced"),
    dialogues: dict[str, int] | None = None,
    labels: list[str] | None = None,
    seed: int = 0,
) -> Path:
    """A synthetic dataset folder made by the real build from scripted runs (one run per mode).

    Args:
        folder: The dataset folder (`datasets.load_dataset(folder, "<benchmark>_<mode>")`).
        benchmark: Whose labels and speakers the dialogues use.
        modes: One config per mode.
        dialogues: Dialogues per split, over the default 12/4/4 (`{"test": 40}` changes the test split only).
        labels: Other label names for the `emotions` column after the build (same number of labels), to test that a
            dataset whose label space differs from its benchmark's is refused.
        seed: Seed of the runs and of the split.
    """
    import tempfile

    from erc_synth_datasets.build import BuildConfig, build_dataset
    from erc_synth_datasets.vocabulary import SPLITS

    bench = get_benchmark(benchmark)
    sizes = {"train": 12, "validation": 4, "test": 4, **(dialogues or {})}
    total = sum(sizes[split] for split in SPLITS)
    ratios = ",".join(repr(sizes[split] / total) for split in SPLITS)
    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix="erc-synth-runs-") as runs_root:
        runs = [
            write_run(Path(runs_root) / mode, bench.name, mode, num_dialogues=total, seed=seed + i, num_rejected=0)
            for i, mode in enumerate(modes)
        ]
        result = build_dataset(runs, BuildConfig(output_dir=str(folder), split_ratios=ratios, split_seed=seed))
    if labels is not None:
        for built in result.configs:
            _relabel(folder, built.name, list(labels))
    return folder


def _relabel(folder: Path, config: str, labels: list[str]) -> None:
    """Renames the `emotions` classes of one built config, in its Parquet files and in the card's features."""
    from datasets import ClassLabel, Dataset, List
    from huggingface_hub import DatasetCard

    for path in sorted((folder / config).glob("*.parquet")):
        dataset = Dataset.from_parquet(str(path)).cast_column("emotions", List(ClassLabel(names=labels)))
        dataset.to_parquet(str(path))
    card = DatasetCard.load(folder / "README.md")
    infos = card.data.dataset_info
    for info in infos if isinstance(infos, list) else [infos]:
        if info.get("config_name") != config:
            continue
        for feature in info["features"]:
            if feature["name"] == "emotions":
                feature["list"]["class_label"]["names"] = {str(i): name for i, name in enumerate(labels)}
    card.save(folder / "README.md")
