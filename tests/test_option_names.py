"""One name per thing in the options: `output_dir` for every output folder (the old `output` still works for this
release, with a warning), typed vocabulary fields, and `--help` of every command without numpy."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from erc_synth.cli import COMMANDS
from erc_synth.commands.generate import make_parser as generate_parser
from erc_synth_datasets.build import BuildConfig
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.vocabulary import Mode
from generation.config import GenerationConfig

REPO = Path(__file__).resolve().parents[1]


def _option_classes() -> list[type]:
    from test_hardening_inputs import _option_classes as every_options_class

    return every_options_class()


def test_every_options_class_names_its_output_folder_output_dir():
    with_output = {
        cls.__name__ for cls in _option_classes() if any(f.name == "output" for f in dataclasses.fields(cls))
    }
    assert with_output == set()
    assert {"GenerationConfig", "BuildConfig", "MergeOptions", "DemoOptions"} <= {
        cls.__name__ for cls in _option_classes() if any(f.name == "output_dir" for f in dataclasses.fields(cls))
    }


def test_the_old_keyword_and_attribute_still_work_with_a_deprecation_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="old name of `output_dir`"):
        config = GenerationConfig(benchmark="meld", output=str(tmp_path / "run"))
    assert config.output_dir == str(tmp_path / "run")
    with pytest.warns(DeprecationWarning):
        assert config.output == config.output_dir
    with pytest.warns(DeprecationWarning):
        assert BuildConfig(output="folder").output_dir == "folder"
    assert BuildConfig().output_dir == "erc-synth"
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="Give the output folder once"):
        BuildConfig(output_dir="a", output="b")


def test_the_old_flag_and_yaml_key_still_work_with_one_warning_line(tmp_path, capsys):
    (options,) = generate_parser().parse(["--benchmark", "meld", "--output", str(tmp_path / "a")])
    assert options.output_dir == str(tmp_path / "a")
    assert capsys.readouterr().err.strip() == (
        "erc-synth generate: --output is the old spelling of --output-dir; it still works for this release, use "
        "--output-dir."
    )
    config = tmp_path / "gen.yaml"
    config.write_text(f"benchmark: meld\noutput: {tmp_path / 'b'}\n", encoding="utf-8")
    (options,) = generate_parser().parse(["--config", str(config)])
    assert options.output_dir == str(tmp_path / "b")
    assert "the key 'output' is the old spelling of 'output_dir'" in capsys.readouterr().err
    (options,) = generate_parser().parse(["--benchmark", "meld", "--output-dir", str(tmp_path / "c")])
    assert capsys.readouterr().err == ""


def test_batch_size_is_the_one_name_of_requests_in_flight_for_every_backend(tmp_path, capsys):
    from generation.backends import build_backend

    served = {"benchmark": "meld", "backend": "openai", "base_url": ["http://127.0.0.1:9/v1"], "model": "m"}
    assert build_backend(GenerationConfig(**served)).max_in_flight == 8  # the openai default, batch_size unset
    assert build_backend(GenerationConfig(**served, batch_size=3)).max_in_flight == 3
    with pytest.warns(DeprecationWarning, match="old name of `batch_size`"):
        config = GenerationConfig(**served, max_in_flight=5)
    assert config.batch_size == 5 and build_backend(config).max_in_flight == 5
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="Give the value once, as batch_size"):
        GenerationConfig(**served, batch_size=4, max_in_flight=6)
    (options,) = generate_parser().parse(["--benchmark", "meld", "--max-in-flight", "7"])
    assert options.batch_size == 7
    assert capsys.readouterr().err.strip() == (
        "erc-synth generate: --max-in-flight is the old spelling of --batch-size; it still works for this release, "
        "use --batch-size."
    )
    config_file = tmp_path / "gen.yaml"
    config_file.write_text("benchmark: meld\nmax_in_flight: 9\n", encoding="utf-8")
    (options,) = generate_parser().parse(["--config", str(config_file)])
    assert options.batch_size == 9
    assert "the key 'max_in_flight' is the old spelling of 'batch_size'" in capsys.readouterr().err
    assert "--max-in-flight" in generate_parser().format_help()


def test_the_generation_mode_is_typed_and_refused_by_the_vocabulary(capsys):
    assert GenerationConfig(mode="balanced").mode is Mode.BALANCED
    assert (
        GenerationConfig().data_settings()["mode"] == "natural"
        and type(GenerationConfig().data_settings()["mode"]) is str
    )
    with pytest.raises(ConfigError, match=r"mode must be one of \['natural', 'balanced'\], but got 'skewed'"):
        generate_parser().parse(["--benchmark", "meld", "--mode", "skewed"])


_PROBE = """
import json, sys
from erc_synth.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(name for name in ("numpy", "scipy", "sklearn", "pandas") if name in sys.modules)))
"""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_of_every_command_loads_no_numpy(command):
    """numpy alone takes about 0.1 s to import: `--help` stays under 0.3 s only without it
    (`python benchmarks/bench_help.py` measures every command)."""
    code = _PROBE.format(argv=[command, "--help"])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
