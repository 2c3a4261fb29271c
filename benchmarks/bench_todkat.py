"""TODKAT beside `context` and the floor baselines on real MELD, and the cost and reuse of its knowledge.

In one run, on the same data and CPU budget:
1. Knowledge for every utterance of the MELD splits used, from the given generator (default: the offline stand-in,
   a tiny random BART whose knowledge is noise), into an empty cache: generation and selection time; then the same
   lookups again: hit rate and time.
2. `context` and `todkat` on all-MiniLM-L6-v2 with the same settings: by default the budget of
   `bench_classifiers.py` (all MELD train, one epoch, lr 5e-5, batch 16, max length 64, no selection, the model after
   the last step scored on all of MELD test); `--train_seconds` caps each run for a machine that cannot afford that.
3. The floor baselines of `trainers/baselines.py` (majority class, TF-IDF + logistic regression), scored by the same
   metric code on the same test utterances.

Prints one table of weighted F1 and the knowledge figures, and writes them as JSON with `--output`.

    OMP_NUM_THREADS=2 python benchmarks/bench_todkat.py --output /tmp/bench_todkat.json
    nice -n 10 python benchmarks/bench_todkat.py --train_seconds 300 --max_train_dialogues 400   # a short run
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

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meld"


def _knowledge_figures(dialogues, settings) -> dict:
    """Cold then warm lookups of every utterance of `dialogues` (a list of splits) into the settings' cache."""
    from erc_synth_datasets.schema import flatten_dialogues
    from trainers.knowledge import KnowledgeGenerator

    texts = [t for split in dialogues for t in flatten_dialogues(split)["utterance"]]
    cold = KnowledgeGenerator(settings)
    began = time.perf_counter()
    cold(texts)
    cold_seconds = time.perf_counter() - began
    warm = KnowledgeGenerator(settings)
    began = time.perf_counter()
    warm(texts)
    return {
        "utterances": len(texts),
        "unique_utterances": cold.stats.generated,
        "cold_seconds": cold_seconds,
        "generation_seconds": cold.stats.generation_seconds,
        "selection_seconds": cold.stats.selection_seconds,
        "generation_ms_per_unique_utterance": 1000 * cold.stats.generation_seconds / max(cold.stats.generated, 1),
        "cold_hit_rate": cold.stats.hit_rate,
        "warm_seconds": time.perf_counter() - began,
        "warm_hit_rate": warm.stats.hit_rate,
        "warm_generated": warm.stats.generated,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA), help="Folder of the real MELD files.")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="Backbone of both models.")
    parser.add_argument("--knowledge_model", default=None, help="Seq2seq generator (default: the offline stand-in).")
    parser.add_argument("--knowledge_max_new_tokens", type=int, default=8, help="Tokens per generated tail.")
    parser.add_argument("--epochs", type=float, default=1.0, help="Training epochs of each model.")
    parser.add_argument("--train_seconds", type=float, default=None, help="Also cap each model's training time.")
    parser.add_argument("--max_train_dialogues", type=int, default=None, help="First N train dialogues (all: None).")
    parser.add_argument("--max_eval_dialogues", type=int, default=1, help="First N validation dialogues (unused).")
    parser.add_argument("--max_eval_utterances", type=int, default=None, help="First N test utterances (all: None).")
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--output", default=None, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from erc_synth_datasets import get_benchmark, load_benchmark
    from trainers.baselines import fit_baselines, score_baselines
    from trainers.config import DataArguments, ModelArguments
    from trainers.data import head_utterances
    from trainers.knowledge import KnowledgeSettings, get_generator, make_standin_generator
    from trainers.protocol import run_protocol
    from trainers.training_args import ErcTrainingArguments

    if not Path(args.data_dir).is_dir():
        print(f"Real MELD not found at {args.data_dir}; pass --data_dir.", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-todkat-"))
    knowledge_model = args.knowledge_model or make_standin_generator(work / "standin-comet")
    meld = get_benchmark("meld")
    real = load_benchmark(meld, args.data_dir)

    def head(split, n):
        return split if n is None else split.select(range(min(n, len(split))))

    train, validation = (
        head(real["train"], args.max_train_dialogues),
        head(real["validation"], args.max_eval_dialogues),
    )
    test = (
        real["test"] if args.max_eval_utterances is None else head_utterances(real["test"], args.max_eval_utterances)
    )
    common = {"model_name_or_path": args.model, "max_length": args.max_length}
    knowledge = {
        "knowledge_model_name_or_path": knowledge_model,
        "knowledge_cache_dir": str(work / "knowledge"),
        "knowledge_max_new_tokens": args.knowledge_max_new_tokens,
    }
    settings = KnowledgeSettings.from_model_args(ModelArguments(architecture="todkat", **common, **knowledge))

    figures: dict = {"threads": torch.get_num_threads(), "load_average": os.getloadavg()}
    figures["knowledge"] = _knowledge_figures([train, validation, test], settings)
    figures["baselines"] = {
        name: scores["weighted_f1"]
        for name, scores in score_baselines(fit_baselines(train, seed=42), test, list(meld.labels)).items()
    }

    scores = {}
    for architecture in ("context", "todkat"):
        model_args = ModelArguments(
            architecture=architecture, **common, **(knowledge if architecture == "todkat" else {})
        )
        data_args = DataArguments(
            benchmark="meld",
            data_dir=args.data_dir,
            max_train_dialogues=args.max_train_dialogues,
            max_eval_dialogues=args.max_eval_dialogues,
            max_eval_utterances=args.max_eval_utterances,
        )
        training_args = ErcTrainingArguments(
            output_dir=str(work / architecture),
            num_train_epochs=args.epochs,
            learning_rate=5e-5,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=64,
            warmup_steps=0.06,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            max_train_seconds=args.train_seconds,
            use_cpu=not torch.cuda.is_available(),
            save_final_model=False,
            disable_tqdm=True,
            report_to=[],
            seed=42,
        )
        began = time.perf_counter()
        results = run_protocol(model_args, data_args, training_args)
        stage = results["stages"][-1]
        scores[architecture] = {
            "weighted_f1": results["test"]["meld_real"]["weighted_f1"],
            "test_utterances": results["test"]["meld_real"]["num_utterances"],
            "train_steps": stage["global_step"],
            "train_seconds": stage["train_runtime_s"],
            "utterances_per_s": stage["train_utterances"] * args.epochs / stage["train_runtime_s"],
            "wall_seconds": time.perf_counter() - began,
        }
    figures["models"] = scores
    figures["knowledge"]["training_run"] = get_generator(settings).stats.as_dict()

    k = figures["knowledge"]
    cap = "" if args.train_seconds is None else f", at most {args.train_seconds:.0f} s"
    print(f"\nMELD, {args.model}, {args.epochs:g} epoch(s){cap} per model, {figures['threads']} threads")
    print("| model | weighted F1 | train steps | train s | train utt/s | test utterances |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in scores.items():
        print(
            f"| {name} | {100 * s['weighted_f1']:.2f} | {s['train_steps']} | {s['train_seconds']:.0f} | "
            f"{s['utterances_per_s']:.1f} | {s['test_utterances']} |"
        )
    for name, value in figures["baselines"].items():
        print(f"| {name} | {100 * value:.2f} | - | - | - | {scores['context']['test_utterances']} |")
    print(
        f"\nKnowledge ({Path(knowledge_model).name}): {k['utterances']} utterances, {k['unique_utterances']} unique; "
        f"cold run {k['cold_seconds']:.1f} s (generation {k['generation_seconds']:.1f} s = "
        f"{k['generation_ms_per_unique_utterance']:.1f} ms per unique utterance, selection "
        f"{k['selection_seconds']:.1f} s), hit rate {100 * k['cold_hit_rate']:.1f}%; "
        f"second run {k['warm_seconds']:.2f} s, hit rate {100 * k['warm_hit_rate']:.1f}%, "
        f"{k['warm_generated']} generated; inside the todkat run: hit rate "
        f"{100 * k['training_run']['hit_rate']:.1f}% of {k['training_run']['lookups']} lookups."
    )
    if args.output:
        Path(args.output).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
