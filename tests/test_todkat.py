"""TODKAT: the VAE topic layer, the knowledge generator and its cache, the classifier, and the paper's experiment."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from run_fixtures import write_synthetic_dataset

from erc_synth_datasets import get_benchmark
from trainers.config import ModelArguments
from trainers.data import ErcDataCollator, encode_dialogues
from trainers.errors import TrainingConfigError
from trainers.knowledge import (
    RELATIONS,
    KnowledgeGenerator,
    KnowledgeSettings,
    add_knowledge,
    make_standin_generator,
)
from trainers.models import build_model, list_models, load_classifier
from trainers.models.topic import TopicLayer
from trainers.testing import make_tiny_encoder, minilm_path

MELD = get_benchmark("meld")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT with MiniLM's tokenizer (fast; not a quality model)."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> str:
    """The offline stand-in knowledge generator: a tiny randomly initialised BART with MiniLM's tokenizer."""
    return make_standin_generator(tmp_path_factory.mktemp("standin") / "generator")


@pytest.fixture(scope="module")
def meld_dialogues(shared_data):
    """The first real MELD training dialogues."""
    from erc_synth_datasets import load_benchmark

    return load_benchmark("meld", shared_data / "meld")["train"].select(range(3))


def _args(encoder: str, standin: str, cache_dir, **overrides) -> ModelArguments:
    settings = {
        "architecture": "todkat", "model_name_or_path": encoder, "max_length": 64, "knowledge_model_name_or_path":
        standin, "knowledge_cache_dir": str(cache_dir), "knowledge_max_new_tokens": 6, "topic_size": 16,
    }  # fmt: skip
    return ModelArguments(**{**settings, **overrides})


# The topic layer ------------------------------------------------------------------------------------------------


