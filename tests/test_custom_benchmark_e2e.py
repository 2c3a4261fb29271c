"""A custom benchmark end to end, from a YAML written here to significance: generate natural and balanced runs with
the real runner (a small scripted backend, so the test is fast), build, `load_dataset` by config name, train with
all-MiniLM-L6-v2 (stage 1 on the synthetic config, stage 2 on the real files in the generic format), run an
experiment matrix (a tiny BERT, two runs) and test significance on its table. Everything written is named after
the custom benchmark."""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

import pytest
import yaml

from erc_synth.cli import main as cli_main
from generation.backends import Backend, GenerationRequest, GenerationResult, SamplingParams

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_custom_benchmark import FIXTURE, make_custom_benchmark  # noqa: E402

NAME = "ticket_kiosk"
FAST = [
    "--max_length", "48", "--num_train_epochs", "1", "--pretrain_num_train_epochs", "1",
    "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "64", "--learning_rate", "5e-5",
    "--disable_tqdm", "true", "--dataloader_pin_memory", "false", "--logging_steps", "1",
    "--save_final_model", "false", "--max_train_dialogues", "6",
]  # fmt: skip


class KioskScript(Backend):
    """Answers every request with a ticket-counter dialogue in the line format, one utterance per label (so that a
    balanced run's target emotion is always present), drawn from the request's seed."""

    name = "kiosk-script"

    def __init__(self) -> None:
        fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
        self.labels = fixture["labels"]
        self.lines: dict[str, list[str]] = {label: [] for label in self.labels}
        for dialogue in fixture["dialogues"]:
            for utterance, emotion in zip(dialogue["utterances"], dialogue["emotions"], strict=True):
                if utterance not in self.lines[emotion]:
                    self.lines[emotion].append(utterance)

    @property
    def model_name(self) -> str:
        return "kiosk-script"

    def load(self) -> None:
        return None

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[GenerationResult]:
        results = []
        for request in requests:
            rng = random.Random(request.seed)
            order = rng.sample(range(len(self.labels)), len(self.labels))
            lines = [
                f"{('Traveller', 'Clerk')[turn % 2]}: {rng.choice(self.lines[self.labels[i]])} ({i + 1})"
                for turn, i in enumerate(order)
            ]
            results.append(GenerationResult(text="\n".join(lines), prompt_tokens=10, completion_tokens=40))
        return results


def generate(benchmark: Path, mode: str, output: Path) -> Path:
    from generation.config import GenerationConfig
    from generation.runner import run_generation

    config = GenerationConfig(
        benchmark=str(benchmark), mode=mode, num_dialogues=12, output=str(output), seed=5, progress=False,
        constrained=False, batch_size=4,
    )  # fmt: skip
    summary = run_generation(config, backend=KioskScript(), log=lambda message: None)
    assert summary.status == "complete"
    return output


@pytest.mark.slow
def test_a_custom_benchmark_from_yaml_to_significance(tmp_path, capsys):
    from datasets import load_dataset

    from trainers.testing import make_tiny_encoder, minilm_path

    benchmark = make_custom_benchmark(tmp_path / "kiosk", "parquet")
    runs = [generate(benchmark, mode, tmp_path / "runs" / mode) for mode in ("natural", "balanced")]
    folder = tmp_path / "erc-synth"
    assert cli_main(["build", *map(str, runs), "--output-dir", str(folder)]) == 0
    natural = load_dataset(str(folder), f"{NAME}_natural")
    assert set(natural) == {"train", "validation", "test"}
    assert natural["train"].features["emotions"].feature.names == ["neutral", "pleased", "confused", "irritated"]
    assert sum(len(natural[split]) for split in natural) == 12

    # Train: stage 1 on the balanced config, stage 2 on the real files; a smoke run cuts the real test split.
    out = tmp_path / "train"
    argv = [
        "train", "--benchmark", str(benchmark), "--model_name_or_path", minilm_path(),
        "--synthetic_dataset", str(folder), "--pretrain_config", f"{NAME}_balanced",
        "--test_configs", f"{NAME}_natural", "--max_eval_utterances", "6", "--output_dir", str(out), *FAST,
    ]  # fmt: skip
    with pytest.warns(UserWarning, match="first 6 of"):
        assert cli_main(argv) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["benchmark"] == NAME and results["variant"] == "balanced"
    assert set(results["test"]) == {f"{NAME}_real", f"{NAME}_natural"}
    assert results["test"][f"{NAME}_real"]["num_utterances"] == 6
    assert results["data"]["real"]["test_cut"]["scored_utterances"] == 6
    assert results["data"]["real"]["num_utterances"]["test"] > 6  # the whole split is recorded beside the cut
    assert results["settings"]["data"]["max_eval_utterances"] == 6
    assert all(stage["global_step"] > 0 for stage in results["stages"])
    assert f"{NAME}_real: weighted F1" in capsys.readouterr().out

    # The experiment matrix names its runs and rows after the custom benchmark.
    experiment = tmp_path / "experiment.yaml"
    # The matrix's runs use a randomly initialised 2-layer BERT with MiniLM's tokenizer: each is its own process.
    overrides = {
        "model_name_or_path": make_tiny_encoder(tmp_path / "tiny"), "max_length": 48, "num_train_epochs": 1.0,
        "learning_rate": 5e-5,
        "per_device_train_batch_size": 8, "per_device_eval_batch_size": 64, "disable_tqdm": True,
        "dataloader_pin_memory": False, "save_final_model": False, "max_train_dialogues": 6,
        "max_eval_utterances": 6,
    }  # fmt: skip
    experiment.write_text(
        yaml.safe_dump(
            {
                "name": "kiosk",
                "output_dir": str(tmp_path / "experiment"),
                "architectures": ["context"],
                "variants": ["org", "natural"],
                "benchmarks": [str(benchmark)],
                "seeds": [1],
                "synthetic_dataset": str(folder),
                "test_modes": ["natural", "balanced"],
                "train_overrides": overrides,
            }
        ),
        encoding="utf-8",
    )
    assert cli_main(["experiment", str(experiment)]) == 0
    assert (tmp_path / "experiment" / "runs" / NAME / "context_org" / "seed-1" / "results.json").is_file()
    with open(tmp_path / "experiment" / "table.csv", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [row["test_set"] for row in table] == [
        f"{NAME}_real[first 6 utterances]",  # the cut is visible in the table
        f"{NAME}_natural",
        f"{NAME}_balanced",
    ]
    assert all(0.0 <= float(row[column]) <= 100.0 for row in table for column in ("context_org", "context_natural"))

    capsys.readouterr()
    assert cli_main(["significance", str(tmp_path / "experiment" / "table.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["systems"] == ["context_org", "context_natural"] and report["k"] == 2 and report["n"] == 3
    assert report["test_sets"] == [row["test_set"] for row in table]
    assert len(report["comparisons"]) == 1 and 0.0 < report["comparisons"][0]["p_exact"] <= 1.0
