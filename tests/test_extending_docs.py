"""docs/extending.md names real places: every file and folder it points at exists, and every registry or name it
tells you to extend is there."""

from __future__ import annotations

import re
from pathlib import Path

from erc_synth.cli import COMMANDS
from erc_synth_datasets.loaders import READERS
from erc_synth_datasets.vocabulary import LabelSource
from generation.backends import BACKENDS
from trainers.models import MODELS

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "extending.md"


def test_every_path_in_the_extending_guide_exists():
    text = DOC.read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:erc_synth_datasets|erc_synth|generation|trainers)/[\w/.]+?)`", text))
    assert len(paths) > 10
    # Paths of the worked examples (files you would add) are named after the example.
    examples = ("dailydialog", "echo_backend", "meanpool", "<name>")
    missing = sorted(p for p in paths if not any(e in p for e in examples) and not (REPO / p.rstrip("/")).exists())
    assert missing == []


def test_the_registries_it_names_hold_what_it_says():
    assert {"transformers", "openai"} <= set(BACKENDS)
    assert {"context", "compm", "emoone", "todkat"} <= set(MODELS)
    assert {"meld_csv", "emorynlp_json", "tsv", "dagerc_json"} == set(READERS)
    assert {"generator", "teacher"} <= set(LabelSource.values())
    assert {"stats", "relabel", "quality"} <= set(COMMANDS)
    text = DOC.read_text(encoding="utf-8")
    for name in ("BACKENDS", "MODELS", "READERS", "COMMANDS", "LabelSource", "METRIC_TITLES", "compute_stats"):
        assert name in text
    assert "[docs/extending.md](docs/extending.md)" in (REPO / "README.md").read_text(encoding="utf-8")
