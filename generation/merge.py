"""`erc-synth merge`: join the shard directories of a run split with `--num-shards` into one run directory.

    erc-synth merge runs/meld/shard-0 runs/meld/shard-1 --output runs/meld

Every shard must come from the same plan (same settings but the shard index) and together they must cover each shard
index exactly once. Accepted dialogues are written in plan-index order; a dialogue identical to one with a lower
index in another shard becomes a `duplicate` rejection. The result has the layout of an unsharded run (shard 0 of 1,
see `generation.run_format`), with `merged_from` naming the shards.
"""

from __future__ import annotations

import argparse
import heapq
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["MergeError", "main", "make_parser", "merge_runs"]


class MergeError(ValueError):
    """The shard directories cannot be merged (different plans, missing or repeated shards, unfinished shards)."""


def _indexed(run_dir: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    from .run_format import iter_accepted

    for order, record in enumerate(iter_accepted(run_dir)):
        yield int(record["index"]), order, record


def merge_runs(shard_dirs: list[str | Path], output: str | Path, *, allow_incomplete: bool = False) -> dict[str, Any]:
    """Merges shard run directories into `output` (which must not exist or be empty).

    Args:
        shard_dirs: One run directory per shard.
        output: The merged run directory.
        allow_incomplete: Merge shards whose status is not `complete` (a partial dataset).

    Returns:
        The merged manifest.

    Raises:
        MergeError: the shards do not form one complete plan, or `output` is not empty.
        RunFormatError: a shard directory is not a run.
    """
    from .config import settings_hash
    from .run_format import (
        JsonlAppender,
        accepted_file_name,
        count_records,
        iter_rejected,
        read_manifest,
        rejected_file_name,
        utc_now,
        write_manifest,
    )
    from .validation import dialogue_fingerprint

    if not shard_dirs:
        raise MergeError("Give at least one shard directory to merge.")
    paths = [Path(p) for p in shard_dirs]
    manifests = [read_manifest(p) for p in paths]
    plans = {m.get("plan_hash") for m in manifests}
    if len(plans) != 1:
        raise MergeError(
            "The shards come from different plans (settings other than the shard index differ): "
            + ", ".join(
                f"{p}: plan_hash={m.get('plan_hash', '?')[:12]}" for p, m in zip(paths, manifests, strict=True)
            )
        )
    num_shards = {m.get("num_shards") for m in manifests}
    if len(num_shards) != 1:
        raise MergeError(f"The shards disagree on num_shards: {sorted(num_shards)}.")
    total = num_shards.pop()
    found = sorted(m.get("shard_index") for m in manifests)
    if found != list(range(total)):
        missing = sorted(set(range(total)) - set(found))
        repeated = sorted({i for i in found if found.count(i) > 1})
        raise MergeError(
            f"Expected shards 0..{total - 1} once each, but got shard indices {found} "
            f"(missing {missing}, repeated {repeated})."
        )
    unfinished = [str(p) for p, m in zip(paths, manifests, strict=True) if m.get("status") != "complete"]
    if unfinished and not allow_incomplete:
        raise MergeError(
            f"Shards not complete: {unfinished}; finish them (re-run their generate command) or pass "
            "--allow-incomplete."
        )
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise MergeError(f"--output {str(output)!r} exists and is not empty; choose a new directory.")
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.merging."))
    try:
        accepted_path = scratch / accepted_file_name(0, 1)
        rejected_path = scratch / rejected_file_name(0, 1)
        seen: set[str] = set()
        with JsonlAppender(accepted_path) as accepted_out, JsonlAppender(rejected_path) as rejected_out:
            for path in paths:
                rejected_out.write_many(list(iter_rejected(path)))
            for _, _, record in heapq.merge(*(_indexed(p) for p in paths), key=lambda entry: (entry[0], entry[1])):
                fingerprint = dialogue_fingerprint(record["speakers"], record["utterances"])
                if fingerprint in seen:
                    rejected_out.write(
                        {
                            "index": record["index"],
                            "attempt": record["attempt"],
                            "seed": record["seed"],
                            "reason": "duplicate",
                            "message": "identical to a dialogue with a lower index in another shard (merge)",
                            "raw_text": "",
                            "prompt": record["prompt"],
                            "target_emotion": record.get("target_emotion"),
                            "completion_tokens": 0,
                        }
                    )
                    continue
                seen.add(fingerprint)
                accepted_out.write(record)
        first = manifests[0]
        settings = dict(first["settings"], shard_index=0, num_shards=1)
        accepted_count, rejected_count = count_records(accepted_path), count_records(rejected_path)
        manifest = dict(first)
        manifest.update(
            {
                "status": "complete" if not unfinished else "incomplete",
                "settings": settings,
                "settings_hash": settings_hash(settings),
                "shard_index": 0,
                "num_shards": 1,
                "counts": {
                    "requested": sum(int(m["counts"].get("requested", 0)) for m in manifests),
                    "accepted": accepted_count,
                    "rejected": rejected_count,
                    "attempts": accepted_count + rejected_count,
                },
                "tokens": {
                    key: sum(int((m.get("tokens") or {}).get(key, 0)) for m in manifests)
                    for key in ("prompt", "completion")
                },
                "elapsed_seconds": round(sum(float(m.get("elapsed_seconds", 0.0)) for m in manifests), 3),
                "files": {accepted_path.name: accepted_count, rejected_path.name: rejected_count},
                "merged_from": [
                    {"path": str(p), "shard_index": m["shard_index"], "settings_hash": m["settings_hash"]}
                    for p, m in zip(paths, manifests, strict=True)
                ],
                "updated_at": utc_now(),
            }
        )
        write_manifest(scratch, manifest)
        if output.exists():
            output.rmdir()
        scratch.rename(output)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return manifest


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erc-synth merge",
        description="Join the shard directories of a generation run split with --num-shards into one run directory.",
    )
    parser.add_argument("shards", nargs="+", help="The shard run directories (one per shard index).")
    parser.add_argument("--output", required=True, help="The merged run directory (must not exist or be empty).")
    parser.add_argument(
        "--allow-incomplete", "--allow_incomplete", action="store_true", help="Merge shards that are not complete."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from .run_format import RunFormatError

    args = make_parser().parse_args(argv)
    try:
        manifest = merge_runs(args.shards, args.output, allow_incomplete=args.allow_incomplete)
    except (MergeError, RunFormatError) as err:
        print(f"erc-synth merge: {err}", file=sys.stderr)
        return 2
    counts = manifest["counts"]
    print(
        f"merged {len(args.shards)} shards: {counts['accepted']} accepted, {counts['rejected']} rejected "
        f"-> {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
