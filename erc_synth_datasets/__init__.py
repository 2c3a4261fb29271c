"""erc-synth datasets: benchmark registry, dialogue schema, real benchmark loaders, synthetic dataset tools.

The names below are imported on first use (PEP 562), so that `import erc_synth_datasets` (and `erc-synth --help`)
loads neither `datasets` nor pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ErcSynthError
from .vocabulary import ConfigName, Mode, Split, SystemName, TestSetName, Variant

if TYPE_CHECKING:
    from .benchmarks import (
        Benchmark,
        BenchmarkError,
        get_benchmark,
        list_benchmarks,
        load_benchmark_yaml,
        register_benchmark,
    )
    from .loaders import DataFileError, LoadReport, load_benchmark, read_benchmark
    from .schema import dialogue_features, flatten_dialogues, utterance_features

# public name -> submodule that defines it
_LAZY: dict[str, str] = {
    "Benchmark": "benchmarks",
    "BenchmarkError": "benchmarks",
    "get_benchmark": "benchmarks",
    "list_benchmarks": "benchmarks",
    "load_benchmark_yaml": "benchmarks",
    "register_benchmark": "benchmarks",
    "DataFileError": "loaders",
    "LoadReport": "loaders",
    "load_benchmark": "loaders",
    "read_benchmark": "loaders",
    "dialogue_features": "schema",
    "flatten_dialogues": "schema",
    "utterance_features": "schema",
}

__all__ = [
    "Benchmark",
    "BenchmarkError",
    "ConfigName",
    "DataFileError",
    "ErcSynthError",
    "LoadReport",
    "Mode",
    "Split",
    "SystemName",
    "TestSetName",
    "Variant",
    "dialogue_features",
    "flatten_dialogues",
    "get_benchmark",
    "list_benchmarks",
    "load_benchmark",
    "load_benchmark_yaml",
    "read_benchmark",
    "register_benchmark",
    "utterance_features",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
