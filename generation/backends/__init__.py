"""LLM backends by name, imported only when chosen (optional heavy dependencies stay unimported otherwise)."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from .base import Backend, BackendError, GenerationRequest, GenerationResult, SamplingParams

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "GenerationRequest",
    "GenerationResult",
    "SamplingParams",
    "create_backend",
    "get_backend_class",
]

# name -> "module:Class"
BACKENDS: dict[str, str] = {
    "transformers": "generation.backends.transformers_backend:TransformersBackend",
    "openai": "generation.backends.openai_backend:OpenAIBackend",
}


def get_backend_class(name: str) -> type[Backend]:
    """The backend class registered under `name`; unknown names get suggestions and the list of backends."""
    if name not in BACKENDS:
        close = difflib.get_close_matches(name, list(BACKENDS), n=2)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown backend {name!r}.{hint} Available: {', '.join(BACKENDS)}.")
    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_backend(name: str, **options: Any) -> Backend:
    """Builds (without loading) the backend `name` with its constructor options."""
    return get_backend_class(name)(**options)
