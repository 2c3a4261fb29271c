"""A benchmark's stored utility measurement reaches every config of that benchmark's card section (and no other),
through `refresh_card`, which rewrites no data file."""

from __future__ import annotations

import json

from datasets import load_dataset
from run_fixtures import write_synthetic_dataset

from erc_synth_datasets.build import refresh_card
from erc_synth_datasets.utility_outputs import card_utility_section, read_utility, store_utility

UTILITY_MD = "| system | mean rank |\n|---|---:|\n| context_natural | 1.0 |\n| context_org | 2.0 |\n"


def test_the_utility_table_is_shown_in_its_benchmarks_configs(tmp_path):
    folder = write_synthetic_dataset(tmp_path / "erc-synth", "meld")
    write_synthetic_dataset(folder, "emorynlp", modes=("natural",))
    parquet = (folder / "meld_natural" / "train-00000-of-00001.parquet").read_bytes()
    assert card_utility_section(folder, "meld") is None
    work = tmp_path / "work"
    work.mkdir()
    (work / "utility.json").write_text(json.dumps({"stronger_org": "context_org", "variants": {}}))
    (work / "utility.md").write_text(UTILITY_MD)
    store_utility(work, folder, "meld")

    builds = {built.name: built for built in refresh_card(folder)}
    assert sorted(builds) == ["emorynlp_natural", "meld_balanced", "meld_natural"]
    card = (folder / "README.md").read_text()
    for name in ("meld_natural", "meld_balanced"):
        section = card.split(f"<!-- erc-synth:config {name} start -->")[1].split("end -->")[0]
        assert "#### Utility" in section and "| context_natural | 1.0 |" in section
    emorynlp = card.split("<!-- erc-synth:config emorynlp_natural start -->")[1].split("end -->")[0]
    assert "#### Utility" not in emorynlp and builds["emorynlp_natural"].utility is None
    assert read_utility(folder, "meld")["stronger_org"] == "context_org"
    assert (folder / "meld_natural" / "train-00000-of-00001.parquet").read_bytes() == parquet
    # The splits keep their order (build_info.json stores them with sorted keys).
    dataset = load_dataset(str(folder), "meld_natural", cache_dir=str(tmp_path / "cache"))
    assert list(dataset) == ["train", "validation", "test"] and dataset["train"].num_rows == 12
