"""The classifier registry and each classifier, trained for a few steps on real MELD utterances."""

from __future__ import annotations

import pytest
import torch

from erc_synth_datasets import get_benchmark
from trainers.config import ModelArguments
from trainers.data import ErcDataCollator, encode_dialogues
from trainers.errors import TrainingConfigError, UnknownModelError
from trainers.models import build_model, get_model_class, list_models, load_classifier
from trainers.models.emoone import grayscale_labels
from trainers.testing import make_tiny_encoder, minilm_path

MELD = get_benchmark("meld")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT with MiniLM's tokenizer (fast; not a quality model)."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")


@pytest.fixture(scope="module")
def meld_batch(shared_data):
    """16 real MELD training utterances (with context and speaker memory), encoded for MiniLM."""
    from transformers import AutoTokenizer

    from erc_synth_datasets import load_benchmark

    dialogues = load_benchmark("meld", shared_data / "meld")["train"].select(range(3))
    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), truncation_side="left")
    encoded = encode_dialogues(dialogues, tokenizer, ModelArguments(max_length=64), with_memory=True)
    rows = [encoded[i] for i in range(min(16, len(encoded)))]
    return ErcDataCollator(pad_token_id=tokenizer.pad_token_id)(rows)


def test_registry_is_lazy_and_names_the_fix():
    assert list_models() == ["context", "compm", "emoone", "todkat"]
    with pytest.raises(UnknownModelError, match="Did you mean 'compm'"):
        get_model_class("compmm")


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _changed(before: dict, module: torch.nn.Module, prefix: str) -> bool:
    return any(
        not torch.equal(before[name], p.detach()) for name, p in module.named_parameters() if name.startswith(prefix)
    )


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["context", "compm", "emoone"])
def test_classifier_trains_on_real_meld_with_minilm(architecture, meld_batch):
    torch.manual_seed(0)
    model = build_model(ModelArguments(architecture=architecture, model_name_or_path=minilm_path()), MELD.num_labels)
    model.train()
    before = _snapshot(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batch = dict(meld_batch)
    if architecture != "compm":
        batch.pop("memory_input_ids"), batch.pop("memory_attention_mask")
    if architecture == "emoone":
        batch["soft_labels"] = torch.full((len(batch["labels"]), MELD.num_labels), 1 / MELD.num_labels)
    losses = []
    for _ in range(2):
        output = model(**batch)
        output.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(output.loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert _changed(before, model, "encoder.") and _changed(before, model, "classifier.")
    if architecture == "compm":
        assert _changed(before, model, "speaker_gru.")
        assert not _changed(before, model, "memory_encoder.")  # the pre-trained memory stays frozen
    model.eval()
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k not in ("labels", "soft_labels")}).logits
    assert logits.shape == (len(batch["labels"]), MELD.num_labels)
    predicted = [MELD.id2label[i] for i in logits.argmax(-1).tolist()]
    assert set(predicted) <= set(MELD.labels)


def test_compm_memory_is_zero_without_earlier_utterances(tiny_encoder):
    torch.manual_seed(0)
    model = build_model(ModelArguments(architecture="compm", model_name_or_path=tiny_encoder), 7).eval()
    ids = torch.tensor([[[101, 2000, 102], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]], [[101, 2000, 102], [101, 2001, 102]]])
    mask = (ids != 0).long()
    tracked = model.track_memory(ids, mask)
    assert tracked.shape == (3, model.hidden_size)
    assert torch.count_nonzero(tracked[1]) == 0 and torch.count_nonzero(tracked[0]) > 0
    # The GRU runs oldest-to-newest: two memories differ from one.
    assert not torch.allclose(tracked[0], tracked[2])
    # Padding turns do not change a memory.
    assert torch.allclose(model.track_memory(ids[:1, :1], mask[:1, :1]), tracked[:1], atol=1e-6)
    assert model.train().memory_encoder.training is False