def test_topic_layer_kl_and_reconstruction_have_their_closed_form():
    torch.manual_seed(0)
    layer = TopicLayer(hidden_size=8, topic_size=4, inner_size=16)
    hidden, mask = torch.randn(3, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    # A posterior equal to the prior: zero KL, and the decoded state is the decoder at z = 0.
    for module in (layer.to_mean, layer.to_log_variance):
        torch.nn.init.zeros_(module.weight), torch.nn.init.zeros_(module.bias)
    layer.eval()
    output = layer(hidden, mask)
    assert output.kl_loss.item() == pytest.approx(0.0, abs=1e-7)
    pooled = layer.pool(hidden, mask)
    expected = 0.5 * (layer.decoder(torch.zeros(3, 4)) - pooled).pow(2).sum(-1).mean()
    assert output.reconstruction_loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # Padding never reaches the pooled state: the third row is its first token.
    assert torch.allclose(pooled[2], hidden[2, 0], atol=1e-6)


def test_topic_layer_samples_in_training_and_uses_the_mean_in_eval():
    torch.manual_seed(0)
    layer = TopicLayer(hidden_size=8, topic_size=4, inner_size=16)
    hidden, mask = torch.randn(2, 4, 8), torch.ones(2, 4, dtype=torch.long)
    layer.eval()
    assert torch.equal(layer(hidden, mask).topic, layer(hidden, mask).topic)
    layer.train()
    first, second = layer(hidden, mask), layer(hidden, mask)
    assert not torch.equal(first.topic, second.topic)
    assert first.kl_loss.item() > 0
    first.loss.backward()
    # The layer's own objective trains everything but the projection into the encoder's space (the classifier's).
    grads = {name: p.grad is not None for name, p in layer.named_parameters()}
    assert grads == {name: not name.startswith("to_topic.") for name in grads}


# Knowledge: generation, selection, cache --------------------------------------------------------------------------


def test_knowledge_settings_refuse_unknown_relations_and_a_missing_generator(tiny_encoder, tmp_path):
    with pytest.raises(TrainingConfigError, match="xFeel"):
        KnowledgeSettings(model_name_or_path="x", relations=("xReact", "xFeel"))
    with pytest.raises(TrainingConfigError, match="top_k"):
        KnowledgeSettings(model_name_or_path="x", top_k=0)
    args = ModelArguments(architecture="todkat", model_name_or_path=tiny_encoder)
    with pytest.raises(TrainingConfigError, match="knowledge_model_name_or_path"):
        KnowledgeSettings.from_model_args(args)


def test_a_folder_that_is_not_a_seq2seq_model_gets_a_clear_error(tiny_encoder, tmp_path):
    generator = KnowledgeGenerator(KnowledgeSettings(model_name_or_path=tiny_encoder, cache_dir=str(tmp_path)))
    with pytest.raises(TrainingConfigError, match="could not be loaded as a sequence-to-sequence model"):
        generator(["Hello there."])


@pytest.mark.slow
def test_knowledge_is_selected_by_similarity_and_reused_from_the_cache(standin, meld_dialogues, tmp_path):
    texts = [u for utterances in meld_dialogues["utterances"] for u in utterances][:12]
    settings = KnowledgeSettings(model_name_or_path=standin, cache_dir=str(tmp_path), max_new_tokens=6, top_k=2)
    first = KnowledgeGenerator(settings)
    knowledge = first(texts)
    unique = len(set(texts))
    assert first.stats.lookups == len(texts) and first.stats.hits == 0 and first.stats.generated == unique
    assert len(first.cache) == unique
    templates = tuple(RELATIONS[r].split("{}")[0] for r in settings.relations)
    for sentences in knowledge:
        assert 1 <= len(sentences) <= 2 and all(s.startswith(templates) for s in sentences)
    # Closest first, by the selector's cosine similarity to the utterance.
    from sentence_transformers import SentenceTransformer

    selector = SentenceTransformer(minilm_path(), device="cpu")
    for text, sentences in zip(texts, knowledge, strict=True):
        if len(sentences) == 2:
            u, s = (
                selector.encode([text], normalize_embeddings=True),
                selector.encode(sentences, normalize_embeddings=True),
            )
            scores = (s @ u.T).ravel()
            assert scores[0] >= scores[1] - 1e-5

    # A second run (a new process would build a new generator): everything comes from the cache, nothing is loaded.
    second = KnowledgeGenerator(settings)
    assert second(texts) == knowledge
    assert second.stats.hits == second.stats.lookups == len(texts) and second.stats.generated == 0
    assert second.stats.hit_rate == 1.0 and second._model is None
    # Another generator (other weights) or other settings never reuse those entries.
    other = make_standin_generator(tmp_path / "other", seed=1)
    for changed in (
        KnowledgeSettings(model_name_or_path=other, cache_dir=str(tmp_path), max_new_tokens=6, top_k=2),
        KnowledgeSettings(model_name_or_path=standin, cache_dir=str(tmp_path), max_new_tokens=6, top_k=1),
    ):
        generator = KnowledgeGenerator(changed)
        generator(texts[:2])
        assert generator.stats.hits == 0 and generator.stats.generated == len(set(texts[:2]))


# The classifier --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def todkat_batch(tiny_encoder, standin, meld_dialogues, tmp_path_factory):
    """Real MELD utterances with context and selected knowledge, encoded and collated."""
    from transformers import AutoTokenizer

    args = _args(tiny_encoder, standin, tmp_path_factory.mktemp("cache"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder, truncation_side="left")
    encoded = add_knowledge(encode_dialogues(meld_dialogues, tokenizer, args), meld_dialogues, tokenizer, args)
    rows = [encoded[i] for i in range(min(12, len(encoded)))]
    return args, ErcDataCollator(pad_token_id=tokenizer.pad_token_id)(rows)


def test_todkat_is_registered():
    assert list_models()[-1] == "todkat"


def test_todkat_forward_backward_trains_every_part(todkat_batch):
    args, batch = todkat_batch
    assert batch["knowledge_input_ids"].shape[:2] == (len(batch["labels"]), args.knowledge_top_k)
    torch.manual_seed(0)
    model = build_model(args, MELD.num_labels)
    model.train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    output = model(**batch)
    assert output.logits.shape == (len(batch["labels"]), MELD.num_labels)
    classification = torch.nn.functional.cross_entropy(output.logits, batch["labels"])
    assert output.loss.item() > classification.item()  # the topic layer's terms are added
    output.loss.backward()
    optimizer.step()
    for prefix in ("encoder.", "topic.", "fusion.", "segment_embeddings.", "classifier."):
        assert any(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters() if n.startswith(prefix))
    # Without knowledge rows (none selected), the model still predicts.
    model.eval()
    no_knowledge = {k: v for k, v in batch.items() if not k.startswith("knowledge_")}
    assert model(**no_knowledge).logits.shape == output.logits.shape


def test_topic_loss_weight_is_a_setting(todkat_batch):
    args, batch = todkat_batch
    losses = []
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = build_model(ModelArguments(**{**vars(args), "topic_loss_weight": weight}), MELD.num_labels).eval()
        losses.append(model(**batch))
    assert torch.allclose(losses[0].logits, losses[1].logits)
    assert losses[0].loss.item() == pytest.approx(
        torch.nn.functional.cross_entropy(losses[0].logits, batch["labels"]).item(), rel=1e-5
    )
    assert losses[1].loss.item() > losses[0].loss.item()


def test_fusion_heads_must_divide_the_hidden_size(tiny_encoder, standin, tmp_path):
    with pytest.raises(TrainingConfigError, match="fusion_heads=7"):
        build_model(_args(tiny_encoder, standin, tmp_path, fusion_heads=7), MELD.num_labels)


def test_saved_todkat_reloads_with_identical_predictions(todkat_batch, tmp_path):
    args, batch = todkat_batch
    torch.manual_seed(0)
    model = build_model(args, MELD.num_labels, labels=list(MELD.labels), benchmark="meld")
    model.train()
    model(**batch).loss.backward()  # any weights but the initial ones
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.eval()
    model.save_pretrained(tmp_path / "model")
    reloaded, labels = load_classifier(tmp_path / "model", benchmark="meld")
    reloaded.eval()
    assert labels == list(MELD.labels) and type(reloaded).__name__ == "TodKatClassifier"
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)
    from transformers import AutoModel

    with torch.no_grad():
        assert torch.equal(AutoModel.from_pretrained(tmp_path / "model").eval()(**batch).logits, model(**batch).logits)


# The paper's three architectures in one experiment ---------------------------------------------------------------


@pytest.mark.slow
def test_smoke_experiment_runs_the_papers_three_architectures(tiny_encoder, standin, benchmark_fixtures, tmp_path):
    from erc_synth.commands.experiment import main

    synthetic = write_synthetic_dataset(
        tmp_path / "synthetic", modes=("balanced",), dialogues={"train": 4, "validation": 2, "test": 3}
    )
    out = tmp_path / "experiment"
    config = yaml.safe_load((REPO / "configs/experiments/paper_smoke.yaml").read_text())
    config.update(
        {
            "output_dir": str(out),
            "variants": ["org", "balanced"],
            "data_dirs": {"meld": str(benchmark_fixtures / "meld")},
            "synthetic_dataset": str(synthetic),
            "test_modes": ["balanced"],
            "train_config": str(REPO / config["train_config"]),
        }
    )
    config["train_overrides"].update(
        {
            "model_name_or_path": tiny_encoder, "knowledge_model_name_or_path": standin,
            "knowledge_cache_dir": str(tmp_path / "knowledge"), "max_length": 48, "per_device_train_batch_size": 8,
            "disable_tqdm": True, "dataloader_pin_memory": False, "save_final_model": False,
        }
    )  # fmt: skip
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main([str(path)]) == 0
    with open(out / "table.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    variants = [f"{a}_{v}" for a in ("compm", "emoone", "todkat") for v in ("org", "balanced")]
    assert [row["test_set"] for row in table] == ["meld_real", "meld_balanced"]
    for row in table:
        assert all(0.0 <= float(row[v]) <= 100.0 for v in variants)
    results = json.loads((out / "runs/meld/todkat_balanced/seed-42/results.json").read_text())
    assert results["architecture"] == "todkat" and [s["name"] for s in results["stages"]] == ["pretrain", "finetune"]
    assert results["settings"]["model"]["knowledge_model_name_or_path"] == standin
