"""Weighted F1 and training throughput of the erc-synth classifiers against plain baselines, all in one run.

On the same MELD train utterances and the same test utterances:

- `majority` and `tfidf_lr` (trainers/baselines.py);
- the plain `AutoModelForSequenceClassification` + `Trainer` script, on the utterance alone (`Speaker: utterance`)
  and on the pair (context turns joined by the separator token, `Speaker: target`), left truncation, longest first;
- ours: `erc-synth train` (`run_protocol`) for each `--architectures` entry, same backbone, epochs, learning rate,
  batch size and maximum length; no validation during training, the model after the last step is tested; for
  `context` also without any context (`max_context_turns=0`), so the table shows what the context adds.

Prints one row per system (weighted F1 in percent, training time, training utterances/s) and writes them as JSON.
Defaults are the full protocol (all 9,989 MELD train utterances, all 2,610 test utterances, one epoch); `--max_train`
and `--max_test` cut both sides the same way for runs that must fit a time budget.

    OMP_NUM_THREADS=1 python benchmarks/bench_classifiers.py --output /tmp/bench_classifiers.json   # 1 torch thread
    python benchmarks/bench_classifiers.py --max_train 1500 --max_test 600 --architectures context
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erc_synth_datasets.errors import reports_errors  # noqa: E402 (after the path)


def _first_dialogues(dialogues, utterances: int | None):
    """The first dialogues holding at least `utterances` utterances (all of them for None)."""
    if utterances is None:
        return dialogues
    total, n = 0, 0
    while total < utterances and n < len(dialogues):
        total, n = total + len(dialogues[n]["emotions"]), n + 1
    return dialogues.select(range(n))


def _plain(train, test, labels, args, *, pair: bool) -> dict:
    """The plain script: `AutoModelForSequenceClassification` + `Trainer`, random batches, no custom code."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from erc_synth_datasets.schema import flatten_dialogues
    from trainers.metrics import compute_scores
    from trainers.models.base import resolve_backbone

    path = resolve_backbone(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path, truncation_side="left")
    separator = f" {tokenizer.sep_token} "

    def encode(dialogues):
        rows = flatten_dialogues(dialogues)
        targets = [f"{s}: {u}" for s, u in zip(rows["speaker"], rows["utterance"], strict=True)]
        if pair:
            contexts = [
                separator.join(f"{s}: {u}" for s, u in zip(ss, us, strict=True))
                for ss, us in zip(rows["context_speakers"], rows["context_utterances"], strict=True)
            ]
            encoded = [
                tokenizer(c, t, truncation="longest_first", max_length=args.max_length)
                if c
                else tokenizer(t, truncation=True, max_length=args.max_length)
                for c, t in zip(contexts, targets, strict=True)
            ]
        else:
            encoded = [tokenizer(t, truncation=True, max_length=args.max_length) for t in targets]
        return [{**dict(e), "labels": y} for e, y in zip(encoded, rows["emotion"], strict=True)]

    set_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    train_rows, test_rows = encode(train), encode(test)
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out,
            num_train_epochs=args.epochs,
            learning_rate=args.learning_rate,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=64,
            warmup_steps=0.06,
            save_strategy="no",
            eval_strategy="no",
            report_to=[],
            disable_tqdm=True,
            seed=args.seed,
            use_cpu=not torch.cuda.is_available(),
        )
        trainer = Trainer(
            model=model, args=training_args, train_dataset=train_rows, data_collator=DataCollatorWithPadding(tokenizer)
        )
        started = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - started
        logits = trainer.predict(test_rows).predictions
    scores = compute_scores(logits.argmax(-1), [r["labels"] for r in test_rows], labels)
    return {"weighted_f1": scores["weighted_f1"], "train_s": train_s, "utterances_per_s": len(train_rows) / train_s}