def test_compm_refuses_a_memory_encoder_of_another_size(tiny_encoder):
    with pytest.raises(TrainingConfigError, match="hidden size"):
        _build_mismatched(tiny_encoder)


def _build_mismatched(tiny_encoder: str):
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(tiny_encoder)
    config.hidden_size, config.num_attention_heads, config.intermediate_size = 64, 2, 128
    other = f"{tiny_encoder}-small"
    AutoModel.from_config(config).save_pretrained(other)
    return build_model(
        ModelArguments(architecture="compm", model_name_or_path=tiny_encoder, memory_model_name_or_path=other), 7
    )


@pytest.mark.parametrize("architecture", ["context", "compm", "emoone", "todkat"])
def test_pooling_reads_the_first_token_all_tokens_or_the_target_only(architecture, tiny_encoder):
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float).reshape(2, 4, 3)
    attention = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    target = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 1]])
    pooled = {}
    for pooling in ("first", "mean", "target_mean"):
        args = ModelArguments(
            architecture=architecture, model_name_or_path=tiny_encoder, pooling=pooling, fusion_heads=2,
            knowledge_model_name_or_path="unused",
        )  # fmt: skip
        pooled[pooling] = build_model(args, 3).pool(hidden, attention, target)
    assert torch.equal(pooled["first"], hidden[:, 0])
    assert torch.allclose(pooled["mean"][0], hidden[0, :3].mean(dim=0))
    assert torch.allclose(pooled["mean"][1], hidden[1].mean(dim=0))
    assert torch.allclose(pooled["target_mean"][0], hidden[0, 1:3].mean(dim=0))
    assert torch.allclose(pooled["target_mean"][1], hidden[1, 3])


def test_grayscale_labels_teacher_and_post_adjustment():
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    labels = torch.tensor([0, 0, 2])
    assert torch.equal(grayscale_labels(probs, labels, "teacher"), probs)
    post = grayscale_labels(probs, labels, "teacher_post")
    assert torch.allclose(post[0], probs[0]) and torch.allclose(post[2], probs[2])  # gold already >= 0.5
    assert torch.allclose(post[1], torch.tensor([0.5, 0.5 * 0.5 / 0.8, 0.5 * 0.3 / 0.8]))
    assert torch.allclose(post.sum(dim=1), torch.ones(3))


