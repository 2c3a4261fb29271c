"""Deterministic Parquet files: the same rows and features always give the same bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, Features

from .files import atomic_path

__all__ = ["ROW_GROUP_SIZE", "rows_to_table", "shard_filename", "write_parquet"]

# Fixed, so that row-group boundaries (and bytes) never depend on the machine or a library default.
ROW_GROUP_SIZE = 1000


def shard_filename(split: str, index: int = 0, num_shards: int = 1) -> str:
    """The shard naming used by `push_to_hub`, which the `<split>-*` patterns of the card match."""
    return f"{split}-{index:05d}-of-{num_shards:05d}.parquet"


def rows_to_table(rows: list[dict[str, Any]], features: Features) -> pa.Table:
    """Encodes rows with `features` (label names become `ClassLabel` ids); the schema carries the features."""
    dataset = Dataset.from_list(rows, features=features)
    table = dataset.data.table
    # Dataset.from_list may return a table with several chunks; one chunk per column keeps layout deterministic.
    return table.combine_chunks().replace_schema_metadata(features.arrow_schema.metadata)


def write_parquet(table: pa.Table, path: str | Path, *, row_group_size: int = ROW_GROUP_SIZE) -> int:
    """Writes `table` to `path` atomically (temp file + rename) with fixed settings; returns the file size.

    The settings are fixed (compression, row-group size, no page index, statistics on) and pyarrow writes no
    timestamps, so two writes of the same table are byte-identical.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(
            table,
            tmp,
            row_group_size=row_group_size,
            compression="zstd",
            compression_level=3,
            use_dictionary=True,
            write_statistics=True,
            write_page_index=False,
            store_schema=True,
        )
    return path.stat().st_size
