"""Training throughput (utterances/s) of the erc-synth pipeline against the reference loop, same model, same run.

Baseline: how the reference CoMPM / EmoOne code trains: one utterance at a time (batch size 1), dialogue after
dialogue in order, tokenising the context on the fly, an optimizer step per utterance; for `compm` the frozen
memory encoder re-encodes the speaker's earlier utterances at every step (as the reference does).
Ours: `transformers.Trainer` with utterances encoded once (`datasets.map`), batches of `--batch_size` grouped by
length and padded to their longest row only.

Both train the same classifier class, from the same initial weights, on the same utterances, for one pass.
Prints utterances/s of each and the ratio ours / baseline.

    python benchmarks/bench_training.py --architecture compm --utterances 32 --max_length 64
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meld"


def _dialogues(data_dir: Path, utterances: int):
    """The first MELD train dialogues holding at least `utterances` utterances (invented ones without the data)."""
    if data_dir.is_dir():
        from erc_synth_datasets import load_benchmark

        train = load_benchmark("meld", data_dir)["train"]
        source = f"real MELD train ({data_dir})"
    else:
        from datasets import load_dataset

        # Scripted dialogues through the real runner and build (the tests' helper).
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from run_fixtures import write_synthetic_dataset

        folder = write_synthetic_dataset(Path(tempfile.mkdtemp()) / "synthetic", dialogues={"train": 200})
        train = load_dataset(str(folder), "meld_natural", split="train")
        source = "invented dialogues (real MELD not found)"
    total, n = 0, 0
    while total < utterances and n < len(train):
        total += len(train[n]["utterances"])
        n += 1
    return train.select(range(n)), source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", default="compm", choices=["context", "compm", "emoone"])
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="Backbone.")
    parser.add_argument(
        "--data_dir",
        type=Path,
        default=None,
        help="Real MELD files (default: ../shared/data/meld when present, else invented dialogues).",
    )
    parser.add_argument("--utterances", type=int, default=32, help="Utterances trained by each side.")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_length", type=int, default=64)
    args = parser.parse_args(argv)
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data_dir {str(args.data_dir)!r} is not an existing folder of the real MELD files.")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from transformers import AutoTokenizer, Trainer, set_seed

    from erc_synth_datasets.schema import flatten_dialogues
    from trainers.config import ModelArguments
    from trainers.data import ErcDataCollator, _encode_batch, encode_dialogues
    from trainers.models import build_model, get_model_class
    from trainers.models.base import resolve_backbone
    from trainers.training_args import ErcTrainingArguments

    model_args = ModelArguments(
        architecture=args.architecture, model_name_or_path=args.model, max_length=args.max_length
    )
    needs_memory = get_model_class(args.architecture).needs_memory
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(args.model), truncation_side="left")
    dialogues, source = _dialogues(args.data_dir or DEFAULT_DATA, args.utterances)
    collator = ErcDataCollator(pad_token_id=tokenizer.pad_token_id)
    set_seed(0)
    initial = build_model(model_args, 7).state_dict()

    # Baseline: the reference loop.
    set_seed(0)
    model = build_model(model_args, 7)
    model.load_state_dict(initial)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    rows = flatten_dialogues(dialogues)
    start = time.perf_counter()
    count = 0
    for row in rows:  # dialogue order, one utterance per step
        one = {key: [value] for key, value in row.items()}
        encoded = _encode_batch(one, tokenizer, model_args, needs_memory)
        batch = collator([{key: values[0] for key, values in encoded.items() if key != "length"}])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad()
        count += 1
    baseline_s = time.perf_counter() - start
    print(f"baseline: {count} utterances in {baseline_s:.1f} s", flush=True)

    # Ours: encode once, Trainer, batches grouped by length, dynamic padding.
    set_seed(0)
    model = build_model(model_args, 7)
    model.load_state_dict(initial)
    with tempfile.TemporaryDirectory() as out:
        training_args = ErcTrainingArguments(
            output_dir=out,
            num_train_epochs=1,
            per_device_train_batch_size=args.batch_size,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_pin_memory=False,
            max_grad_norm=10.0,
            use_cpu=not torch.cuda.is_available(),
        )
        start = time.perf_counter()
        train = encode_dialogues(dialogues, tokenizer, model_args, with_memory=needs_memory)
        trainer = Trainer(model=model, args=training_args, data_collator=collator, train_dataset=train)
        trainer.train()
        ours_s = time.perf_counter() - start
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"architecture={args.architecture} backbone={args.model} max_length={args.max_length} device={device}")
    print(f"data: {count} utterances, {len(dialogues)} dialogues of {source}")
    print(f"baseline (batch 1, one dialogue at a time): {count / baseline_s:.2f} utterances/s ({baseline_s:.1f} s)")
    print(
        f"ours (Trainer, batch {args.batch_size}, grouped, dynamic padding, encoding included): "
        f"{len(train) / ours_s:.2f} utterances/s ({ours_s:.1f} s)"
    )
    print(f"speed-up ours / baseline: {(len(train) / ours_s) / (count / baseline_s):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
