"""TODKAT beside `context` and the floor baselines on real MELD, and the cost and reuse of its knowledge.

In one run, on the same data and CPU budget:
1. Knowledge for every utterance of the MELD splits used, from the given generator (default: the offline stand-in,
   a tiny random BART whose knowledge is noise), into an empty cache: generation and selection time; then the same
   lookups again: hit rate and time.
2. `context` and `todkat` on all-MiniLM-L6-v2, each trained for at most `--train_seconds` on the train split (the
   same settings otherwise), selected on the validation split, scored on the test split.
3. The majority class and TF-IDF (1-2 grams) + logistic regression on the target utterance (scikit-learn), scored
   by the same metric code on the same test utterances.

Prints one table of weighted F1 and the knowledge figures, and writes them as JSON with `--output`.

    nice -n 10 python benchmarks/bench_todkat.py --train_seconds 300 --max_train_dialogues 400
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


def _baselines(train, test, labels: list[str]) -> dict[str, float]:
    """Majority class and TF-IDF + logistic regression on the target utterance, weighted F1 on `test`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from erc_synth_datasets.schema import flatten_dialogues
    from trainers.metrics import compute_scores

    train_rows, test_rows = flatten_dialogues(train), flatten_dialogues(test)
    counts = [0] * len(labels)
    for label in train_rows["emotion"]:
        counts[label] += 1
    majority = [counts.index(max(counts))] * len(test_rows)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform(train_rows["utterance"])
    classifier = LogisticRegression(C=10, max_iter=2000).fit(features, train_rows["emotion"])
    tfidf = classifier.predict(vectorizer.transform(test_rows["utterance"]))
    return {
        "majority": compute_scores(majority, test_rows["emotion"], labels)["weighted_f1"],
        "tfidf_logreg": compute_scores(list(tfidf), test_rows["emotion"], labels)["weighted_f1"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA), help="Folder of the real MELD files.")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="Backbone of both models.")
    parser.add_argument("--knowledge_model", default=None, help="Seq2seq generator (default: the offline stand-in).")
    parser.add_argument("--knowledge_max_new_tokens", type=int, default=8, help="Tokens per generated tail.")
    parser.add_argument("--train_seconds", type=float, default=300, help="Training budget of each model.")
    parser.add_argument("--max_train_dialogues", type=int, default=None, help="First N train dialogues (all: None).")
    parser.add_argument("--max_eval_dialogues", type=int, default=100, help="First N validation dialogues.")
    parser.add_argument("--max_eval_utterances", type=int, default=None, help="First N test utterances (all: None).")
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--output", default=None, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from erc_synth_datasets import get_benchmark, load_benchmark
    from trainers.config import DataArguments, ErcTrainingArguments, ModelArguments
    from trainers.data import head_utterances
    from trainers.knowledge import KnowledgeSettings, get_generator, make_standin_generator
    from trainers.protocol import run_protocol

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
    figures["baselines"] = _baselines(train, test, list(meld.labels))

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
            num_train_epochs=1,
            learning_rate=5e-5,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=64,
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
            "wall_seconds": time.perf_counter() - began,
        }
    figures["models"] = scores
    figures["knowledge"]["training_run"] = get_generator(settings).stats.as_dict()

    k = figures["knowledge"]
    print(f"\nMELD, {args.model}, training budget {args.train_seconds:.0f} s per model, {figures['threads']} threads")
    print("| model | weighted F1 | train steps | train s | test utterances |\n|---|---:|---:|---:|---:|")
    for name, s in scores.items():
        print(
            f"| {name} | {100 * s['weighted_f1']:.2f} | {s['train_steps']} | {s['train_seconds']:.0f} | "
            f"{s['test_utterances']} |"
        )
    for name, value in figures["baselines"].items():
        print(f"| {name} | {100 * value:.2f} | - | - | {scores['context']['test_utterances']} |")
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
