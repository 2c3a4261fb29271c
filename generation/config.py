"""`GenerationConfig`: every setting of `erc-synth generate`, as YAML keys (configs/generation/*.yaml) and flags."""

from __future__ import annotations

import hashlib
import json
from dataclasses import InitVar, dataclass, field, fields
from pathlib import Path
from typing import Any

from erc_synth_datasets.configuration import (
    ConfigError,
    output_dir_alias,
    renamed_field,
    take_old_output,
    take_old_value,
)
from erc_synth_datasets.threads import num_threads_field
from erc_synth_datasets.vocabulary import Mode

from .backends import DEFAULT_SLOTS, DTYPES, OpenAIOptions
from .base_url import normalise_base_url
from .default_model import DEFAULT_MODEL
from .filters import FilterSettings

__all__ = [
    "DEFAULT_SLOTS",
    "EMOTION_FORMATS",
    "MODES",
    "RUNTIME_FIELDS",
    "TURN_COUNTS",
    "LATER_SETTINGS",
    "GenerationConfig",
    "configs_dir",
    "default_file",
    "settings_hash",
    "shipped_defaults_dir",
]

#: Settings added after the run format, with the value that does what runs made before them did. At that value a
#: setting is left out of `GenerationConfig.data_settings` (and so of the settings hash), so such a run still resumes
#: when the setting is given that value.
LATER_SETTINGS: dict[str, Any] = {"max_loop_tokens": 0}
_UNSET = object()

MODES = Mode.values()
#: `turn_counts`: `range` asks every dialogue for min_turns to max_turns utterances (the paper's setup);
#: `reference` draws a count per dialogue from the benchmark's real turns-per-dialogue histogram (`generation.turns`).
TURN_COUNTS = ("range", "reference")
#: `emotion_format`: what the constrained JSON schema writes as each utterance's emotion, its legend `number` (the
#: paper's) or its label `word` (`generation.structured`).
EMOTION_FORMATS = ("number", "word")

#: Fields that change speed or connections but not the meaning of the generated data; they are left out of the
#: settings hash, so a run may be resumed with a different batch size, device or server list.
RUNTIME_FIELDS = frozenset(
    {
        "output_dir",
        "batch_size",
        "device",
        "dtype",
        "num_threads",
        "progress",
        "base_url",
        "api_key_env",
        "request_timeout",
        "max_retries",
        # How much to generate, not what: a run is extended or continued with a larger target or budget.
        "num_dialogues",
        "attempt_budget",
    }
)


def configs_dir() -> Path:
    """The folder of default prompts and personas: `$ERC_SYNTH_CONFIGS` (a user's folder with `prompts/` and
    `personas/`), else the defaults shipped inside the package (`generation/defaults/`, package data)."""
    import os

    root = os.environ.get("ERC_SYNTH_CONFIGS")
    return Path(root) if root else shipped_defaults_dir()


def shipped_defaults_dir() -> Path:
    """The prompt templates and persona pools that ship with the package, read with `importlib.resources`."""
    from importlib.resources import files

    return Path(str(files(__package__).joinpath("defaults")))


def default_file(kind: str, name: str) -> Path | None:
    """`<kind>/<name>` from the user's `$ERC_SYNTH_CONFIGS` folder when it holds one, else the shipped copy; None
    when neither exists."""
    for folder in dict.fromkeys((configs_dir(), shipped_defaults_dir())):
        path = folder / kind / name
        if path.is_file():
            return path
    return None