def test_emoone_loss_adds_the_weighted_grayscale_term(tiny_encoder):
    torch.manual_seed(0)
    args = ModelArguments(architecture="emoone", model_name_or_path=tiny_encoder, grayscale_weight=0.5)
    model = build_model(args, 3).eval()
    inputs = {"input_ids": torch.tensor([[101, 2000, 102]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    labels, soft = torch.tensor([1]), torch.tensor([[0.2, 0.7, 0.1]])
    onehot = model(**inputs, labels=labels)
    both = model(**inputs, labels=labels, soft_labels=soft)
    log_probs = torch.log_softmax(onehot.logits, dim=-1)
    assert both.loss.item() == pytest.approx(onehot.loss.item() - 0.5 * (soft * log_probs).sum().item(), rel=1e-5)


def test_lora_trains_only_adapters_and_head(tiny_encoder, tmp_path):
    torch.manual_seed(0)
    args = ModelArguments(model_name_or_path=tiny_encoder, use_lora=True, lora_r=4, lora_target_modules=["query"])
    model = build_model(args, 7)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or name.startswith("classifier.") for name in trainable)
    assert any("lora_" in name for name in trainable)
    # A saved classifier reloads with the same outputs and labels.
    model.eval()
    inputs = {
        "input_ids": torch.tensor([[101, 2000, 2001, 102]]),
        "attention_mask": torch.ones(1, 4, dtype=torch.long),
    }
    model.save_pretrained(tmp_path / "saved")
    reloaded, labels = load_classifier(tmp_path / "saved")
    assert labels == [f"LABEL_{i}" for i in range(7)]  # built without label names
    assert torch.allclose(reloaded.eval()(**inputs).logits, model(**inputs).logits, atol=1e-6)


# Saved as transformers models ----------------------------------------------------------------------------------


def _trained_a_little(model, batch: dict) -> None:
    """One SGD step, so that the saved weights are not the initial ones."""
    model.train()
    model(**batch).loss.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    model.eval()


def _inputs_for(architecture: str, meld_batch: dict) -> dict:
    batch = dict(meld_batch)
    if architecture != "compm":
        batch.pop("memory_input_ids"), batch.pop("memory_attention_mask")
    return batch


@pytest.mark.parametrize(
    "architecture", ["context", pytest.param("compm", marks=pytest.mark.slow), "emoone"]
)  # compm also loads and saves its memory encoder
def test_save_pretrained_then_auto_model_gives_identical_predictions(architecture, tiny_encoder, meld_batch, tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    from trainers.models.base import ErcConfig

    torch.manual_seed(0)
    args = ModelArguments(architecture=architecture, model_name_or_path=tiny_encoder, max_length=64)
    model = build_model(args, MELD.num_labels, labels=list(MELD.labels), benchmark="meld")
    batch = _inputs_for(architecture, meld_batch)
    _trained_a_little(model, batch)
    model.save_pretrained(tmp_path / "saved")
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    # The folder alone rebuilds the classifier: the backbone comes from the stored config, not from tiny_encoder.
    config = AutoConfig.from_pretrained(tmp_path / "saved")
    assert isinstance(config, ErcConfig) and config.architecture == architecture
    assert config.id2label == dict(enumerate(MELD.labels)) and config.label2id["anger"] == MELD.labels.index("anger")
    assert config.benchmark == "meld" and config.model_args["max_length"] == 64
    for loader in (AutoModel, AutoModelForSequenceClassification, get_model_class(architecture)):
        reloaded = loader.from_pretrained(tmp_path / "saved").eval()
        assert type(reloaded) is type(model)
        with torch.no_grad():
            assert torch.equal(reloaded(**inputs).logits, model(**inputs).logits)
    # Building for training starts from the backbone's pretrained weights, not re-initialised ones.
    fresh = build_model(args, MELD.num_labels)
    pretrained = AutoModel.from_pretrained(tiny_encoder).state_dict()
    assert all(torch.equal(fresh.encoder.state_dict()[k], v) for k, v in pretrained.items())


def test_a_saved_classifier_is_refused_for_another_label_order(tiny_encoder, tmp_path):
    import json

    model = build_model(ModelArguments(model_name_or_path=tiny_encoder), MELD.num_labels, labels=list(MELD.labels))
    model.save_pretrained(tmp_path / "saved")
    assert load_classifier(tmp_path / "saved", benchmark="meld")[1] == list(MELD.labels)
    with pytest.raises(TrainingConfigError, match=r"benchmark 'emorynlp' has the labels \['Neutral'"):
        load_classifier(tmp_path / "saved", benchmark="emorynlp")
    # The same label names in another order are refused too.
    config_file = tmp_path / "saved" / "config.json"
    config = json.loads(config_file.read_text())
    swapped = list(MELD.labels)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    config["id2label"] = {str(i): name for i, name in enumerate(swapped)}
    config["label2id"] = {name: i for i, name in enumerate(swapped)}
    config_file.write_text(json.dumps(config))
    with pytest.raises(TrainingConfigError) as refused:
        load_classifier(tmp_path / "saved", benchmark="meld")
    message = str(refused.value)
    assert str(swapped) in message and str(list(MELD.labels)) in message and "train one" in message


def test_a_folder_that_is_not_a_saved_classifier_is_refused(tiny_encoder, tmp_path):
    with pytest.raises(TrainingConfigError, match="not a saved erc-synth classifier: it has no config.json"):
        load_classifier(tmp_path)
    with pytest.raises(TrainingConfigError, match="its model_type is 'bert'"):
        load_classifier(tiny_encoder)
