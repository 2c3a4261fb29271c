"""What a command does with the settings a user gives it: a custom benchmark's `data:` section is the real side of
every command that reads real data, an option a config file set can be reset to its default, and a missing input
folder is named before any work. One test per class, on real files and the real command line."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from run_fixtures import write_run, write_synthetic_dataset
from test_custom_benchmark import fixture_dialogues, make_custom_benchmark
from test_hardening_inputs import PATHOLOGIES

from erc_synth.cli import main as erc_synth
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.splitting import SplitError, SplitRatios, split_counts
from erc_synth_datasets.threads import THREADS_LINE_PREFIX
from trainers.testing import make_tiny_encoder

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = erc_synth([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_quality_of_a_custom_benchmark_reads_the_real_side_from_its_yaml(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ERC_SYNTH_DATA_DIR", raising=False)
    definition = make_custom_benchmark(tmp_path / "bench", "csv")
    run = write_run(tmp_path / "run", benchmark=definition, mode="natural", num_dialogues=4, num_rejected=0)
    code, out, err = run_cli(capsys, "quality", run, "--benchmark", definition, "--no-embeddings", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["real"]["kind"] == "data"
    assert report["real"]["dialogues"] == len(fixture_dialogues()["train"])


# --- an option a config file set, put back to its default -------------------------------------------------------


def _command_parsers():
    """Every command's option parser (the enumeration of this class: every command parses through OptionParser)."""
    from erc_synth.cli import COMMANDS

    for name in COMMANDS:
        module = importlib.import_module(f"erc_synth.commands.{name}")
        parser = module.make_parser(for_help=True) if name == "train" else module.make_parser()
        yield name, parser


def test_every_option_with_a_default_can_be_reset_in_every_command(tmp_path):
    for name, parser in _command_parsers():
        owners = parser._field_owner
        for field_name, cls in owners.items():
            spec = next(s for s in dataclasses.fields(cls) if s.name == field_name)
            flags = [f for f, action in parser._option_string_actions.items() if action.dest == field_name]
            if not flags or (spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING):
                continue
            assert parser._reset_fields([flags[0]], {}) == {field_name}, (name, field_name)
            assert parser._reset_fields([field_name.replace("_", "-")], {}) == {field_name}, (name, field_name)
        with pytest.raises(ConfigError, match=r"--reset bogus-option: .* has no option --bogus-option\..*See --help"):
            parser._reset_fields(["bogus-option"], {})


def test_reset_puts_a_config_files_value_back_to_the_default_on_the_real_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ERC_SYNTH_DATA_DIR", raising=False)
    definition = make_custom_benchmark(tmp_path / "bench", "tsv")
    config = tmp_path / "stats.yaml"
    config.write_text(f"data_dir: {tmp_path / 'nowhere'}\njson: true\n")
    code, out, err = run_cli(capsys, "stats", definition, "--config", config, "--reset", "data-dir")
    assert code == 0, err
    assert json.loads(out)["splits"]["train"]["dialogues"] == len(fixture_dialogues()["train"])
    code, out, err = run_cli(capsys, "stats", definition, "--config", config, "--reset", "data_dir,json")
    assert code == 0 and out.startswith("## Ticket kiosk"), err
    # Without --reset the file's value holds; with the option also given, the command line is ambiguous.
    code, out, err = run_cli(capsys, "stats", definition, "--config", config)
    assert code == 1 and "nowhere" in err
    code, out, err = run_cli(capsys, "stats", definition, "--config", config, "--reset", "data-dir", "--data-dir", "x")
    assert code == 1 and "--data-dir is also given on this command line" in err and err.count("\n") == 1
    code, out, err = run_cli(capsys, "merge", "SHARD", "--reset", "output-dir")
    assert code == 1 and "--output-dir has no default to go back to" in err and err.count("\n") == 1


def test_reset_data_dir_of_the_shipped_train_config_takes_a_custom_benchmarks_files(tmp_path):
    from erc_synth.commands.train import make_parser

    definition = make_custom_benchmark(tmp_path / "bench", "csv")
    argv = ["--config", str(REPO / "configs" / "train" / "smoke.yaml"), "--benchmark", str(definition)]
    _, data_args, _ = make_parser().parse([*argv, "--reset", "data_dir", "--output_dir", str(tmp_path / "out")])
    assert data_args.data_dir is None and data_args.benchmark == str(definition)


