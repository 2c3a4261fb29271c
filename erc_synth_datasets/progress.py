"""Progress bars of the libraries erc-synth loads, switched off in one place (`--progress false`, `--disable_tqdm`).

huggingface_hub, transformers and datasets draw their bars through their own switches; some code paths call tqdm
directly (transformers' conversion of a GGUF file, which the packaged default model goes through on first use), and
tqdm reads `TQDM_DISABLE` once, when it is first imported. `silence_progress_bars` therefore sets the variables the
libraries read when they are imported (in this process and in the processes it starts) and turns off the switches of
those already imported; a command calls it before it imports torch, which imports tqdm.
"""

from __future__ import annotations

import os
import sys

__all__ = ["PROGRESS_VARIABLES", "silence_progress_bars"]

#: The environment variables that switch the bars off in libraries imported later and in child processes.
PROGRESS_VARIABLES = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}


def silence_progress_bars() -> None:
    """No progress bar from huggingface_hub, transformers, datasets or tqdm from here on (model loading included)."""
    os.environ.update(PROGRESS_VARIABLES)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        from datasets.utils.tqdm import disable_progress_bars as disable_datasets_bars

        disable_datasets_bars()
