"""Data for training: the real benchmark and synthetic configs (label space checked), encoded utterances, batches.

Every classifier reads one row per utterance (`flatten_dialogues`): the target utterance with its speaker, the
preceding turns as context (truncated from the left so the most recent turns survive), and for `compm` the earlier
utterances of the same speaker. Batches are padded to their longest row only (dynamic padding).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import ClassLabel, Dataset, DatasetDict

from erc_synth_datasets import load_benchmark
from erc_synth_datasets.benchmarks import Benchmark, builtin_benchmarks
from erc_synth_datasets.errors import bounded_message
from erc_synth_datasets.loaders.generic import GENERIC_FORMAT, data_files
from erc_synth_datasets.schema import flatten_dialogues
from erc_synth_datasets.stats import dataset_folder_configs, is_dataset_folder
from erc_synth_datasets.vocabulary import SPLITS

from .config import DataArguments, ModelArguments, check_synthetic_dataset
from .errors import LabelSpaceError, TrainingConfigError

__all__ = [
    "ErcDataCollator",
    "check_label_space",
    "count_utterances",
    "encode_dialogues",
    "head_utterances",
    "load_real",
    "load_synthetic",
]

logger = logging.getLogger(__name__)


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


def head_utterances(dialogues: Dataset, n: int) -> Dataset:
    """The first `n` utterances of a split in the dialogue schema: whole dialogues in order, the last one cut short
    (an utterance's context is the turns before it, so every kept utterance keeps its whole context)."""
    kept, total = 0, 0
    for emotions in dialogues["emotions"]:
        if total >= n:
            break
        kept, total = kept + 1, total + len(emotions)
    head = dialogues.select(range(kept))
    excess = total - n
    if excess <= 0:
        return head

    def cut_last(row: dict[str, Any], index: int) -> dict[str, Any]:
        if index == kept - 1:
            keep = len(row["emotions"]) - excess
            row = {key: row[key][:keep] for key in ("speakers", "utterances", "emotions")}
        return row

    return head.map(cut_last, with_indices=True, desc="Capping the test split")


def _cap_test(dataset: DatasetDict, data_args: DataArguments, source: str) -> dict[str, Any] | None:
    """Applies `max_eval_utterances` to the test split; returns what was cut (recorded in results.json), or None."""
    cap = data_args.max_eval_utterances
    total = count_utterances(dataset["test"])
    if cap is None or cap >= total:
        return None
    dataset["test"] = head_utterances(dataset["test"], cap)
    warnings.warn(
        f"{source}: scoring the test split on its first {cap} of {total} utterances (max_eval_utterances={cap}); "
        "these scores are a smoke test, not comparable with scores on the whole split.",
        stacklevel=3,
    )
    return {"max_eval_utterances": cap, "scored_utterances": count_utterances(dataset["test"]), "of": total}


def _fingerprint_files(folder: Path, files: list[Path] | None = None) -> str | None:
    """SHA-256 over the names (relative to `folder`) and contents of `files` (default: every file under `folder`)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if files is None else sorted(set(files))
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.relpath(path, folder).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_real(data_args: DataArguments, benchmark: Benchmark) -> tuple[DatasetDict, dict[str, Any]]:
    """The real benchmark's train/validation/test splits and a record of where they came from.

    A custom benchmark whose YAML has a `data:` section needs no `data_dir` (its files are found from the YAML).

    Raises:
        TrainingConfigError: `data_dir` is unset (and the benchmark names no files) or not a folder.
    """

    if data_args.data_dir is None and benchmark.data is not None:
        source = benchmark.data.base_dir
    elif data_args.data_dir is not None and Path(data_args.data_dir).is_dir():
        source = Path(data_args.data_dir)
    else:
        raise TrainingConfigError(
            f"data_dir must be the folder of the real {benchmark.display_name} files, but got "
            f"data_dir={data_args.data_dir!r}; set data_dir in the config or with --data_dir (a custom benchmark "
            "can name its files in the `data:` section of its YAML instead)."
        )
    dataset, report = load_benchmark(benchmark, data_args.data_dir, format=data_args.data_format, return_report=True)
    for split, ds in dataset.items():
        check_label_space(ds, benchmark, f"The real {benchmark.display_name} {split} split")
    read = None  # the release loaders: the whole folder
    if data_args.data_format == GENERIC_FORMAT or benchmark.name not in builtin_benchmarks():
        read = [path for paths in data_files(benchmark, data_args.data_dir).values() for path in paths]
    revision = {
        "source": str(source.resolve()),
        "format": data_args.data_format,
        "files": dict(report.files),
        "sha256": _fingerprint_files(source, read),
        "num_utterances": {split: count_utterances(ds) for split, ds in dataset.items()},
    }
    cut = _cap_test(dataset, data_args, f"The real {benchmark.display_name} data")
    if cut is not None:
        revision["test_cut"] = cut
    return dataset, revision


def _check_synthetic_folder(source: str | None, config_name: str) -> None:
    """Refuses, before `load_dataset`, a synthetic dataset that is not a folder built by `erc-synth build` holding
    `config_name` (a Hub id is left to the Hub)."""
    check_synthetic_dataset(source)
    folder = Path(str(source)).expanduser()
    if not folder.is_dir():
        return
    if not is_dataset_folder(folder):
        raise TrainingConfigError(
            f"synthetic_dataset {str(source)!r} is not a dataset folder built by `erc-synth build` (it has no "
            "README.md dataset card); give the folder `erc-synth build --output-dir` wrote."
        )
    configs = dataset_folder_configs(folder)
    if config_name not in configs:
        raise TrainingConfigError(
            f"synthetic_dataset {str(source)!r} has the configs {configs}, not {config_name!r}; build it from a run "
            "of that benchmark and mode, or choose one of those."
        )


def load_synthetic(data_args: DataArguments, config_name: str, benchmark: Benchmark) -> tuple[DatasetDict, dict]:
    """A synthetic config (`<benchmark>_<natural|balanced>`) with train/validation/test, label space checked."""
    from datasets import load_dataset

    if not config_name.startswith(f"{benchmark.name}_"):
        raise TrainingConfigError(
            f"Synthetic config {config_name!r} does not belong to benchmark {benchmark.name!r}; expected a config "
            f"named {benchmark.name}_natural or {benchmark.name}_balanced."
        )
    _check_synthetic_folder(data_args.synthetic_dataset, config_name)
    try:
        dataset = load_dataset(data_args.synthetic_dataset, config_name, revision=data_args.synthetic_revision)
    except (FileNotFoundError, ValueError, ConnectionError) as err:  # a Hub id not cached offline, not found, ...
        raise TrainingConfigError(
            f"synthetic_dataset {data_args.synthetic_dataset!r} (config {config_name!r}) cannot be loaded: "
            f"{bounded_message(str(err), 300)}"
        ) from None
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
    dataset = DatasetDict({split: dataset[split] for split in SPLITS})
    cut = _cap_test(dataset, data_args, f"Synthetic config {config_name!r}")
    if cut is not None:
        revision["test_cut"] = cut
    return dataset, revision


def _turn_text(speaker: str, utterance: str) -> str:
    return f"{speaker}: {utterance}" if speaker else utterance


def _sequence_mask(encoding: Any, row: int, sequence: int) -> list[int]:
    """1 at the tokens of the `sequence`-th text of row `row` of a batch encoding, 0 elsewhere (special tokens)."""
    return [int(s == sequence) for s in encoding.sequence_ids(row)]


def _encode_batch(batch: dict[str, list], tokenizer: Any, args: ModelArguments, with_memory: bool) -> dict:
    separator = f" {tokenizer.sep_token} " if tokenizer.sep_token else " "
    targets = [_turn_text(s, u) for s, u in zip(batch["speaker"], batch["utterance"], strict=True)]
    contexts = [
        separator.join(_turn_text(s, u) for s, u in zip(speakers, utterances, strict=True))
        for speakers, utterances in zip(batch["context_speakers"], batch["context_utterances"], strict=True)
    ]
    # Only the context is ever truncated (from the left: its oldest tokens go first); the target utterance is kept
    # whole. A row is encoded as the pair when its target leaves room for some context, else as the target alone.
    target_lengths = [len(ids) for ids in tokenizer(targets, add_special_tokens=False)["input_ids"]]
    room = args.max_length - tokenizer.num_special_tokens_to_add(pair=True)
    with_context = [i for i, c in enumerate(contexts) if c and target_lengths[i] < room]
    paired = set(with_context)
    alone = [i for i in range(len(targets)) if i not in paired]
    encoded: list[dict[str, list[int]] | None] = [None] * len(targets)
    kwargs = {"max_length": args.max_length}
    if with_context:
        context_texts, target_texts = [contexts[i] for i in with_context], [targets[i] for i in with_context]
        if args.target_position == "first":
            pairs = tokenizer(target_texts, context_texts, truncation="only_second", **kwargs)
        else:
            pairs = tokenizer(context_texts, target_texts, truncation="only_first", **kwargs)
        target_sequence = 0 if args.target_position == "first" else 1
        for j, i in enumerate(with_context):
            encoded[i] = {key: values[j] for key, values in pairs.items()}
            encoded[i]["target_mask"] = _sequence_mask(pairs, j, target_sequence)
    if alone:
        singles = tokenizer([targets[i] for i in alone], truncation=True, **kwargs)
        for j, i in enumerate(alone):
            encoded[i] = {key: values[j] for key, values in singles.items()}
            encoded[i]["target_mask"] = _sequence_mask(singles, j, 0)
    out: dict[str, list] = {key: [row[key] for row in encoded] for key in encoded[0]}
    out["labels"] = list(batch["emotion"])
    out["length"] = [len(ids) for ids in out["input_ids"]]
    # A derived config (relabelled or curated): soft targets and curation weights per utterance.
    if "label_probs" in batch:
        out["target_probs"] = list(batch["label_probs"])
    if "label_weight" in batch:
        out["sample_weight"] = list(batch["label_weight"])
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
    """One encoded row per utterance: `input_ids`, `attention_mask` (+ `token_type_ids`), `target_mask` (1 at the
    target utterance's tokens), `labels`, `length`; for a derived config also `target_probs` (its soft label) and
    `sample_weight` (0 for an utterance curation dropped).

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
    """Pads a batch to its longest row (and the speaker memories of `compm` and the knowledge sentences of `todkat`
    to `(batch, sequences, length)`).

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
        for key, pad in (
            ("input_ids", self.pad_token_id),
            ("attention_mask", 0),
            ("token_type_ids", 0),
            ("target_mask", 0),
        ):
            if key in features[0]:
                batch[key] = torch.tensor([f[key] + [pad] * (width - len(f[key])) for f in features])
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        for key in ("target_probs", "sample_weight"):  # derived configs and the joint protocol
            if key in features[0]:
                batch[key] = torch.tensor([f[key] for f in features], dtype=torch.float)
        if "soft_labels" in features[0]:
            batch["soft_labels"] = torch.tensor([f["soft_labels"] for f in features], dtype=torch.float)
        # Lists of token sequences per row: the speaker memory (compm), the knowledge sentences (todkat).
        for name in ("memory", "knowledge"):
            if f"{name}_input_ids" in features[0]:
                batch[f"{name}_input_ids"], batch[f"{name}_attention_mask"] = self._pad_nested(
                    [f[f"{name}_input_ids"] for f in features]
                )
        return batch

    def _pad_nested(self, rows: list[list[list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, sequences, length)` ids and mask; a row's missing sequences are all padding."""
        turns = max(len(row) for row in rows)
        length = self._width(max([len(u) for row in rows for u in row] or [1]))
        ids = torch.full((len(rows), turns, length), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), turns, length), dtype=torch.long)
        for i, row in enumerate(rows):
            for j, sequence in enumerate(row):
                ids[i, j, : len(sequence)] = torch.tensor(sequence)
                mask[i, j, : len(sequence)] = 1
        return ids, mask