# --- the fewest dialogues a build needs, stated in the error ----------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    validation=st.integers(min_value=0, max_value=45),
    test=st.integers(min_value=0, max_value=45),
    min_per_split=st.one_of(st.integers(min_value=1, max_value=60), st.integers(min_value=10**6, max_value=10**9)),
)
def test_the_number_of_dialogues_a_split_error_asks_for_is_the_fewest_that_builds(validation, test, min_per_split):
    ratios = SplitRatios(1 - (validation + test) / 100, validation / 100, test / 100)
    with pytest.raises(SplitError) as caught:
        split_counts(0, ratios, min_per_split=min_per_split)
    needed = int(re.search(r"Generate at least (\d+) dialogues", str(caught.value)).group(1))
    counts = split_counts(needed, ratios, min_per_split=min_per_split)
    assert min(n for n, r in zip(counts.values(), ratios.as_dict().values(), strict=True) if r > 0) >= min_per_split
    with pytest.raises(SplitError):
        split_counts(needed - 1, ratios, min_per_split=min_per_split)
    assert f"needs at least {min_per_split}" in str(caught.value)


# --- an experiment names a missing input before its first run ---------------------------------------------------


def test_a_long_command_names_each_missing_input_before_any_work(tmp_path, capsys, monkeypatch, benchmark_fixtures):
    # Every input a run reads from the experiment YAML: the synthetic dataset (each shape of a missing folder), the
    # base train config and the real data folder. None may start a run (no run folder, no log).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    synthetic = write_synthetic_dataset(tmp_path / "synthetic", modes=("natural",))
    train_config = tmp_path / "train.yaml"
    train_config.write_text("max_train_dialogues: 2\n")
    base = {
        "architectures": ["context"],
        "variants": ["org", "natural"],
        "benchmarks": ["meld"],
        "data_dirs": {"meld": str(benchmark_fixtures / "meld")},
        "synthetic_dataset": str(synthetic),
        "test_modes": ["natural"],
        "train_config": str(train_config),
    }
    cases = [
        ({"synthetic_dataset": "erc-synth"}, "synthetic_dataset 'erc-synth' is not an existing folder"),
        ({"synthetic_dataset": "runs/erc-synth"}, "synthetic_dataset 'runs/erc-synth' is not an existing folder"),
        ({"synthetic_dataset": str(tmp_path / "gone")}, f"synthetic_dataset {str(tmp_path / 'gone')!r} is not"),
        ({"train_config": "nowhere.yaml"}, "train_config 'nowhere.yaml'"),
        ({"train_config": str(tmp_path)}, "is a folder"),
        (
            {"data_dirs": {"meld": "missing/meld"}},
            "The real meld data folder 'missing/meld' is not an existing folder",
        ),
        ({"data_dirs": {}, "data_root": "nodata"}, "'nodata/meld' is not an existing folder; set data_root"),
    ]
    for number, (change, message) in enumerate(cases):
        out = tmp_path / f"experiment-{number}"
        path = tmp_path / f"experiment-{number}.yaml"
        path.write_text(yaml.safe_dump({**base, **change, "output_dir": str(out)}))
        code, stdout, err = run_cli(capsys, "experiment", path)
        assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err, (change, err)
        assert stdout == "" and not out.exists(), change
    # The demo generates for minutes before it reads the real data: a folder given on purpose is checked first.
    code, stdout, err = run_cli(capsys, "demo", "--data-dir", tmp_path / "gone", "--output-dir", tmp_path / "demo")
    assert code == 1 and f"The data folder {str(tmp_path / 'gone')!r} does not exist or is not a folder" in err
    assert not (tmp_path / "demo").exists()


def test_the_demo_checks_that_its_data_folder_holds_the_benchmark_before_generating(
    tmp_path, capsys, benchmark_fixtures
):
    # An existing folder without the files (empty, or a split missing) is found by the loader's own search before
    # any generation, in one line naming the folder and the file it expected; a complete one passes that check.
    empty = tmp_path / "empty"
    empty.mkdir()
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(next(benchmark_fixtures.glob("meld/**/train_sent_emo.csv")), partial)
    for folder, split in ((empty, "train"), (partial, "validation")):
        output = tmp_path / f"demo-{folder.name}"
        code, stdout, err = run_cli(capsys, "demo", "--data-dir", folder, "--output-dir", output)
        error = [line for line in err.splitlines() if not line.startswith(THREADS_LINE_PREFIX)]
        assert code == 1 and len(error) == 1 and "Traceback" not in err, err
        assert f"No {split} file for MELD under {folder}; expected" in err and stdout == "" and not output.exists(), (
            err
        )
    from erc_synth_datasets.loaders import benchmark_files

    assert set(benchmark_files("meld", benchmark_fixtures / "meld")) == {"train", "validation", "test"}


