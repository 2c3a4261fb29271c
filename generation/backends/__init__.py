"""LLM backends by name, imported only when chosen (optional heavy dependencies stay unimported otherwise).

Each registry entry names its class (`"module:Class"`) and the dataclass of the options it takes; the options are
read from a `GenerationConfig` by field name (`metadata={"config": ...}` where the config's field is named
differently) and checked before the backend is built.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.redaction import url_secrets
from erc_synth_datasets.registry import Registry

from .base import Backend, BackendError, GenerationRequest, GenerationResult, SamplingParams

__all__ = [
    "DEFAULT_SLOTS",
    "DTYPES",
    "BACKENDS",
    "Backend",
    "BackendEntry",
    "BackendError",
    "BackendOptions",
    "GenerationRequest",
    "GenerationResult",
    "OpenAIOptions",
    "SamplingParams",
    "TransformersOptions",
    "api_key_of",
    "secrets_of",
    "apply_in_flight",
    "build_backend",
    "create_backend",
    "get_backend_class",
]


#: `dtype` names the transformers backend accepts, each with the torch dtype it means.
DTYPES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
}
#: Continuous-batching slots of the transformers backend when `batch_size` is unset: the measured best on CPU
#: (docs/generation.md), lowered by the backend to what the memory this process may use holds.
DEFAULT_SLOTS = 32


@dataclass(frozen=True)
class BackendOptions:
    """Base of the option dataclasses: `max_in_flight` is set on the built backend, every other field is passed to
    its constructor."""

    max_in_flight: int | None = 1

    @classmethod
    def from_config(cls, config: Any) -> BackendOptions:
        """The options as set in `config` (a `GenerationConfig`, or any object with some of its fields), each read
        from the field of the same name or the one named by the field's `metadata["config"]`; an option the config
        does not have keeps its default here."""
        given = {f.name: f.metadata.get("config", f.name) for f in fields(cls)}
        return cls(**{name: getattr(config, key) for name, key in given.items() if hasattr(config, key)})

    def check(self) -> None:
        """Raises `ConfigError` naming the option and what is allowed when a value cannot work."""
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be >= 1, but got {self.max_in_flight}.")

    def constructor_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "max_in_flight"}

    def in_flight(self) -> int | None:
        """The requests the backend keeps in flight (`backend.max_in_flight`); None: the backend chooses."""
        return self.max_in_flight


_DEVICE = re.compile(r"(cpu|cuda|mps|xpu)(?::(\d+))?")


@dataclass(frozen=True)
class TransformersOptions(BackendOptions):
    """Options of the local `transformers` backend; `max_in_flight` None lets the backend choose its slots from the
    memory it may use, `num_threads` None its CPU threads from the CPUs it can have."""

    max_in_flight: int | None = field(default=None, metadata={"config": "batch_size"})
    model: str = ""
    device: str | None = None
    dtype: str | None = None
    constrained: bool = True
    num_threads: int | None = None
    progress: bool = True

    def check(self) -> None:
        super().check()
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(
                f"num_threads must be >= 1 (or unset to choose from the machine), but got {self.num_threads}."
            )
        if self.device is not None:
            _check_device(self.device)


def _check_device(device: str) -> None:
    match = _DEVICE.fullmatch(device.strip())
    if match is None:
        raise ConfigError(
            f"device must be cpu, cuda, cuda:N, mps or xpu (or unset for the default), but got {device!r}."
        )
    kind, number = match[1], match[2]
    if kind == "cpu":
        return
    import torch

    available = {
        "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "mps": 1 if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else 0,
        "xpu": torch.xpu.device_count() if hasattr(torch, "xpu") and torch.xpu.is_available() else 0,
    }[kind]
    wanted = int(number or 0)
    if wanted >= available:
        have = f"{available} {kind} device(s)" if available else f"no {kind} device"
        raise ConfigError(
            f"device {device!r} does not exist on this machine ({have}); use cpu"
            + (f" or {kind}:0..{kind}:{available - 1}" if available else "")
            + " or leave --device unset."
        )


@dataclass(frozen=True)
class OpenAIOptions(BackendOptions):
    """Options of the `openai` backend; the API key is read by the backend from `api_key_env`, never stored here."""

    #: Requests kept waiting on the servers when the config's `batch_size` is unset.
    in_flight_default: ClassVar[int] = 8

    max_in_flight: int | None = field(default=None, metadata={"config": "batch_size"})
    model: str | None = None
    base_urls: list[str] | None = field(default=None, metadata={"config": "base_url"})
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = field(default=120.0, metadata={"config": "request_timeout"})
    max_retries: int = 3

    def constructor_kwargs(self) -> dict[str, Any]:
        kwargs = super().constructor_kwargs()
        kwargs["base_urls"] = list(self.base_urls or []) or None
        kwargs["max_in_flight"] = self.in_flight()
        return kwargs

    def in_flight(self) -> int:
        return self.in_flight_default if self.max_in_flight is None else self.max_in_flight


@dataclass(frozen=True)
class BackendEntry:
    """A registry entry: the backend class as `"module:Class"` (imported when chosen) and its options."""

    target: str
    options: type[BackendOptions]


BACKENDS: Registry[BackendEntry] = Registry(
    "backend",
    {
        "transformers": BackendEntry(
            "generation.backends.transformers_backend:TransformersBackend", TransformersOptions
        ),
        "openai": BackendEntry("generation.backends.openai_backend:OpenAIBackend", OpenAIOptions),
    },
    error=ConfigError,
    hint="Set --backend.",
)


def get_backend_class(name: str) -> type[Backend]:
    """The backend class registered under `name`; unknown names get suggestions and the list of backends."""
    module_name, class_name = BACKENDS.get(name).target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_backend(name: str, **options: Any) -> Backend:
    """Builds (without loading) the backend `name` with its constructor options."""
    return get_backend_class(name)(**options)


def build_backend(config: Any) -> Backend:
    """The backend named by `config.backend` (a `GenerationConfig`), built (not loaded) from its checked options.

    Raises:
        ConfigError: an option cannot work (a device that does not exist, num_threads < 1, ...).
        ConfigError: the backend name is unknown (close names are suggested).
    """
    entry = BACKENDS.get(config.backend)
    options = entry.options.from_config(config)
    options.check()
    backend = create_backend(config.backend, **options.constructor_kwargs())
    backend.max_in_flight = options.in_flight()
    return backend


def apply_in_flight(backend: Backend, config: Any) -> None:
    """Sets `backend.max_in_flight` from the config's options when `backend` is the kind the config names (a backend
    built elsewhere and handed to a run then keeps as many requests in flight as the run's settings say)."""
    if backend.name == config.backend and backend.name in BACKENDS:
        options = BACKENDS.get(backend.name).options.from_config(config)
        options.check()
        backend.max_in_flight = options.in_flight()


def secrets_of(config: Any) -> list[str | None]:
    """Every secret a run's backend holds, for redaction only: the API key and the credentials of its base URLs."""
    urls = getattr(config, "base_url", None) or []
    return [api_key_of(config), *(secret for url in urls for secret in url_secrets(url))]


def api_key_of(config: Any) -> str | None:
    """The API key a run's backend reads (from the variable named by `api_key_env`), for redaction only."""
    name = getattr(config, "api_key_env", None)
    return os.environ.get(name) if name else None