def _ours(architecture: str, n_dialogues: int, args, *, max_context_turns: int | None = None) -> dict:
    from trainers.config import DataArguments, ModelArguments
    from trainers.protocol import run_protocol
    from trainers.training_args import ErcTrainingArguments

    with tempfile.TemporaryDirectory() as out:
        results = run_protocol(
            ModelArguments(
                architecture=architecture,
                model_name_or_path=args.model,
                max_length=args.max_length,
                pooling=args.pooling,
                target_position=args.target_position,
                max_context_turns=max_context_turns,
            ),
            DataArguments(
                data_dir=args.data_dir,
                max_train_dialogues=n_dialogues,
                max_eval_dialogues=1,
                max_eval_utterances=args.max_test,
            ),
            ErcTrainingArguments(
                output_dir=out,
                num_train_epochs=args.epochs,
                learning_rate=args.learning_rate,
                per_device_train_batch_size=args.batch_size,
                per_device_eval_batch_size=64,
                warmup_steps=0.06,
                eval_strategy="no",
                save_strategy="no",
                load_best_model_at_end=False,
                save_final_model=False,
                report_to=[],
                disable_tqdm=True,
                seed=args.seed,
            ),
        )
    stage = results["stages"][-1]
    return {
        "weighted_f1": results["test"]["meld_real"]["weighted_f1"],
        "train_s": stage["train_runtime_s"],
        "utterances_per_s": stage["train_utterances"] * args.epochs / stage["train_runtime_s"],
        "test_utterances": results["test"]["meld_real"]["num_utterances"],
    }


@reports_errors("bench_classifiers.py")
def main(argv: list[str] | None = None) -> int:
    from trainers.config import ModelArguments

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "meld"))
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="Backbone.")
    parser.add_argument("--max_train", type=int, default=None, help="First MELD train dialogues with >= N utterances.")
    parser.add_argument("--max_test", type=int, default=None, help="First N MELD test utterances (default: all).")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--architectures", nargs="*", default=["context", "compm", "emoone"])
    parser.add_argument("--pooling", default=ModelArguments.pooling, help="Ours: first, mean or target_mean.")
    parser.add_argument("--context_turns", type=int, default=None, help="Ours: at most N context turns (all).")
    parser.add_argument("--target_position", default=ModelArguments.target_position, help="Ours: last or first.")
    parser.add_argument("--skip_plain", action="store_true", help="Do not run the plain Trainer script.")
    parser.add_argument(
        "--skip_utterance_only",
        action="store_true",
        help="Do not run our context model without context (max_context_turns=0), the ablation of the context.",
    )
    parser.add_argument("--output", default=None, help="Write the rows as JSON here.")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from erc_synth_datasets import load_benchmark
    from trainers.baselines import fit_baselines, score_baselines
    from trainers.data import head_utterances

    real = load_benchmark("meld", args.data_dir)
    labels = list(real["train"].features["emotions"].feature.names)
    train = _first_dialogues(real["train"], args.max_train)
    test = real["test"] if args.max_test is None else head_utterances(real["test"], args.max_test)
    n_train = sum(len(e) for e in train["emotions"])
    n_test = sum(len(e) for e in test["emotions"])
    print(f"MELD: {n_train} train utterances ({len(train)} dialogues), {n_test} test utterances", flush=True)

    rows: dict[str, dict] = {}
    for name, scores in score_baselines(fit_baselines(train, seed=args.seed), test, labels).items():
        rows[name] = {"weighted_f1": scores["weighted_f1"]}
    if not args.skip_plain:
        for name, pair in (("plain Trainer, utterance", False), ("plain Trainer, (context, target) pair", True)):
            rows[name] = _plain(train, test, labels, args, pair=pair)
            print(name, rows[name], flush=True)
    for architecture in args.architectures:
        rows[f"erc-synth {architecture}"] = _ours(architecture, len(train), args, max_context_turns=args.context_turns)
        print(architecture, rows[f"erc-synth {architecture}"], flush=True)
        if architecture == "context" and not args.skip_utterance_only:
            name = "erc-synth context, utterance only"
            rows[name] = _ours(architecture, len(train), args, max_context_turns=0)
            print(name, rows[name], flush=True)

    print(
        f"\nbackbone={args.model} epochs={args.epochs} lr={args.learning_rate} batch={args.batch_size} "
        f"max_length={args.max_length} seed={args.seed}; {n_train} train / {n_test} test utterances"
    )
    print(f"{'system':40s} {'weighted F1':>12s} {'train s':>9s} {'utt/s':>7s}")
    for name, row in rows.items():
        train_s = f"{row['train_s']:.0f}" if "train_s" in row else "-"
        speed = f"{row['utterances_per_s']:.1f}" if "utterances_per_s" in row else "-"
        print(f"{name:40s} {100 * row['weighted_f1']:12.2f} {train_s:>9s} {speed:>7s}")
    if args.output:
        settings = {k: v for k, v in vars(args).items() if k != "output"}
        payload = {"settings": settings, "train_utterances": n_train, "test_utterances": n_test, "rows": rows}
        Path(args.output).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
