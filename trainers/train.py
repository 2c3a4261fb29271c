"""The script form of `erc-synth train`, for launchers that run a file or a module in each process.

    accelerate launch trainers/train.py --config configs/train/smoke.yaml
    python -m trainers.train --config configs/train/smoke.yaml   (what `erc-synth experiment` launches)

The command itself is `erc_synth.commands.train`; this file only makes the checkout importable when it is run as a
script and calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # `accelerate launch trainers/train.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from erc_synth.commands.train import main, make_parser  # noqa: E402 (after the path set-up above)

__all__ = ["main", "make_parser"]

if __name__ == "__main__":
    sys.exit(main())