@output_dir_alias
@renamed_field("max_in_flight", "batch_size")
@dataclass
class GenerationConfig(FilterSettings):
    """Settings of one generation run. YAML keys in `configs/generation/*.yaml` map 1:1 onto these fields (the
    quality filters' thresholds, `FilterSettings`, included); flags override the YAML."""

    benchmark: str | None = field(
        default=None,
        metadata={
            "help": "Benchmark whose labels, speakers and style the dialogues follow: a registry name "
            "(meld, emorynlp, iemocap) or the path of a custom benchmark YAML."
        },
    )
    mode: Mode = field(
        default=Mode.NATURAL,
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
    num_dialogues: int = field(
        default=10,
        metadata={
            "range": "[1, 1000000000]",
            "help": "Accepted dialogues to produce (all shards together). Raising it on an existing run folder "
            "extends the run.",
        },
    )
    attempt_budget: int | None = field(
        default=None,
        metadata={
            "range": "[1, 1000000000000]",
            "help": "Most attempts (accepted + rejected) this shard may spend, counting earlier sessions; when it "
            "runs out the run stops with status budget_spent and a re-run with a larger budget continues. "
            "Default: num_dialogues x max_attempts.",
        },
    )
    output_dir: str | None = field(default=None, metadata={"help": "Run directory (created; re-running resumes)."})
    seed: int = field(
        default=0,
        metadata={"range": "[0, 9223372036854775807]", "help": "Run seed; every attempt's seed is derived from it."},
    )
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
            "help": "Prompt template: the path of a template YAML, or the name of one in prompts/ (meld: the "
            "paper's MELD prompt; meld-v3: the same with the drawn turn count stated). Default: the benchmark's "
            "default template (meld-v3, emorynlp-v2, iemocap-v2; else prompts/<benchmark>.yaml, else "
            "prompts/default.yaml), from $ERC_SYNTH_CONFIGS or the templates shipped in the package "
            "(generation/defaults/)."
        },
    )
    persona_file: str | None = field(
        default=None,
        metadata={"help": "Persona pools YAML; default personas/default.yaml shipped in the package."},
    )
    constrained: bool = field(
        default=True,
        metadata={
            "help": "Constrained decoding of a JSON document matching the benchmark's schema (when the "
            "backend supports it); --no-constrained uses the free line format, parsed leniently."
        },
    )
    temperature: float = field(
        default=0.7, metadata={"range": "[0, inf)", "help": "Sampling temperature (0 = greedy)."}
    )
    top_p: float | None = field(default=0.95, metadata={"range": "(0, 1]", "help": "Nucleus sampling threshold."})
    top_k: int | None = field(default=100, metadata={"range": "[0, 1000000]", "help": "Top-k sampling cut-off."})
    typical_p: float | None = field(default=0.95, metadata={"range": "(0, 1]", "help": "Typical sampling mass."})
    repetition_penalty: float | None = field(
        default=1.1,
        metadata={
            "range": "(0, inf)",
            "help": "Repetition penalty on every token already in the prompt or the output (1.0 = none, the paper's "
            "minimum). 1.1 by default: measured with SmolLM2 on MELD, it stops repeated and looping utterances, and "
            "with turn_counts: reference the schema keeps it from ending dialogues early (docs/quality.md).",
        },
    )
    max_new_tokens: int = field(
        default=1536, metadata={"range": "[1, 1048576]", "help": "Maximum tokens generated per dialogue."}
    )
    max_loop_tokens: int = field(
        default=64,
        metadata={
            "range": "[0, 1048576]",
            "help": "Stop decoding a dialogue once its last N tokens repeat one pattern of 1 to 16 tokens (the same "
            "emoji or words over and over: a loop that would run to max_new_tokens and never close the JSON); it is "
            "rejected as repetition_loop and retried at once. 0 never stops. The transformers backend only (a served "
            "model decodes to its own limits).",
        },
    )
    min_turns: int = field(
        default=2, metadata={"range": "[2, 1000]", "help": "Fewest utterances a valid dialogue has (at least 2)."}
    )
    max_turns: int = field(
        default=12, metadata={"range": "[2, 1000]", "help": "Most utterances a valid dialogue may have."}
    )
    max_utterance_chars: int = field(
        default=200,
        metadata={
            "range": "[1, 100000]",
            "help": "Longest utterance allowed by the constrained JSON schema, in characters.",
        },
    )
    turn_counts: str = field(
        default="reference",
        metadata={
            "help": "How many utterances each dialogue is asked for. range: min_turns to max_turns (the paper's "
            "setup). reference: a count N drawn per dialogue (seeded by the run seed and the plan index) from the "
            "benchmark's real turns-per-dialogue histogram (aggregate counts stored with the registry's reference "
            "figures), clipped to [min_turns, max_turns], stated in the prompt ({num_turns}) and enforced by the "
            "JSON schema (exactly N turns); a benchmark without stored figures falls back to range."
        },
    )
    emotion_format: str = field(
        default="word",
        metadata={
            "help": "What the constrained JSON schema writes as each utterance's emotion: number (its legend "
            "number, the paper's) or word (one of the benchmark's label words). The prompt keeps the numbered "
            "legend either way; words are mapped back to labels when parsed."
        },
    )
    max_attempts: int = field(
        default=3,
        metadata={
            "range": "[1, 1000]",
            "help": "Attempts per prompt (each with a new derived seed) before giving up on it and moving on to "
            "the next prompt of the plan.",
        },
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "range": "[1, 65536]",
            "old_names": ("max_in_flight",),
            "help": f"Requests in flight together. transformers backend: requests decoding at once "
            f"(continuous-batching slots); default {DEFAULT_SLOTS}, the measured best on CPU (3.86x the static path "
            "on 2 cores, memory flat from 32 to 128 prompts; docs/generation.md), fewer when the key/value cache of "
            "that many requests at --max-new-tokens does not fit the memory this process may use (its cgroup limit, "
            "the available RAM); the choice and its reason are logged and stored in the manifest. openai backend: "
            f"requests kept waiting on the servers, over all URLs; default {OpenAIOptions.in_flight_default}.",
        },
    )
    device: str | None = field(default=None, metadata={"help": "transformers device; default cuda if available."})
    dtype: str | None = field(
        default=None,
        metadata={"help": "transformers dtype: bfloat16, float16, float32; default bf16 on CUDA, float32 on CPU."},
    )
    num_threads: int | None = num_threads_field("the transformers backend")
    shard_index: int = field(
        default=0, metadata={"range": "[0, 1000000]", "help": "This process's shard, in [0, num_shards)."}
    )
    num_shards: int = field(
        default=1,
        metadata={
            "range": "[1, 1000000]",
            "help": "Split the plan into this many shards (plan index i goes to i %% num_shards).",
        },
    )
    progress: bool = field(
        default=True,
        metadata={"help": "Show a progress bar (false: no bar at all, the libraries' model-loading bars included)."},
    )
    base_url: list[str] | None = field(
        default=None, metadata={"help": "openai backend: server base URLs (several spread the load)."}
    )
    api_key_env: str = field(
        default=OpenAIOptions.api_key_env,
        metadata={"help": "openai backend: environment variable holding the API key."},
    )
    request_timeout: float = field(
        default=OpenAIOptions.timeout, metadata={"range": "(0, 86400]", "help": "openai backend: seconds per request."}
    )
    max_retries: int = field(
        default=OpenAIOptions.max_retries,
        metadata={"range": "[0, 100]", "help": "openai backend: retries of a failed request."},
    )

    #: The old name of `output_dir` (one release).
    output: InitVar[str | None] = None
    #: The old name of `batch_size` for the openai backend (one release).
    max_in_flight: InitVar[int | None] = None

    def __post_init__(self, output: str | None = None, max_in_flight: int | None = None) -> None:
        take_old_output(self, output)
        take_old_value(self, "max_in_flight", "batch_size", max_in_flight)
        try:
            super().__post_init__()
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.mode in MODES:
            self.mode = Mode(self.mode)
        for name, allowed in (("mode", MODES), ("turn_counts", TURN_COUNTS), ("emotion_format", EMOTION_FORMATS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {list(allowed)}, but got {name}={getattr(self, name)!r}.")
        if self.max_turns < self.min_turns:
            raise ConfigError(
                f"max_turns must be >= min_turns, but got max_turns={self.max_turns}, min_turns={self.min_turns}."
            )
        if not 0 <= self.shard_index < self.num_shards:
            raise ConfigError(
                f"shard_index must be in [0, num_shards), but got shard_index={self.shard_index}, "
                f"num_shards={self.num_shards}."
            )
        if isinstance(self.base_url, str):
            self.base_url = [self.base_url]
        if self.dtype is not None and self.dtype.lower() not in DTYPES:
            raise ConfigError(
                f"dtype must be one of {list(DTYPES)} (or unset for the default), but got dtype={self.dtype!r}."
            )
        if self.base_url:
            for url in self.base_url:
                normalise_base_url(url)  # raises ConfigError naming --base-url and what is allowed

    def require_run_fields(self) -> None:
        """Checks the fields a run needs but the dataclass cannot default (`benchmark`, `output_dir`)."""
        needed = {"benchmark": "benchmark", "output_dir": "output"}  # field -> what messages call it
        missing = [name for name in needed if getattr(self, name) in (None, "")]
        if missing:
            flags = " and ".join("--" + name.replace("_", "-") for name in missing)
            names = ", ".join(needed[name] for name in missing)
            raise ConfigError(f"Missing {names}: pass {flags} or set them in the --config YAML.")

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

    def target(self) -> int:
        """Accepted dialogues this shard aims for: its share of `num_dialogues` (shards differ by at most one)."""
        share, extra = divmod(self.num_dialogues, self.num_shards)
        return share + (1 if self.shard_index < extra else 0)

    def budget(self) -> int:
        """The attempt budget of this shard: `attempt_budget`, else target x `max_attempts`."""
        return self.attempt_budget if self.attempt_budget is not None else self.target() * self.max_attempts

    def data_settings(self) -> dict[str, Any]:
        """The fields that determine the generated data (all but `RUNTIME_FIELDS`), as plain values; a field of
        `LATER_SETTINGS` at its earlier value is left out."""
        values = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in RUNTIME_FIELDS and LATER_SETTINGS.get(f.name, _UNSET) != getattr(self, f.name)
        }
        return {name: value.value if isinstance(value, Mode) else value for name, value in values.items()}


def settings_hash(settings: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a settings mapping."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
