"""erc-synth datasets: benchmark registry, dialogue schema, real benchmark loaders, synthetic dataset tools."""

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

__all__ = [
    "Benchmark",
    "BenchmarkError",
    "DataFileError",
    "LoadReport",
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