# --- no progress bar when progress is off, model loading included -----------------------------------------------

_BAR = "%|"  # what every tqdm bar draws


def test_silenced_progress_bars_cover_model_loading_and_dataset_preparation(tmp_path):
    # In a process that imported torch (and so tqdm) first, as a command that parsed its options has.
    encoder = make_tiny_encoder(tmp_path / "encoder")
    script = (
        "import sys, torch\n"
        "if sys.argv[1] == 'quiet':\n"
        "    from erc_synth_datasets.progress import silence_progress_bars\n"
        "    silence_progress_bars()\n"
        "import datasets\n"
        "from transformers import AutoModel\n"
        f"AutoModel.from_pretrained({encoder!r})\n"
        "datasets.Dataset.from_dict({'a': list(range(3000))}).map(lambda row: row)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TQDM_DISABLE"):
        env.pop(name, None)
    loud, quiet = (
        subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, env=env, timeout=300)
        for mode in ("loud", "quiet")
    )
    assert loud.returncode == 0 and quiet.returncode == 0, quiet.stderr
    assert "Loading weights" in loud.stderr and "Map" in loud.stderr  # the bars this test is about exist
    assert _BAR not in quiet.stderr, quiet.stderr


@pytest.mark.slow
def test_generate_with_progress_false_draws_no_bar_even_converting_the_default_model(tmp_path):
    # A fresh cache: the packaged default model is converted from GGUF (tqdm bars of its own), then loaded.
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "ERC_SYNTH_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "erc_synth.cli", "generate", "--benchmark", "meld", "--num-dialogues", "1"]
    command += ["--progress", "false", "--max-new-tokens", "48", "--max-attempts", "1", "--output-dir", tmp_path / "o"]
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env, timeout=600)
    assert (tmp_path / "cache" / "models").is_dir(), done.stderr  # the conversion ran
    assert "Traceback" not in done.stderr and _BAR not in done.stderr, done.stderr


# --- a model or an image a command is pointed at ----------------------------------------------------------------


def test_an_encoder_that_cannot_be_loaded_is_one_line_naming_it(tmp_path, capsys):
    run = write_run(tmp_path / "run", num_dialogues=10, num_rejected=0)  # enough dialogues to be embedded
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("not a model\n")
    for encoder in (tmp_path / "missing", tmp_path / "file.txt", tmp_path / "empty", "no such/hub id/x"):
        code, out, err = run_cli(capsys, "quality", run, "--encoder", encoder, "--output-dir", tmp_path / "q")
        error = [line for line in err.splitlines() if not line.startswith(THREADS_LINE_PREFIX)]
        assert code == 1 and len(error) == 1 and "Traceback" not in err, err
        assert f"The sentence encoder {str(encoder)!r} cannot be loaded" in err and "Hub id available offline" in err


def _image_options() -> set[tuple[str, str]]:
    """(command, flag) of every option that names an image file to write (the enumeration of this class)."""
    found = set()
    for name, parser in _command_parsers():
        for field_name, cls in parser._field_owner.items():
            spec = next(s for s in dataclasses.fields(cls) if s.name == field_name)
            if str(spec.metadata.get("metavar", "")).endswith(".png"):
                found.add((name, "--" + field_name.replace("_", "-")))
    return found


