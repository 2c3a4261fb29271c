"""The quality report of a run folder against the real benchmark files, its command, and its dataset-card section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard

from erc_synth import cli
from erc_synth_datasets.benchmarks import get_benchmark
from erc_synth_datasets.quality.metrics import Dialogue
from erc_synth_datasets.quality.reference import compute_reference, load_reference
from erc_synth_datasets.quality.render import render_card_section, render_markdown
from erc_synth_datasets.quality.report import QualitySettings, compute_report, shape_figures
from erc_synth_datasets.quality.sources import (
    QualitySourceError,
    SyntheticSource,
    load_dataset_config,
    load_real_split,
    load_run,
)
from erc_synth_datasets.runs import (
    AcceptedRecord,
    JsonlAppender,
    RejectionRecord,
    RunCounts,
    RunManifest,
    RunStatus,
    accepted_file_name,
    rejected_file_name,
    write_manifest,
)

MELD = get_benchmark("meld")
_PLACES = ["kitchen", "coffee house", "museum", "airport", "laundry room", "hospital", "train", "beach"]


def _dialogue(index: int) -> tuple[list[str], list[str], list[str]]:
    """An invented dialogue: every fourth one repeats a line, every third one counts through the legend."""
    place = _PLACES[index % len(_PLACES)]
    utterances = [
        f"Did you leave the keys at the {place} {index} times?",
        f"No, I gave them to Joey after lunch on day {index}.",
        "Great, so they are gone forever.",
        f"Relax, he said he would be back by {index} o'clock.",
    ]
    if index % 4 == 0:
        utterances[3] = utterances[0]
    emotions = list(MELD.labels[:4]) if index % 3 == 0 else ["neutral", "neutral", "anger", "neutral"]
    return ["Ross", "Rachel", "Ross", "Rachel"], utterances, emotions


def write_run(run_dir: Path, num_dialogues: int = 24, *, cut_off: int = 2, max_new_tokens: int = 64) -> Path:
    """A run folder in the run format, written with its own writers: invented dialogues and some rejections."""
    with JsonlAppender(run_dir / accepted_file_name()) as out:
        for index in range(num_dialogues):
            speakers, utterances, emotions = _dialogue(index)
            out.write(
                AcceptedRecord(
                    dialogue_id=f"meld-natural-{index:06d}",
                    speakers=speakers,
                    utterances=utterances,
                    emotions=emotions,
                    mode="natural",
                    target_emotion=None,
                    persona=None,
                    generator_model="invented",
                    sampling={"max_new_tokens": max_new_tokens},
                    seed=index,
                    prompt_version="test",
                    prompt="Write a scene.",
                    index=index,
                    attempt=0,
                )
            )
    with JsonlAppender(run_dir / rejected_file_name()) as out:
        for index in range(cut_off + 1):
            out.write(
                RejectionRecord(
                    index=num_dialogues + index,
                    attempt=0,
                    seed=index,
                    reason="invalid_json" if index < cut_off else "too_few_turns",
                    message="",
                    raw_text="{",
                    prompt="Write a scene.",
                    target_emotion=None,
                    completion_tokens=max_new_tokens if index < cut_off else 10,
                )
            )
    manifest = RunManifest(
        settings_hash="test",
        benchmark=MELD.to_dict(),
        mode="natural",
        status=RunStatus.COMPLETE,
        settings={"max_turns": 4, "max_new_tokens": max_new_tokens},
        counts=RunCounts(requested=num_dialogues, accepted=num_dialogues, rejected=cut_off + 1),
        files={accepted_file_name(): num_dialogues, rejected_file_name(): cut_off + 1},
    )
    write_manifest(run_dir, manifest)
    return run_dir


@pytest.fixture(scope="module")
def real_meld(shared_data) -> tuple[list[Dialogue], list[Dialogue]]:
    return load_real_split(MELD, shared_data / "meld", "train"), load_real_split(MELD, shared_data / "meld", "test")


def test_run_source_counts_rejections_and_cut_offs(tmp_path):
    source = load_run(write_run(tmp_path / "run"))
    assert len(source.dialogues) == 24 and source.attempts == 27
    assert source.rejections == {"invalid_json": 2, "too_few_turns": 1}
    assert source.cut_off == 2 and source.max_turns == 4
    assert source.dialogues[0].emotions == (0, 1, 2, 3)
    with pytest.raises(QualitySourceError, match="manifest.json"):
        load_run(tmp_path)


@pytest.mark.slow
def test_report_on_real_meld_files(tmp_path, real_meld):
    train, test = real_meld
    source = load_run(write_run(tmp_path / "run"))
    settings = QualitySettings(embeddings=False)
    report = compute_report(source, real=train, real_test=test, settings=settings)
    json.dumps(report)  # the contract is plain JSON

    degeneracy = report["degeneracy"]
    # 6 of 24 dialogues repeat one of 4 lines; 8 of 24 count through the legend; all are at max_turns.
    assert degeneracy["repeated_utterances"]["synthetic"] == pytest.approx(6 / 96)
    assert degeneracy["legend_order_dialogues"]["synthetic"] == pytest.approx(8 / 24)
    assert degeneracy["at_max_turns"]["synthetic"] == 1.0
    assert degeneracy["cut_off_attempts"]["synthetic"] == pytest.approx(2 / 27)
    assert report["counts"]["acceptance_rate"] == pytest.approx(24 / 27)
    real_shape = shape_figures(train, MELD, settings)
    assert degeneracy["repeated_utterances"]["real"] == pytest.approx(real_shape["repeated_utterances"])
    assert degeneracy["legend_order_dialogues"]["real"] == 0.0
    assert 0.0 < degeneracy["at_max_turns"]["real"] < 1.0

    samples = report["samples"]
    assert samples["dialogues"] == 20 and samples["token_budget"] == 500
    diversity = report["diversity"]
    # The invented set reuses its templates: less diverse than real MELD at the same sample size.
    assert diversity["distinct_2"]["synthetic"] < diversity["distinct_2"]["real"]
    assert diversity["ngram_overlap"]["synthetic"] > diversity["ngram_overlap"]["real"]

    realism = report["realism"]
    assert realism["turns_mean"] == {"synthetic": 4.0, "real": pytest.approx(real_shape["turns_mean"])}
    assert 0 < realism["label_jsd"]["synthetic"] <= 1
    assert realism["discriminator_auc"]["synthetic"] > 0.9  # templated text is easy to tell apart
    assert 0.3 < realism["discriminator_auc"]["real"] < 0.7  # train vs test of the same corpus is not

    fidelity = report["label_fidelity"]
    assert -1 <= fidelity["kappa"]["synthetic"] <= 1
    assert 0.05 < fidelity["kappa"]["real"] < 0.6
    assert set(fidelity["per_label_f1"]["real"]) == set(MELD.labels)

    markdown = render_markdown(report)
    assert "| utterances repeating an earlier one in the same dialogue | 0.062 |" in markdown
    assert "## Label fidelity" in markdown


@pytest.mark.slow
def test_reference_figures_match_a_report_with_data(tmp_path, real_meld):
    train, test = real_meld
    settings = QualitySettings(embeddings=False)
    source = load_run(write_run(tmp_path / "run"))
    stored = json.loads(json.dumps(compute_reference(MELD, train, test, settings)))
    from_data = compute_report(source, real=train, real_test=test, settings=settings)
    from_stored = compute_report(source, reference=stored, settings=settings)
    assert from_stored["real"]["kind"] == "stored"
    for section, key in (("degeneracy", "repeated_utterances"), ("diversity", "distinct_2"), ("realism", "label_jsd")):
        assert from_stored[section][key] == pytest.approx(from_data[section][key])
    # Nothing to train a reference classifier on: only the stored real agreement is shown.
    assert from_stored["label_fidelity"]["kappa"] == {
        "synthetic": None,
        "real": pytest.approx(from_data["label_fidelity"]["kappa"]["real"]),
    }
    shipped = load_reference("meld")
    assert shipped is not None and shipped["shape"]["dialogues"] == len(train)
    assert shipped["shape"]["repeated_utterances"] == pytest.approx(
        from_data["degeneracy"]["repeated_utterances"]["real"]
    )


@pytest.mark.slow
def test_command_writes_report_with_embeddings_and_card_section_loads_back(tmp_path, shared_data, capsys):
    run_dir = write_run(tmp_path / "run")
    assert cli.main(["quality", str(run_dir), "--data-dir", str(shared_data / "meld")]) == 0
    printed = capsys.readouterr().out
    assert "# Quality report" in printed
    report = json.loads((run_dir / "quality" / "quality.json").read_text(encoding="utf-8"))
    assert (run_dir / "quality" / "quality.png").read_bytes()[:4] == b"\x89PNG"
    diversity = report["diversity"]
    assert (
        0
        < diversity["embedding_mean_pairwise_distance"]["synthetic"]
        < diversity["embedding_mean_pairwise_distance"]["real"]
    )
    assert diversity["embedding_clusters_per_100"]["real"] > 0

    section = render_card_section(report, plot="quality.png")
    card_path = tmp_path / "README.md"
    DatasetCard(f"---\nlicense: mit\n---\n# Data\n\n### meld_natural\n\n{section}").save(card_path)
    loaded = DatasetCard.load(card_path)
    assert loaded.data.license == "mit"
    assert "#### Quality" in loaded.text and "real-vs-synthetic discriminator ROC AUC" in loaded.text
    assert f"| {report['degeneracy']['repeated_utterances']['synthetic']:.3f} |" in loaded.text


def test_command_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert cli.main(["quality", str(tmp_path), "--no-embeddings"]) == 1
    assert "manifest.json" in capsys.readouterr().err


def test_built_dataset_config_against_stored_reference(tmp_path):
    from erc_synth_datasets.build import BuildConfig, build_dataset

    run_dir = write_run(tmp_path / "run")
    output = build_dataset([run_dir], BuildConfig(output=str(tmp_path / "erc-synth"))).output
    source = load_dataset_config(output, "meld_natural")
    assert source.kind == "dataset" and source.benchmark.name == "meld" and len(source.dialogues) == 24
    assert sorted(d.utterances for d in source.dialogues) == sorted(d.utterances for d in load_run(run_dir).dialogues)
    report = compute_report(source, reference=load_reference("meld"), settings=QualitySettings(embeddings=False))
    assert report["real"]["kind"] == "stored"
    assert report["degeneracy"]["repeated_utterances"] == {
        "synthetic": pytest.approx(6 / 96),
        "real": pytest.approx(load_reference("meld")["shape"]["repeated_utterances"]),
    }
    assert report["diversity"]["distinct_2"]["real"] is not None
    with pytest.raises(QualitySourceError, match="meld_balanced"):
        load_dataset_config(output, "meld_balanced")


@pytest.mark.parametrize("name", ["meld", "emorynlp", "iemocap"])
def test_stored_reference_of_every_benchmark_fills_the_real_side(name, shared_data):
    benchmark = get_benchmark(name)
    stored = load_reference(name)
    assert stored is not None and stored["benchmark"] == name
    assert len(stored["shape"]["label_distribution"]) == benchmark.num_labels
    assert sum(stored["shape"]["label_distribution"]) == pytest.approx(1.0)
    train = load_real_split(benchmark, shared_data / name, "train")
    assert stored["shape"]["dialogues"] == len(train)
    assert stored["shape"]["turns_mean"] == pytest.approx(sum(len(d.utterances) for d in train) / len(train))
    speakers = list(benchmark.speakers)
    dialogues = [
        Dialogue(speakers[:2], (f"Did you see the {place}?", f"The {place} was closed today."), (i % 3, 0))
        for i, place in enumerate(_PLACES)
    ]
    source = SyntheticSource(kind="run", path="synthetic", benchmark=benchmark, dialogues=dialogues)
    report = compute_report(source, reference=stored, settings=QualitySettings(embeddings=False))
    assert report["real"]["kind"] == "stored"
    assert report["degeneracy"]["repeated_utterances"]["real"] == stored["shape"]["repeated_utterances"]
    assert report["realism"]["turns_mean"]["real"] == pytest.approx(stored["shape"]["turns_mean"])
    assert 0 < report["realism"]["label_jsd"]["synthetic"] <= 1
    assert report["label_fidelity"]["kappa"]["real"] == pytest.approx(stored["label_fidelity"]["kappa"])
