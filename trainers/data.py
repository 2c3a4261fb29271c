"""Data for training: the real benchmark and synthetic configs (label space checked), encoded utterances, batches.

Every classifier reads one row per utterance (`flatten_dialogues`): the target utterance with its speaker, the
preceding turns as context (truncated from the left so the most recent turns survive), and for `compm` the earlier
utterances of the same speaker. Batches are padded to their longest row only (dynamic padding).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import ClassLabel, Dataset, DatasetDict

from erc_synth_datasets.benchmarks import Benchmark
from erc_synth_datasets.schema import flatten_dialogues

from .config import DataArguments, ModelArguments
from .errors import LabelSpaceError, TrainingConfigError

__all__ = [
    "ErcDataCollator",
    "check_label_space",
    "count_utterances",
    "encode_dialogues",
    "load_real",
    "load_synthetic",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def check_label_space(dataset: Dataset, benchmark: Benchmark, source: str) -> None:
    """Refuses a dataset whose `emotions` ClassLabel is not the benchmark's labels in canonical order.

    Raises:
        LabelSpaceError: the names (or their order) differ; the message lists both.
    """
    feature = dataset.features.get("emotions")
    names = list(getattr(getattr(feature, "feature", None), "names", []) or [])
    if not isinstance(getattr(feature, "feature", None), ClassLabel):
        raise LabelSpaceError(
            f"{source} has no 'emotions' list of ClassLabel (the dialogue schema); got features={dataset.features}."
        )
    if names != list(benchmark.labels):
        raise LabelSpaceError(
            f"{source} has labels {names}, but {benchmark.display_name} has {list(benchmark.labels)} (canonical "
            f"order). Synthetic and real data must share the benchmark's label names; use a dataset built for "
            f"{benchmark.name!r} (config {benchmark.name}_natural or {benchmark.name}_balanced)."
        )


def count_utterances(dialogues: Dataset) -> int:
    """Utterances in a split of the dialogue schema."""
    return sum(len(emotions) for emotions in dialogues["emotions"])


def _fingerprint_files(folder: Path) -> str | None:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_real(data_args: DataArguments, benchmark: Benchmark) -> tuple[DatasetDict, dict[str, Any]]:
    """The real benchmark's train/validation/test splits and a record of where they came from.

    Raises:
        TrainingConfigError: `data_dir` is unset or not a folder.
    """
    from erc_synth_datasets import load_benchmark

    if data_args.data_dir is None or not Path(data_args.data_dir).is_dir():
        raise TrainingConfigError(
            f"data_dir must be the folder of the real {benchmark.display_name} files, but got "
            f"data_dir={data_args.data_dir!r}; set data_dir in the config or with --data_dir."
        )
    dataset = load_benchmark(benchmark, data_args.data_dir, format=data_args.data_format)
    for split, ds in dataset.items():
        check_label_space(ds, benchmark, f"The real {benchmark.display_name} {split} split")
    revision = {
        "source": str(Path(data_args.data_dir).resolve()),
        "format": data_args.data_format,
        "sha256": _fingerprint_files(Path(data_args.data_dir)),
        "num_utterances": {split: count_utterances(ds) for split, ds in dataset.items()},
    }
    return dataset, revision


def load_synthetic(data_args: DataArguments, config_name: str, benchmark: Benchmark) -> tuple[DatasetDict, dict]:
    """A synthetic config (`<benchmark>_<natural|balanced>`) with train/validation/test, label space checked."""
    from datasets import load_dataset

    if not config_name.startswith(f"{benchmark.name}_"):
        raise TrainingConfigError(
            f"Synthetic config {config_name!r} does not belong to benchmark {benchmark.name!r}; expected a config "
            f"named {benchmark.name}_natural or {benchmark.name}_balanced."
        )
    dataset = load_dataset(data_args.synthetic_dataset, config_name, revision=data_args.synthetic_revision)
    missing = [split for split in SPLITS if split not in dataset]
    if missing:
        raise TrainingConfigError(
            f"Synthetic config {config_name!r} of {data_args.synthetic_dataset!r} lacks the splits {missing}; it has "
            f"{list(dataset)}. Rebuild it with `erc-synth build`, which writes train, validation and test."
        )
    for split in SPLITS:
        check_label_space(dataset[split], benchmark, f"Synthetic config {config_name!r} ({split} split)")
    local = Path(data_args.synthetic_dataset)
    revision = {
        "source": data_args.synthetic_dataset,
        "config": config_name,
        "revision": data_args.synthetic_revision,
        "sha256": _fingerprint_files(local / config_name) if (local / config_name).is_dir() else None,
        "fingerprints": {split: dataset[split]._fingerprint for split in SPLITS},
        "num_utterances": {split: count_utterances(dataset[split]) for split in SPLITS},
    }
    return DatasetDict({split: dataset[split] for split in SPLITS}), revision


def _turn_text(speaker: str, utterance: str) -> str:
    return f"{speaker}: {utterance}" if speaker else utterance


def _encode_batch(batch: dict[str, list], tokenizer: Any, args: ModelArguments, with_memory: bool) -> dict:
    separator = f" {tokenizer.sep_token} " if tokenizer.sep_token else " "
    targets = [_turn_text(s, u) for s, u in zip(batch["speaker"], batch["utterance"], strict=True)]
    contexts = [
        separator.join(_turn_text(s, u) for s, u in zip(speakers, utterances, strict=True))
        for speakers, utterances in zip(batch["context_speakers"], batch["context_utterances"], strict=True)
    ]
    # Rows without context are encoded alone; the others as the pair (context, target). With truncation_side="left"
    # and "longest_first", the context loses its oldest tokens first.
    with_context = [i for i, c in enumerate(contexts) if c]
    alone = [i for i, c in enumerate(contexts) if not c]
    encoded: list[dict[str, list[int]] | None] = [None] * len(targets)
    kwargs = {"truncation": "longest_first", "max_length": args.max_length}
    if with_context:
        pairs = tokenizer([contexts[i] for i in with_context], [targets[i] for i in with_context], **kwargs)
        for j, i in enumerate(with_context):
            encoded[i] = {key: values[j] for key, values in pairs.items()}
    if alone:
        singles = tokenizer([targets[i] for i in alone], **kwargs)
        for j, i in enumerate(alone):
            encoded[i] = {key: values[j] for key, values in singles.items()}
    out: dict[str, list] = {key: [row[key] for row in encoded] for key in encoded[0]}
    out["labels"] = list(batch["emotion"])
    out["length"] = [len(ids) for ids in out["input_ids"]]
    if with_memory:
        out["memory_input_ids"] = []
        for speaker, speakers, utterances in zip(
            batch["speaker"], batch["context_speakers"], batch["context_utterances"], strict=True
        ):
            own = [u for s, u in zip(speakers, utterances, strict=True) if s == speaker]
            if args.memory_max_turns is not None:
                own = own[len(own) - args.memory_max_turns :] if args.memory_max_turns else []
            memory = tokenizer(own, truncation=True, max_length=args.memory_max_length)["input_ids"] if own else []
            out["memory_input_ids"].append(memory)
    return out


def encode_dialogues(
    dialogues: Dataset, tokenizer: Any, args: ModelArguments, *, with_memory: bool = False
) -> Dataset:
    """One encoded row per utterance: `input_ids`, `attention_mask` (+ `token_type_ids`), `labels`, `length`.

    Args:
        dialogues: A split in the dialogue schema.
        tokenizer: The backbone's tokenizer, with `truncation_side="left"`.
        args: `max_length`, `max_context_turns` and the memory limits.
        with_memory: Also build `memory_input_ids`: the same speaker's earlier utterances, oldest first (compm).
    """
    if tokenizer.truncation_side != "left":
        raise TrainingConfigError(
            "The tokenizer must truncate from the left so that the oldest context goes first; load it with "
            f"AutoTokenizer.from_pretrained(..., truncation_side='left'), but got {tokenizer.truncation_side!r}."
        )
    rows = flatten_dialogues(dialogues, max_context=args.max_context_turns)
    return rows.map(
        _encode_batch,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer, "args": args, "with_memory": with_memory},
        remove_columns=rows.column_names,
        desc="Encoding utterances",
    )


@dataclass
class ErcDataCollator:
    """Pads a batch to its longest row (and, for `compm`, the speaker memories to `(batch, turns, length)`).

    Args:
        pad_token_id: The tokenizer's padding id.
        pad_to_multiple_of: Round padded lengths up to a multiple of this (8 suits tensor cores), or None.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def _width(self, longest: int) -> int:
        m = self.pad_to_multiple_of
        return longest if not m else -(-longest // m) * m

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = self._width(max(len(f["input_ids"]) for f in features))
        batch: dict[str, torch.Tensor] = {}
        for key, pad in (("input_ids", self.pad_token_id), ("attention_mask", 0), ("token_type_ids", 0)):
            if key in features[0]:
                batch[key] = torch.tensor([f[key] + [pad] * (width - len(f[key])) for f in features])
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        if "soft_labels" in features[0]:
            batch["soft_labels"] = torch.tensor([f["soft_labels"] for f in features], dtype=torch.float)
        if "memory_input_ids" in features[0]:
            turns = max(len(f["memory_input_ids"]) for f in features)
            length = self._width(max([len(u) for f in features for u in f["memory_input_ids"]] or [1]))
            ids = torch.full((len(features), turns, length), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(features), turns, length), dtype=torch.long)
            for i, f in enumerate(features):
                for j, utterance in enumerate(f["memory_input_ids"]):
                    ids[i, j, : len(utterance)] = torch.tensor(utterance)
                    mask[i, j, : len(utterance)] = 1
            batch["memory_input_ids"], batch["memory_attention_mask"] = ids, mask
        return batch
