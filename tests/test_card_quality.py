"""The quality report in the dataset card: `erc-synth build --quality`, a stored report shown, a stale one left out."""

from __future__ import annotations

import json

from datasets import load_dataset
from huggingface_hub import DatasetCard
from run_fixtures import write_run

from erc_synth import cli
from erc_synth_datasets.quality.outputs import REPORT_FILES, config_report_folder
from erc_synth_datasets.quality.reference import load_reference

CONFIG = "meld_natural"


def _section(card: DatasetCard, name: str) -> str:
    start = card.text.index(f"<!-- erc-synth:config {name} start -->")
    return card.text[start : card.text.index(f"<!-- erc-synth:config {name} end -->", start)]


def test_build_with_quality_puts_the_report_in_the_card_and_keeps_the_data_loadable(tmp_path, monkeypatch):
    monkeypatch.delenv("ERC_SYNTH_DATA_DIR", raising=False)  # the real side comes from the stored MELD figures
    first = write_run(tmp_path / "run1", "meld", "natural", num_dialogues=10, seed=1)
    out = tmp_path / "erc-synth"
    assert cli.main(["build", str(first), "--output-dir", str(out), "--quality"]) == 0

    folder = config_report_folder(out, CONFIG)
    report = json.loads((folder / REPORT_FILES["json"]).read_text(encoding="utf-8"))
    assert report["source"]["config"] == CONFIG and report["real"]["kind"] == "stored"
    assert report["counts"]["accepted"] == 10 and report["counts"]["acceptance_rate"] == 10 / 12
    assert report["samples"]["encoder"] is None  # no encoder given: no embedding figures
    assert (folder / REPORT_FILES["plot"]).read_bytes()[:4] == b"\x89PNG"

    card = DatasetCard.load(out / "README.md")
    section = _section(card, CONFIG)
    assert "#### Quality" in section and "acceptance rate 83.3%" in section
    assert f"![quality](quality/{CONFIG}/quality.png)" in section
    repeated = report["degeneracy"]["repeated_utterances"]
    stored = load_reference("meld")["shape"]["repeated_utterances"]
    assert repeated["real"] == stored
    assert f"| {repeated['synthetic']:.3f} | {stored:.3f} |" in section
    assert [c["config_name"] for c in card.data.to_dict()["configs"]] == [CONFIG]
    data = load_dataset(str(out), CONFIG, cache_dir=str(tmp_path / "cache"))
    assert sum(data.num_rows.values()) == 10


def test_a_stale_report_is_left_out_until_measured_again(tmp_path, monkeypatch):
    monkeypatch.delenv("ERC_SYNTH_DATA_DIR", raising=False)
    first = write_run(tmp_path / "run1", "meld", "natural", num_dialogues=10, seed=1)
    second = write_run(tmp_path / "run2", "meld", "natural", num_dialogues=6, seed=2)
    out = tmp_path / "erc-synth"
    assert cli.main(["build", str(first), "--output-dir", str(out)]) == 0
    assert not config_report_folder(out, CONFIG).exists()
    assert "#### Quality" not in DatasetCard.load(out / "README.md").text

    # The default output of `erc-synth quality --dataset-config` is what the next build shows.
    assert cli.main(["quality", str(out), "--dataset-config", CONFIG, "--no-embeddings"]) == 0
    assert cli.main(["build", str(first), "--output-dir", str(out)]) == 0
    assert "#### Quality" in _section(DatasetCard.load(out / "README.md"), CONFIG)

    # More data in the config: the report counts 10 dialogues, the config 16, so the card leaves it out.
    assert cli.main(["build", str(first), str(second), "--output-dir", str(out)]) == 0
    assert "#### Quality" not in _section(DatasetCard.load(out / "README.md"), CONFIG)
    assert (config_report_folder(out, CONFIG) / REPORT_FILES["json"]).is_file()  # kept, never deleted

    assert cli.main(["build", str(first), str(second), "--output-dir", str(out), "--quality"]) == 0
    section = _section(DatasetCard.load(out / "README.md"), CONFIG)
    assert "#### Quality" in section
    report = json.loads((config_report_folder(out, CONFIG) / REPORT_FILES["json"]).read_text(encoding="utf-8"))
    assert report["counts"]["accepted"] == 16
    data = load_dataset(str(out), CONFIG, cache_dir=str(tmp_path / "cache"))
    assert sum(data.num_rows.values()) == 16
