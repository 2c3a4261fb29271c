"""Every bad file, setting and output path gives one line naming the file, line or option (exit status 1), never a
traceback, a hang or a silently accepted value. One test per class of failure, on real files; property tests where
the class is open-ended (pathological JSON, numbers outside a field's range)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erc_synth.cli import main as erc_synth
from erc_synth_datasets import DataFileError
from erc_synth_datasets.configuration import ConfigError, check_values, field_range, field_types
from erc_synth_datasets.errors import MAX_MESSAGE_CHARS, ErcSynthError, report_error
from erc_synth_datasets.files import read_yaml_mapping
from erc_synth_datasets.loaders import read_benchmark
from erc_synth_datasets.threads import THREADS_LINE_PREFIX

REPO = Path(__file__).resolve().parents[1]
BINARY = bytes(range(256)) * 4
LATIN_1 = "temperature: 0.5  # caf\u00e9\n".encode("latin-1")


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = erc_synth([str(arg) for arg in argv])
    err = capsys.readouterr().err
    return code, err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    # The line stating the torch thread choice is information, printed before any model loads.
    error = [line for line in err.splitlines() if not line.startswith(THREADS_LINE_PREFIX)]
    assert "Traceback" not in err and len(error) == 1, err
    for needle in needles:
        assert needle in err, err


# --- files that are not what they should be ---------------------------------------------------------------------


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each way a text or YAML file can be wrong, with a fragment of the message it must give."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {
        "binary": (BINARY, "binary file"),
        "latin-1": (LATIN_1, "not valid UTF-8"),
        "duplicate-key": (
            b"temperature: 0.5\nseed: 1\ntemperature: 2.5\n",
            "line 3: the key 'temperature' is given twice",
        ),
        "alias": (b"a: &x 1\nseed: *x\n", "alias *x is not allowed"),
    }
    out = {}
    for name, (content, message) in cases.items():
        path = folder / f"{name}.yaml"
        path.write_bytes(content)
        out[name] = (path, message)
    out["folder"] = (folder, "is a folder")
    return out


@pytest.mark.parametrize(
    "flag",
    ["--config", "--prompt-file", "--persona-file", "--benchmark"],
)
def test_every_yaml_a_command_reads_refuses_each_bad_file_in_one_line(capsys, tmp_path, flag):
    # --config, the prompt template, the persona pools and a custom benchmark are read by the one reader.
    for path, message in _bad_files(tmp_path / "files").values():
        argv = [
            "generate",
            "--benchmark",
            "meld",
            "--persona",
            "--output-dir",
            tmp_path / "out",
            "--num-dialogues",
            "1",
        ]
        argv += [flag, path]
        code, err = run_cli(capsys, *argv)
        if flag == "--benchmark" and path.is_dir():
            message = "Unknown benchmark"  # a folder is not taken for a YAML file: the name is looked up
        assert_one_line(code, err, str(path), message)
        assert not (tmp_path / "out").exists()


def test_a_scores_table_that_is_not_text_is_one_line(capsys, tmp_path):
    table = tmp_path / "table.csv"
    for content, message in ((BINARY, "binary file"), (LATIN_1, "not valid UTF-8")):
        table.write_bytes(content)
        assert_one_line(*run_cli(capsys, "significance", table), str(table), message)
    assert_one_line(*run_cli(capsys, "significance", tmp_path), str(tmp_path), "is a folder")


def test_a_billion_laughs_config_is_refused_at_once_in_a_short_line(capsys, tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{n}: &{n} [{','.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    config = tmp_path / "lol.yaml"
    config.write_text("\n".join([*lines, "seed: *i"]) + "\n")
    start = time.perf_counter()
    code, err = run_cli(capsys, "generate", "--config", config, "--benchmark", "meld", "--output-dir", tmp_path / "o")
    assert time.perf_counter() - start < 5
    assert_one_line(code, err, str(config), "line 2: the alias *a is not allowed")
    assert len(err) < 400


def test_duplicate_keys_in_a_benchmark_yaml_are_refused(tmp_path):
    definition = (REPO / "configs" / "benchmarks" / "example_custom.yaml").read_text()
    bench = tmp_path / "twice.yaml"
    bench.write_text(definition + "labels: [a, b]\n")
    with pytest.raises(ErcSynthError, match=r"the key 'labels' is given twice \(first on line \d+\)"):
        read_benchmark(str(bench), tmp_path)
    assert read_yaml_mapping(REPO / "configs" / "benchmarks" / "example_custom.yaml", what="x", error=ValueError)


# --- pathological JSON in data files ----------------------------------------------------------------------------

# Each pathology: (JSON text of the value, what the message says). The value is put on line 3 of every document.
PATHOLOGIES = {
    "deep": (lambda n: "[" * n + "]" * n, "nested too deeply"),
    "huge_int": (lambda n: "1" * n, "digits; at most 100"),
    "nan": (lambda n: "NaN", "NaN is not a JSON value"),
    "overflow": (lambda n: f"1e{n}", "too large for a floating-point value"),
}


def _document(fmt: str, value: str, duplicate: bool) -> tuple[str, str]:
    """(file name, content) of a data file whose line 3 holds `value` (or an object with a key twice)."""
    emotion = '"emotion": "Neutral", "emotion": "Sad"' if duplicate else '"emotion": "Neutral"'
    label = '"label": "neu", "label": "sad"' if duplicate else '"label": "neu"'
    if fmt == "emorynlp":
        text = (
            '{"episodes": [{"episode_id": "e1", "scenes": [{"scene_id": "s1", "utterances": [\n'
            '{"utterance_id": "u1", "speakers": ["Ross Geller"], "transcript": "Hi.", "emotion": "Neutral"},\n'
            f'{{"utterance_id": "u2", "speakers": ["Ross Geller"], "transcript": {value}, {emotion}}}\n'
            "]}]}]}\n"
        )
        return "emotion-detection-tst.json", text
    if fmt == "dagerc":
        first = '{"text": "Hi.", "speaker": "M", "label": "neu"}'
        text = f'[[\n{first},\n{{"text": {value}, "speaker": "F", {label}}}\n]]\n'
        return "test_data.json", text
    row = '{"dialogue_id": "d1", "turn": 0, "speaker": "Agent", "utterance": "Hi.", "emotion": "neutral"}'
    emotion = '"emotion": "neutral", "emotion": "annoyed"' if duplicate else '"emotion": "neutral"'
    bad = f'{{"dialogue_id": "d1", "turn": 1, "speaker": "Customer", "utterance": {value}, {emotion}}}'
    return "test.jsonl", "\n".join([row, row.replace('"turn": 0', '"turn": 2'), bad]) + "\n"


def _read(fmt: str, folder: Path) -> None:
    if fmt == "emorynlp":
        read_benchmark("emorynlp", folder, format="json", splits=("test",))
    elif fmt == "dagerc":
        read_benchmark("iemocap", folder, format="json", splits=("test",))
    else:
        read_benchmark(str(REPO / "configs" / "benchmarks" / "example_custom.yaml"), folder, splits=("test",))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(["emorynlp", "dagerc", "generic_jsonl"]),
    pathology=st.sampled_from([*PATHOLOGIES, "duplicate_key"]),
    size=st.integers(min_value=101, max_value=120_000),
)
def test_pathological_json_in_every_json_reader_is_a_data_file_error_with_its_line(tmp_path, fmt, pathology, size):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    if pathology == "duplicate_key":
        value, message = '"Hi."', "appears twice in one object"
    else:
        make, message = PATHOLOGIES[pathology]
        value = make(size if pathology != "overflow" else 309 + size % 5000)
    name, text = _document(fmt, value, duplicate=pathology == "duplicate_key")
    (folder / name).write_text(text, encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(DataFileError) as caught:
        _read(fmt, folder)
    assert time.perf_counter() - start < 10
    assert f"{folder / name}:3: " in str(caught.value) and message in str(caught.value)
    assert len(str(caught.value)) < 500


# --- the JSON files erc-synth writes and reads back -------------------------------------------------------------


def _corruptions(original: str) -> dict[str, tuple[bytes, str]]:
    """Each way a JSON file erc-synth wrote can come back corrupted, with a fragment of the message it must give."""
    cases = {
        name: (make(5000 if name != "overflow" else 400).encode(), message)
        for name, (make, message) in PATHOLOGIES.items()
    }
    cases["duplicate_key"] = (b'{"status": "complete", "status": "running"}', "appears twice in one object")
    cases["binary"] = (BINARY, "binary file")
    cases["truncated"] = (original[: len(original) // 2].encode(), "not valid JSON")
    return cases


def test_every_json_file_erc_synth_reads_back_refuses_each_corruption_in_one_line(tmp_path, capsys, caplog):
    # The enumeration: every reader of a JSON file the project writes (grep json.load outside tests), each handed
    # the file a real run writes, corrupted in each way; a reader that raises names the file in one line, a reader
    # that only decorates a card (quality, utility) leaves the block out with a warning naming the file.
    from run_fixtures import write_synthetic_dataset

    from erc_synth.release import ReleaseState
    from erc_synth_datasets.build import BuildError, read_config_build
    from erc_synth_datasets.files import write_json_atomic
    from erc_synth_datasets.quality.outputs import (
        REPORT_FILES,
        QualityReportError,
        card_quality_section,
        config_report_folder,
        read_report,
    )
    from erc_synth_datasets.utility_outputs import UTILITY_FILES, read_utility, utility_folder
    from trainers.errors import TrainingConfigError
    from trainers.models import load_classifier_config
    from trainers.results import read_results, results_complete

    dataset = write_synthetic_dataset(tmp_path / "ds", modes=("natural",))
    build_info = dataset / "meld_natural" / "build_info.json"
    quality = config_report_folder(dataset, "meld_natural") / REPORT_FILES["json"]
    write_json_atomic(quality, {"counts": {"accepted": 20, "utterances": 60}, "real": {"kind": "none"}})
    utility = utility_folder(dataset, "meld") / UTILITY_FILES["json"]
    write_json_atomic(utility, {"benchmark": "meld", "variants": {}})
    results = write_json_atomic(tmp_path / "run" / "results.json", {"status": "complete", "test": {}})
    state = write_json_atomic(tmp_path / "release" / "state.json", {"finished": {}})
    classifier = write_json_atomic(tmp_path / "model" / "config.json", {"model_type": "erc-synth"})

    def stats_command(path: Path) -> str:
        code, err = run_cli(capsys, "stats", dataset, "--json")
        assert_one_line(code, err)
        return err

    def raised(read, error):
        def call(path: Path) -> str:
            with pytest.raises(error) as caught:
                read(path)
            return str(caught.value)

        return call

    def warned(read):
        def call(path: Path) -> str:
            caplog.clear()
            assert read(path) is None
            return caplog.text

        return call

    readers = {
        build_info: [stats_command, raised(lambda p: read_config_build(dataset, "meld_natural"), BuildError)],
        quality: [
            raised(read_report, QualityReportError),
            warned(lambda p: card_quality_section(dataset, "meld_natural", dialogues=20, utterances=60)),
        ],
        utility: [warned(lambda p: read_utility(dataset, "meld"))],
        results: [raised(read_results, TrainingConfigError)],
        state: [raised(lambda p: ReleaseState(p.parent), ConfigError)],
        classifier: [raised(lambda p: load_classifier_config(p.parent), TrainingConfigError)],
    }
    for path, calls in readers.items():
        original = path.read_text(encoding="utf-8")
        for name, (content, message) in _corruptions(original).items():
            path.write_bytes(content)
            for call in calls:
                said = call(path)
                assert "Traceback" not in said and str(path) in said and message in said, (path, name, said)
                assert len(said.strip().splitlines()) == 1 and len(said) < 1000, (path, name, said)
        path.write_text(original, encoding="utf-8")
    results.write_bytes(b"[" * 5000)
    assert results_complete(results.parent) is False


def test_a_cache_line_that_is_corrupted_is_skipped_and_the_others_are_kept(tmp_path):
    # The append-only caches (judgements, resampled labels) skip a bad line, whatever its corruption, and keep
    # every good one: the skipped entry is computed again.
    from generation.judge import read_judgements
    from generation.resample import _read_cache

    good = {"dialogue_id": "d1", "judge_model": "m", "settings": "s", "text_sha256": "h", "seed": 1}
    for name, (content, _) in _corruptions(json.dumps(good)).items():
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(json.dumps(good).encode() + b"\n" + content.replace(b"\n", b" ") + b"\n")
        assert read_judgements(path) == [good], name
        assert list(_read_cache(path, "s")) == [("d1", "h", 1)], name


# --- unreadable files and folders -------------------------------------------------------------------------------


def _without_file_permission_override() -> list[str]:
    """A command prefix under which file modes apply (root reads any file unless it drops these capabilities)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be made to apply")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize(
    ("benchmark", "files"),
    [
        ("meld", ("train_sent_emo.csv", "dev_sent_emo.csv", "test_sent_emo.csv")),
        ("emorynlp", ("EMORY_train.txt", "EMORY_dev.txt", "EMORY_test.txt")),
        ("iemocap", ("iemocap_train.txt", "iemocap_dev.txt", "iemocap_test.txt")),
    ],
)
def test_unreadable_files_and_folders_of_the_builtin_loaders_are_one_line(benchmark_fixtures, benchmark, files):
    root = Path(tempfile.mkdtemp(prefix="erc-unreadable-"))
    try:
        os.chmod(root, 0o755)
        folder = root / benchmark
        shutil.copytree(benchmark_fixtures / benchmark, folder)
        for path in [folder, *folder.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        env = {**os.environ, "HOME": str(root), "HF_HOME": str(root / "hf"), "XDG_CACHE_HOME": str(root / "cache")}
        command = [*_without_file_permission_override(), sys.executable, "-m", "erc_synth.cli", "stats"]
        command += [benchmark, "--data-dir", str(folder)]

        os.chmod(folder / files[0], 0o000)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"Data file {str(folder / files[0])!r} cannot be read: permission denied" in done.stderr

        os.chmod(folder / files[0], 0o644)
        os.chmod(folder, 0o000)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"The data folder {str(folder)!r} cannot be read: permission denied" in done.stderr
    finally:
        os.chmod(root / benchmark, 0o755)
        shutil.rmtree(root)


# --- output paths that cannot be written ------------------------------------------------------------------------


def test_an_output_path_that_cannot_be_written_is_one_line(capsys, benchmark_fixtures, tmp_path):
    data = benchmark_fixtures / "meld"
    for target, message in ((tmp_path, "it is a folder"), (Path("/proc/erc-synth.png"), "Cannot write")):
        code, err = run_cli(capsys, "stats", "meld", "--data-dir", data, "--plot", target)
        assert_one_line(code, err, f"Cannot write {str(target)!r}", message)


# --- numbers: NaN, infinities and values outside a field's range -----------------------------------------------


def _option_classes() -> list[type]:
    """Every options dataclass a command parses (the enumeration of this class of failure)."""
    from erc_synth.commands.demo import DemoOptions
    from erc_synth.commands.quality import ClassifierOptions
    from erc_synth.commands.significance import SignificanceArguments
    from erc_synth.commands.stats import StatsOptions
    from erc_synth_datasets.build import BuildConfig
    from erc_synth_datasets.publish import PushConfig
    from erc_synth_datasets.quality.report import QualitySettings
    from generation.config import GenerationConfig
    from generation.merge import MergeOptions
    from trainers.config import DataArguments, ErcTrainingFields, ModelArguments
    from trainers.experiment import ExperimentConfig
    from trainers.predict import PredictArguments
    from trainers.training_args import ErcTrainingArguments  # TrainingArguments' own numbers: `field_ranges`

    return [
        ErcTrainingArguments,
        BuildConfig,
        DemoOptions,
        ClassifierOptions,
        StatsOptions,
        PushConfig,
        QualitySettings,
        GenerationConfig,
        MergeOptions,
        DataArguments,
        ErcTrainingFields,
        ModelArguments,
        ExperimentConfig,
        PredictArguments,
        SignificanceArguments,
    ]


def _number_fields(cls: type) -> list[tuple[dataclasses.Field, type]]:
    types = field_types(cls)
    out = []
    for spec in dataclasses.fields(cls):
        members = {
            t for t in (getattr(types[spec.name], "__args__", None) or (types[spec.name],)) if t is not type(None)
        }
        if members and members <= {int, float}:
            out.append((spec, float if float in members else int))
    return out


def test_every_number_option_has_a_range():
    missing = [
        f"{cls.__name__}.{spec.name}"
        for cls in _option_classes()
        for spec, _ in _number_fields(cls)
        if field_range(cls, spec) is None
    ]
    assert not missing, f"number options without a range (metadata 'range' or the class's field_ranges): {missing}"


NUMBER_FIELDS = [(cls, spec, kind) for cls in _option_classes() for spec, kind in _number_fields(cls)]


@settings(max_examples=200, deadline=None)
@given(case=st.sampled_from(NUMBER_FIELDS), data=st.data())
def test_nan_infinities_and_out_of_range_numbers_are_refused_naming_the_option(case, data):
    from erc_synth_datasets.configuration import Interval

    cls, spec, kind = case
    interval = Interval.parse(field_range(cls, spec))
    below = st.floats(max_value=interval.low, exclude_max=interval.low_closed, allow_nan=False)
    above = st.floats(min_value=interval.high, exclude_min=interval.high_closed, allow_nan=False)
    choices = [st.just(math.nan), st.just(-math.inf)] if kind is float else []
    if kind is int:
        below = st.integers(max_value=math.ceil(interval.low) - (1 if interval.low_closed else 0))
        choices.append(below)
        if not math.isinf(interval.high):
            choices.append(st.integers(min_value=math.floor(interval.high) + (1 if interval.high_closed else 0)))
    else:
        choices.append(below)
        if not math.isinf(interval.high):
            choices.append(above)
    value = data.draw(st.one_of(choices))
    with pytest.raises(ConfigError) as caught:
        check_values(cls, {spec.name: [value] if "list" in str(spec.type) else value})
    message = str(caught.value)
    assert f"--{spec.name.replace('_', '-')} ({spec.name})" in message and str(interval) in message


@pytest.mark.parametrize(
    "argv",
    [
        ["quality", "RUN", "--repetitive-threshold", "5"],
        ["quality", "RUN", "--near-duplicate-jaccard", "nan"],
        ["quality", "RUN", "--legend-run=-1"],
        ["quality", "RUN", "--cluster-distance", "nan"],
        ["build", "RUN", "--split-ratios", "0.8,nan,0.1"],
        ["build", "RUN", "--split-ratios", "nan,0.1,0.1"],
        ["generate", "--benchmark", "meld", "--output-dir", "OUT", "--batch-size", "1000000000"],
        ["generate", "--benchmark", "meld", "--output-dir", "OUT", "--max-new-tokens", "1000000000000"],
        ["generate", "--benchmark", "meld", "--output-dir", "OUT", "--dtype", "bogus"],
        ["generate", "--benchmark", "meld", "--output-dir", "OUT", "--backend", "openai", "--base-url", "ftp://x/v1"],
        ["generate", "--benchmark", "meld", "--output-dir", "OUT", "--backend", "openai", "--base-url", "not a url"],
        ["train", "--output_dir", "OUT", "--seed=-1"],
        ["train", "--output_dir", "OUT", "--seed", "4294967296"],
        ["train", "--output_dir", "OUT", "--learning_rate", "nan"],
        ["train", "--output_dir", "OUT", "--num_train_epochs=-1"],
        ["train", "--output_dir", "OUT", "--per_device_train_batch_size", "0"],
        ["train", "--output_dir", "OUT", "--model_name_or_path", "/nonexistent"],
        ["significance", "TABLE", "--alpha", "nan"],
    ],
    ids=lambda argv: " ".join(argv[:1] + argv[-2:]),
)
def test_each_reported_setting_is_refused_in_one_line_before_any_work(capsys, tmp_path, argv):
    argv = [str(tmp_path / "out") if a == "OUT" else str(tmp_path) if a in ("RUN", "TABLE") else a for a in argv]
    code, err = run_cli(capsys, *argv)
    option = next(a for a in reversed(argv) if a.startswith("--")).split("=")[0]
    assert_one_line(code, err)
    assert option.lstrip("-").replace("-", "_") in err.replace("-", "_"), err
    assert not (tmp_path / "out").exists()


def test_a_long_message_is_cut_to_a_bounded_line(capsys):
    report_error("erc-synth x", ConfigError("x" * 1_000_000 + "\nend"), debug=False)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < MAX_MESSAGE_CHARS + 100 and err.rstrip().endswith("end")


def test_a_data_file_json_reader_takes_well_formed_files_unchanged(benchmark_fixtures):
    rows, _ = read_benchmark("emorynlp", benchmark_fixtures / "emorynlp", format="json", splits=("test",))
    data = json.loads((benchmark_fixtures / "emorynlp" / "emotion-detection-tst.json").read_text())
    scenes = [scene for episode in data["episodes"] for scene in episode["scenes"]]
    assert len(rows["test"]) == len(scenes)


@pytest.mark.slow
def test_a_batch_the_model_or_machine_cannot_hold_is_refused_before_any_request(capsys, tmp_path):
    # The packaged SmolLM2 (8192 tokens of context, a few GiB free here): refused up front, no bars, no attempts.
    base = ["generate", "--benchmark", "meld", "--num-dialogues", "1", "--progress", "false"]
    code, err = run_cli(capsys, *base, "--output-dir", tmp_path / "a", "--max-new-tokens", "100000")
    assert_one_line(code, err, "--max-new-tokens 100000 does not fit the context", "use at most")
    code, err = run_cli(
        capsys, *base, "--output-dir", tmp_path / "b", "--batch-size", "65536", "--max-new-tokens", "7000"
    )
    assert_one_line(code, err, "--batch-size 65536 with --max-new-tokens 7000 needs about", "at most --batch-size")
    assert "Loading weights" not in err