def test_an_image_path_whose_suffix_is_no_format_is_refused_before_any_work(tmp_path, capsys, benchmark_fixtures):
    table = next((REPO / "tests" / "fixtures" / "significance").glob("*.csv"))
    commands = {
        ("significance", "--plot"): ["significance", table],
        ("stats", "--plot"): ["stats", "meld", "--data-dir", benchmark_fixtures / "meld"],
    }
    assert _image_options() == set(commands)
    for (command, flag), argv in commands.items():
        for suffix in (".txt", ".xyz", ".png.bak"):
            plot = tmp_path / f"{command}{suffix}"
            code, out, err = run_cli(capsys, *argv, flag, plot)
            assert code == 1 and out == "" and err.count("\n") == 1, err
            assert f"{flag} {str(plot)!r}: the suffix chooses the image format" in err and ".pdf" in err
            assert not plot.exists()
        code, out, err = run_cli(capsys, *argv, flag, tmp_path / f"{command}.SVG")
        assert code == 0 and (tmp_path / f"{command}.SVG").read_text().lstrip().startswith("<?xml"), err
        code, out, err = run_cli(capsys, *argv, flag, tmp_path / f"{command}.pdf")
        assert code == 0 and (tmp_path / f"{command}.pdf").read_bytes().startswith(b"%PDF"), err


# --- pathological JSON in the run folders commands are handed ----------------------------------------------------


@pytest.mark.parametrize("pathology", [*PATHOLOGIES, "duplicate_key", "binary"])
def test_pathological_json_in_a_run_folder_is_one_line_naming_file_and_line(tmp_path, capsys, pathology):
    # The manifest and a shard line, read by every command that takes a run (build, quality, merge).
    run = write_run(tmp_path / "run", num_dialogues=3, num_rejected=0)
    manifest = run / "manifest.json"
    shard = next(run.glob("accepted*.jsonl"))
    if pathology == "duplicate_key":
        value, message = '{"status": "complete", "status": "running"}', "appears twice in one object"
    elif pathology == "binary":
        value, message = "\0", "NUL"
    else:
        make, message = PATHOLOGIES[pathology]
        value = make(5000 if pathology != "overflow" else 400)
    original = manifest.read_text()
    for path, line, text in ((manifest, 1, value), (shard, 2, None)):
        if path == shard:
            manifest.write_text(original)
            lines = shard.read_text().splitlines()
            text = "\n".join([lines[0], value, *lines[2:]]) + "\n"  # the manifest's count still holds
        path.write_text(text)
        for argv in (["build", run, "--output-dir", tmp_path / "ds"], ["quality", run, "--no-embeddings"]):
            code, out, err = run_cli(capsys, *argv)
            assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
            where = f"{path}:{line}" if pathology != "binary" or path == shard else str(path)
            expected = "not valid JSON" if pathology == "binary" and path == shard else message
            assert where in err and expected in err, err
        assert not (tmp_path / "ds").exists()


# --- a model or dataset folder train is pointed at -----------------------------------------------------------------


def test_train_refuses_each_kind_of_wrong_model_or_dataset_folder_in_one_line(tmp_path, capsys, benchmark_fixtures):
    # Every folder train loads from: the backbones (model, memory, knowledge) and the synthetic dataset. A missing
    # path, a file, a folder without a model's config.json or without a dataset card, a config the folder lacks.
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("not a folder\n")
    synthetic = write_synthetic_dataset(tmp_path / "synthetic", modes=("natural",))
    base = ["train", "--data_dir", benchmark_fixtures / "meld", "--output_dir", tmp_path / "out"]
    pretrain = ["--pretrain_config", "meld_natural"]
    cases = [
        (["--model_name_or_path", tmp_path / "gone"], "is not an existing folder"),
        (["--model_name_or_path", tmp_path / "file.txt"], "is a file, not a model folder"),
        (["--memory_model_name_or_path", tmp_path / "empty"], "has no config.json"),
        (["--knowledge_model_name_or_path", tmp_path / "empty"], "has no config.json"),
        (["--synthetic_dataset", tmp_path / "gone", *pretrain], "is not an existing folder"),
        (["--synthetic_dataset", tmp_path / "file.txt", "--test_configs", "meld_natural"], "not an existing folder"),
        (["--synthetic_dataset", tmp_path / "empty", *pretrain], "no README.md dataset card"),
        (["--synthetic_dataset", synthetic, "--pretrain_config", "meld_balanced"], "not 'meld_balanced'"),
    ]
    for extra, message in cases:
        code, out, err = run_cli(capsys, *base, *extra)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err and message in err, (extra, err)
        assert str(extra[1]) in err
    code, out, err = run_cli(capsys, "knowledge", "make-standin", "--output-dir", tmp_path / "file.txt")
    assert code == 1 and "is a file" in err and (tmp_path / "file.txt").read_text() == "not a folder\n"
