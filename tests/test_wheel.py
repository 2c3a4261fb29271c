"""The package works from a built wheel, not only from this checkout: default prompts and personas are package data.

The wheel is built from a copy of the sources and installed with `pip install --no-deps --target DIR`; commands
run with `PYTHONPATH=DIR` from a folder outside the checkout, so the installed copy shadows the editable one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import write_run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
_SKIP = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
    "runs", "demo-output", "erc-synth", "tests",
)  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=_SKIP)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)],
                   check=True, timeout=600)  # fmt: skip
    wheels = sorted((root / "dist").glob("erc_synth-*.whl"))
    assert len(wheels) == 1, wheels
    target = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheels[0])], check=True, timeout=600)
    return target


def _run(installed: Path, cwd: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed), "HF_HUB_OFFLINE": "1", "ERC_SYNTH_CONFIGS": ""}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "erc_synth.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_wheel_ships_its_defaults_and_runs_generate_help_and_build(installed, tmp_path):
    code = (
        "import json, erc_synth_datasets, generation\n"
        "from erc_synth_datasets.benchmarks import get_benchmark\n"
        "from generation.prompts import default_prompt_file, load_prompt_template\n"
        "from generation.personas import default_persona_file, load_persona_pools\n"
        "meld = get_benchmark('meld')\n"
        "print(json.dumps({'package': generation.__file__, 'prompt': str(default_prompt_file(meld)),\n"
        "    'persona': str(default_persona_file()), 'version': load_prompt_template(None, meld).version,\n"
        "    'pools': load_persona_pools().version}))\n"
    )
    where = _run(installed, tmp_path, code=code)
    assert where.returncode == 0, where.stderr
    found = json.loads(where.stdout)
    for key in ("package", "prompt", "persona"):
        assert found[key].startswith(str(installed)), (key, found[key])
    assert found["version"] == "meld-v3" and found["pools"]

    shown = _run(installed, tmp_path, "generate", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "usage: erc-synth generate" in shown.stdout and "--output-dir" in shown.stdout

    run = write_run(tmp_path / "runs" / "meld_balanced", "meld", "balanced", num_dialogues=8, seed=1)
    out = tmp_path / "erc-synth"
    built = _run(installed, tmp_path, "build", str(run), "--output-dir", str(out), "--split-ratios", "0.5,0.25,0.25")
    assert built.returncode == 0, built.stderr
    assert "meld_balanced: train 4, validation 2, test 2 dialogues" in built.stdout
    loaded = _run(
        installed,
        tmp_path,
        code=f"from datasets import load_dataset; print(load_dataset({str(out)!r}, 'meld_balanced').num_rows)",
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "'train': 4, 'validation': 2, 'test': 2" in loaded.stdout
