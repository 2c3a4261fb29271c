"""`GenerationConfig`: every setting of `erc-synth generate`, as YAML keys (configs/generation/*.yaml) and flags."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from erc_synth_datasets.configuration import ConfigError

from .default_model import DEFAULT_MODEL

__all__ = ["MODES", "RUNTIME_FIELDS", "GenerationConfig", "configs_dir", "settings_hash"]

MODES = ("natural", "balanced")

#: Fields that change speed or connections but not the meaning of the generated data; they are left out of the
#: settings hash, so a run may be resumed with a different batch size, device or server list.
RUNTIME_FIELDS = frozenset(
    {
        "output",
        "batch_size",
        "device",
        "dtype",
        "num_threads",
        "progress",
        "base_url",
        "api_key_env",
        "max_in_flight",
        "request_timeout",
        "max_retries",
    }
)


def configs_dir() -> Path:
    """The folder of editable configuration files: `$ERC_SYNTH_CONFIGS`, else `configs/` of this checkout."""
    import os

    root = os.environ.get("ERC_SYNTH_CONFIGS")
    return Path(root) if root else Path(__file__).resolve().parent.parent / "configs"


@dataclass
class GenerationConfig:
    """Settings of one generation run. YAML keys in `configs/generation/*.yaml` map 1:1 onto these fields; flags
    override the YAML."""

    benchmark: str | None = field(
        default=None,
        metadata={
            "help": "Benchmark whose labels, speakers and style the dialogues follow: a registry name "
            "(meld, emorynlp, iemocap) or the path of a custom benchmark YAML."
        },
    )
    mode: str = field(
        default="natural",
        metadata={
            "help": "natural: no emotion pre-conditioning; balanced: each dialogue must contain a target "
            "emotion, the targets cycling over all labels."
        },
    )
    persona: bool = field(
        default=False,
        metadata={
            "help": "Condition every dialogue on layered speaker personas and a situation (combinable with "
            "either mode)."
        },
    )
    num_dialogues: int = field(default=10, metadata={"help": "Number of prompts in the run's plan (all shards)."})
    output: str | None = field(default=None, metadata={"help": "Run directory (created; re-running resumes)."})
    seed: int = field(default=0, metadata={"help": "Run seed; every attempt's seed is derived from it."})
    backend: str = field(default="transformers", metadata={"help": "LLM backend: transformers or openai."})
    model: str = field(
        default=DEFAULT_MODEL,
        metadata={
            "help": f"Model: '{DEFAULT_MODEL}' (packaged, no download), a Hub id, a local folder, or the "
            "served model name for the openai backend."
        },
    )
    prompt_file: str | None = field(
        default=None,
        metadata={
            "help": "Prompt template YAML; default configs/prompts/<benchmark>.yaml, else "
            "configs/prompts/default.yaml."
        },
    )
    persona_file: str | None = field(
        default=None, metadata={"help": "Persona pools YAML; default configs/personas/default.yaml."}
    )
    constrained: bool = field(
        default=True,
        metadata={
            "help": "Constrained decoding of a JSON document matching the benchmark's schema (when the "
            "backend supports it); --no-constrained uses the free line format, parsed leniently."
        },
    )
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature (0 = greedy)."})
    top_p: float | None = field(default=0.95, metadata={"help": "Nucleus sampling threshold."})
    top_k: int | None = field(default=100, metadata={"help": "Top-k sampling cut-off."})
    typical_p: float | None = field(default=0.95, metadata={"help": "Typical sampling mass."})
    repetition_penalty: float | None = field(default=1.0, metadata={"help": "Repetition penalty (1.0 = none)."})
    max_new_tokens: int = field(default=1536, metadata={"help": "Maximum tokens generated per dialogue."})
    min_turns: int = field(default=2, metadata={"help": "Fewest utterances a valid dialogue has (at least 2)."})
    max_turns: int = field(default=12, metadata={"help": "Most utterances a valid dialogue may have."})
    max_utterance_chars: int = field(
        default=200, metadata={"help": "Longest utterance allowed by the constrained JSON schema, in characters."}
    )
    max_attempts: int = field(
        default=3, metadata={"help": "Attempts per prompt (each with a new derived seed) before giving up on it."}
    )
    batch_size: int = field(default=8, metadata={"help": "Requests sent to the backend at once."})
    device: str | None = field(default=None, metadata={"help": "transformers device; default cuda if available."})
    dtype: str | None = field(
        default=None,
        metadata={"help": "transformers dtype: bfloat16, float16, float32; default bf16 on CUDA, float32 on CPU."},
    )
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "transformers on CPU: torch threads (default: torch's choice; 1 is fastest when the cores "
            "are shared with other busy processes)."
        },
    )
    shard_index: int = field(default=0, metadata={"help": "This process's shard, in [0, num_shards)."})
    num_shards: int = field(
        default=1, metadata={"help": "Split the plan into this many shards (plan index i goes to i %% num_shards)."}
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})
    base_url: list[str] | None = field(
        default=None, metadata={"help": "openai backend: server base URLs (several spread the load)."}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "openai backend: environment variable holding the API key."}
    )
    max_in_flight: int = field(default=8, metadata={"help": "openai backend: concurrent requests."})
    request_timeout: float = field(default=120.0, metadata={"help": "openai backend: seconds per request."})
    max_retries: int = field(default=3, metadata={"help": "openai backend: retries of a failed request."})

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, but got mode={self.mode!r}.")
        checks = {
            "num_dialogues": (self.num_dialogues, 1),
            "max_new_tokens": (self.max_new_tokens, 1),
            "min_turns": (self.min_turns, 2),
            "max_attempts": (self.max_attempts, 1),
            "batch_size": (self.batch_size, 1),
            "num_shards": (self.num_shards, 1),
            "max_utterance_chars": (self.max_utterance_chars, 1),
            "max_in_flight": (self.max_in_flight, 1),
            "max_retries": (self.max_retries, 0),
        }
        for name, (value, low) in checks.items():
            if value < low:
                raise ConfigError(f"{name} must be >= {low}, but got {name}={value}.")
        if self.max_turns < self.min_turns:
            raise ConfigError(
                f"max_turns must be >= min_turns, but got max_turns={self.max_turns}, min_turns={self.min_turns}."
            )
        if not 0 <= self.shard_index < self.num_shards:
            raise ConfigError(
                f"shard_index must be in [0, num_shards), but got shard_index={self.shard_index}, "
                f"num_shards={self.num_shards}."
            )
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, but got temperature={self.temperature}.")
        for name in ("top_p", "typical_p"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise ConfigError(f"{name} must be in (0, 1], but got {name}={value}.")
        if self.top_k is not None and self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, but got top_k={self.top_k}.")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise ConfigError(f"repetition_penalty must be > 0, but got repetition_penalty={self.repetition_penalty}.")
        if isinstance(self.base_url, str):
            self.base_url = [self.base_url]

    def require_run_fields(self) -> None:
        """Checks the fields a run needs but the dataclass cannot default (`benchmark`, `output`)."""
        missing = [name for name in ("benchmark", "output") if getattr(self, name) in (None, "")]
        if missing:
            flags = " and ".join(f"--{name}" for name in missing)
            raise ConfigError(f"Missing {', '.join(missing)}: pass {flags} or set them in the --config YAML.")

    def sampling_params(self) -> dict[str, Any]:
        """The decoding settings as recorded with every dialogue (the `sampling` column)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "typical_p": self.typical_p,
            "repetition_penalty": self.repetition_penalty,
            "max_new_tokens": self.max_new_tokens,
        }

    def data_settings(self) -> dict[str, Any]:
        """The fields that determine the generated data (all but `RUNTIME_FIELDS`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in RUNTIME_FIELDS}


def settings_hash(settings: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a settings mapping."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
