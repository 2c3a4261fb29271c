"""`ErcTrainingArguments`: `transformers.TrainingArguments` with the fields and defaults of `ErcTrainingFields`.

Kept apart from `trainers.config` because defining it imports transformers; import it from either module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from transformers import TrainingArguments

from erc_synth_datasets.configuration import check_fields

from .config import ErcTrainingFields

__all__ = ["ErcTrainingArguments"]


@dataclass
class ErcTrainingArguments(ErcTrainingFields, TrainingArguments):
    """`TrainingArguments` with the defaults of ERC fine-tuning and the settings of the pretraining stage.

    The fields are `TrainingArguments`' in their order, those of `ErcTrainingFields` replacing the ones of the same
    name in place and the new ones after them (the order `dataclasses` gives a subclass that redeclares fields).
    """

    def __post_init__(self) -> None:
        import torch

        check_fields(self)  # every number within its range, TrainingArguments' own included (`field_ranges`)

        if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # Launched as several processes on a machine without a GPU (`accelerate launch --multi_gpu
            # --num_processes N` or `torchrun`): without use_cpu every process would train alone as rank 0 of 1.
            self.use_cpu = True
        if self.bf16 is None:
            self.bf16 = bool(not self.use_cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        super().__post_init__()
