"""Predictions come back in the order of the rows they score, even when training batches are grouped by length."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from run_fixtures import write_synthetic_dataset

from trainers.config import ModelArguments
from trainers.data import ErcDataCollator, encode_dialogues
from trainers.errors import EvaluationOrderError
from trainers.models import build_model
from trainers.protocol import ErcTrainer, _predict_logits
from trainers.testing import make_tiny_encoder
from trainers.training_args import ErcTrainingArguments


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from datasets import load_dataset
    from transformers import AutoTokenizer

    encoder = make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")
    folder = write_synthetic_dataset(
        tmp_path_factory.mktemp("data") / "erc-synth", modes=("natural",), dialogues={"test": 40}
    )
    dialogues = load_dataset(str(folder), "meld_natural", split="test")
    tokenizer = AutoTokenizer.from_pretrained(encoder, truncation_side="left")
    model_args = ModelArguments(model_name_or_path=encoder, max_length=48)
    encoded = encode_dialogues(dialogues, tokenizer, model_args)
    torch.manual_seed(0)
    model = build_model(model_args, 7).eval()
    return model, tokenizer, encoded


def _args(tmp_path) -> ErcTrainingArguments:
    return ErcTrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=4,
        train_sampling_strategy="group_by_length",
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
    )


def _row_by_row(model, encoded, collator) -> np.ndarray:
    with torch.no_grad():
        rows = [model(**{k: v for k, v in collator([row]).items() if k != "labels"}).logits for row in encoded]
    return torch.cat(rows).numpy()


def test_predictions_are_in_row_order_with_length_grouping(setup, tmp_path):
    model, tokenizer, encoded = setup
    assert len(set(encoded["length"])) > 3  # rows of many lengths: a length-grouped order would differ
    collator = ErcDataCollator(pad_token_id=tokenizer.pad_token_id)
    trainer = ErcTrainer(model=model, args=_args(tmp_path), data_collator=collator, processing_class=tokenizer)
    logits = _predict_logits(trainer, encoded, len(encoded), "test rows")
    np.testing.assert_allclose(logits, _row_by_row(model, encoded, collator), atol=1e-4)


def test_a_reordered_prediction_is_refused(setup, tmp_path):
    from transformers import Trainer

    model, tokenizer, encoded = setup
    collator = ErcDataCollator(pad_token_id=tokenizer.pad_token_id)
    # The plain Trainer groups evaluation rows by length in a shuffled order under this strategy.
    trainer = Trainer(model=model, args=_args(tmp_path), data_collator=collator, processing_class=tokenizer)
    with pytest.raises(EvaluationOrderError, match="not in the order of the split's rows"):
        _predict_logits(trainer, encoded, len(encoded), "test rows")
