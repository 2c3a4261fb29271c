"""Resumable generation runs: plan -> prompts -> backend -> parse -> validate -> append-only shards + manifest.

Processing order (what makes a resumed run equal an uninterrupted one): the shard's plan indices are cut into
batches of `batch_size`; within a batch, round `a` sends attempt `a` of every index still pending, all together;
outputs are validated in index order (so duplicate detection sees the same earlier dialogues every time); failed
indices go on to the next round with a new derived seed until `max_attempts`. Rejections are appended after each
round, the batch's accepted dialogues (in index order) when the batch ends.

On resume, records already on disk are authoritative. Batches whose indices are all settled are skipped; in the
first unsettled batch, each round whose every pending index already has a record is replayed from disk, and the
first round missing records is generated again for exactly the same indices (the same batch as before), writing
only the records that are missing. So no accepted dialogue is lost or written twice, and on the same machine with
the same settings (batch size included) the final set equals that of an uninterrupted run.

A `BackendError` stops the run cleanly: what was accepted so far is written, the manifest says `stopped`, and
re-running the same command resumes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark

from .backends import Backend, BackendError, GenerationRequest, GenerationResult, SamplingParams, create_backend
from .config import GenerationConfig, settings_hash
from .parsing import parse_output
from .personas import PersonaPools, load_persona_pools
from .plan import PlanItem, PromptPlan, derive_seed, shard_indices
from .prompts import PromptTemplate, build_prompt, load_prompt_template
from .run_format import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    JsonlAppender,
    RunFormatError,
    accepted_file_name,
    iter_jsonl,
    read_manifest,
    rejected_file_name,
    utc_now,
    write_manifest,
)
from .structured import dialogue_json_schema
from .validation import Verdict, dialogue_fingerprint, validate_dialogue

__all__ = [
    "GenerationTask",
    "RunConflictError",
    "RunSummary",
    "build_backend",
    "estimated_tokens",
    "plan_hash",
    "run_generation",
]


class RunConflictError(RunFormatError):
    """The output directory holds a run made with different settings (or something that is not a run)."""


@dataclass
class RunSummary:
    """What a call to `run_generation` left on disk."""

    run_dir: str
    status: str
    requested: int
    accepted: int
    rejected: int
    prompt_tokens: int
    completion_tokens: int
    elapsed_seconds: float
    message: str = ""

    @property
    def attempts(self) -> int:
        return self.accepted + self.rejected


def build_backend(config: GenerationConfig) -> Backend:
    """The backend named by `config.backend`, constructed (not loaded) with the options it takes.

    The `openai` backend gets exactly `model`, `base_urls`, `api_key` (read from the environment variable named by
    `api_key_env`; never logged or stored), `max_in_flight`, `timeout` and `max_retries`.
    """
    if config.backend == "transformers":
        return create_backend(
            "transformers",
            model=config.model,
            device=config.device,
            dtype=config.dtype,
            constrained=config.constrained,
            num_threads=config.num_threads,
        )
    if config.backend == "openai":
        return create_backend(
            "openai",
            model=config.model,
            base_urls=list(config.base_url or []),
            api_key=os.environ.get(config.api_key_env),
            max_in_flight=config.max_in_flight,
            timeout=config.request_timeout,
            max_retries=config.max_retries,
        )
    return create_backend(config.backend, model=config.model)


class GenerationTask:
    """The task side of generation: plan item -> chat request, raw text -> validated dialogue or rejection.

    Args:
        config: The run settings.
        benchmark: The benchmark the dialogues follow.
        template: The prompt template.
        persona_pools: Persona pools when persona conditioning is on, else None.
        output_format: `json` (constrained decoding) or `lines`.
    """

    def __init__(
        self,
        config: GenerationConfig,
        benchmark: Benchmark,
        template: PromptTemplate,
        persona_pools: PersonaPools | None,
        output_format: str,
    ) -> None:
        self.config = config
        self.benchmark = benchmark
        self.template = template
        self.output_format = output_format
        self.plan = PromptPlan(benchmark, config.mode, config.seed, persona_pools)
        self.json_schema = (
            dialogue_json_schema(
                benchmark,
                min_turns=config.min_turns,
                max_turns=config.max_turns,
                max_utterance_chars=config.max_utterance_chars,
            )
            if output_format == "json"
            else None
        )

    def prompt(self, item: PlanItem) -> str:
        return build_prompt(
            self.template,
            self.benchmark,
            output_format=self.output_format,
            min_turns=self.config.min_turns,
            max_turns=self.config.max_turns,
            target_emotion=item.target_emotion,
            persona=item.persona,
        )

    def request(self, item: PlanItem, attempt: int) -> GenerationRequest:
        return GenerationRequest(
            messages=[{"role": "user", "content": self.prompt(item)}],
            seed=derive_seed(self.config.seed, item.index, attempt),
            json_schema=self.json_schema,
        )

    def check(self, text: str, item: PlanItem, seen: set[str]) -> Verdict:
        parsed = parse_output(text, self.benchmark, self.output_format)
        return validate_dialogue(
            parsed,
            self.benchmark,
            min_turns=self.config.min_turns,
            max_turns=self.config.max_turns,
            target_emotion=item.target_emotion,
            seen=seen,
        )


def estimated_tokens(config: GenerationConfig) -> int:
    """A rough upper estimate of the tokens a longest valid dialogue takes (JSON keys and quotes included)."""
    per_turn = 20 + config.max_utterance_chars // 2
    return 8 + config.max_turns * per_turn


def _resolve_output_format(config: GenerationConfig, backend: Backend) -> str:
    return "json" if config.constrained and backend.supports_json_schema else "lines"


def _settings(
    config: GenerationConfig,
    benchmark: Benchmark,
    template: PromptTemplate,
    pools: PersonaPools | None,
    output_format: str,
) -> dict[str, Any]:
    settings = config.data_settings()
    settings["benchmark"] = benchmark.to_dict()
    settings["prompt_file"] = template.text()
    settings["persona_file"] = pools.content() if pools is not None else None
    settings["output_format"] = output_format
    return settings


def plan_hash(settings: dict[str, Any]) -> str:
    """Hash of the settings that define the plan and its seeds (all but the shard split): equal for every shard."""
    return settings_hash({k: v for k, v in settings.items() if k not in ("shard_index", "num_shards")})


def _describe_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    diffs = []
    for key in keys:
        if old.get(key) != new.get(key):
            before, after = repr(old.get(key)), repr(new.get(key))
            diffs.append(f"{key}: {before[:80]} there, {after[:80]} now")
    return "; ".join(diffs) if diffs else "(format version)"


def _check_run_dir(run_dir: Path, settings: dict[str, Any], digest: str) -> dict[str, Any] | None:
    """The existing manifest when `run_dir` continues this run; None for a new run. Raises on a conflict."""
    if not run_dir.exists():
        return None
    if not run_dir.is_dir():
        raise RunConflictError(f"--output {str(run_dir)!r} exists and is not a directory; choose another --output.")
    if not (run_dir / MANIFEST_NAME).exists():
        leftovers = [p.name for p in run_dir.iterdir() if not p.name.startswith(".")]
        if leftovers:
            raise RunConflictError(
                f"--output {str(run_dir)!r} is not empty and holds no {MANIFEST_NAME} (found {leftovers[:5]}); "
                "choose a new or empty directory."
            )
        return None
    manifest = read_manifest(run_dir)
    if manifest.get("settings_hash") != digest:
        raise RunConflictError(
            f"--output {str(run_dir)!r} holds a run made with different settings "
            f"({_describe_differences(manifest.get('settings', {}), settings)}). Re-run with the same settings to "
            "resume it, or choose a new --output for the new settings."
        )
    return manifest


@dataclass
class _DiskState:
    accepted: dict[int, dict[str, Any]]  # index -> {"attempt", "fingerprint"}
    rejected: dict[int, set[int]]  # index -> attempts rejected


def _load_state(accepted_path: Path, rejected_path: Path, benchmark: Benchmark) -> _DiskState:
    accepted: dict[int, dict[str, Any]] = {}
    rejected: dict[int, set[int]] = {}
    if accepted_path.exists():
        for record in iter_jsonl(accepted_path):
            accepted[int(record["index"])] = {
                "attempt": int(record["attempt"]),
                "fingerprint": dialogue_fingerprint(record["speakers"], record["utterances"]),
            }
    if rejected_path.exists():
        for record in iter_jsonl(rejected_path):
            rejected.setdefault(int(record["index"]), set()).add(int(record["attempt"]))
    return _DiskState(accepted=accepted, rejected=rejected)


class _Progress:
    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="generating", unit="dlg", file=sys.stderr)

    def update(self, settled: int, accepted: int, rejected: int, tokens_per_second: float) -> None:
        if self.bar is not None:
            self.bar.update(settled)
            self.bar.set_postfix(accepted=accepted, rejected=rejected, tok_s=f"{tokens_per_second:.1f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_generation(
    config: GenerationConfig,
    *,
    backend: Backend | None = None,
    log: Callable[[str], None] | None = None,
) -> RunSummary:
    """Generates (or resumes) the run described by `config` into `config.output`.

    Args:
        config: The settings; `benchmark` and `output` are required.
        backend: A backend to use instead of building one from the config (e.g. one already loaded and shared);
            it is loaded if needed and not closed.
        log: Where to report progress lines (default: stderr).

    Returns:
        A `RunSummary`; its `status` is `complete`, or `stopped` when the backend failed (re-run to resume).

    Raises:
        ConfigError: missing or invalid settings.
        RunConflictError: `config.output` holds a run with different settings.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    config.require_run_fields()
    started = time.monotonic()
    benchmark = get_benchmark(config.benchmark)  # type: ignore[arg-type]
    template = load_prompt_template(config.prompt_file, benchmark)
    pools = load_persona_pools(config.persona_file) if config.persona else None
    backend = backend if backend is not None else build_backend(config)
    output_format = _resolve_output_format(config, backend)
    settings = _settings(config, benchmark, template, pools, output_format)
    digest = settings_hash(settings)
    run_dir = Path(config.output)  # type: ignore[arg-type]
    previous = _check_run_dir(run_dir, settings, digest)
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.constrained and output_format == "lines":
        log(f"Backend {backend.name!r} cannot enforce a JSON schema; using the lenient line format instead.")
    needed = estimated_tokens(config)
    if config.max_new_tokens < needed:
        log(
            f"max_new_tokens={config.max_new_tokens} may cut off dialogues of up to max_turns={config.max_turns} "
            f"utterances of up to {config.max_utterance_chars} characters (about {needed} tokens); cut-off outputs "
            "are rejected. Raise max_new_tokens or lower max_turns / max_utterance_chars."
        )

    accepted_path = run_dir / accepted_file_name(config.shard_index, config.num_shards)
    rejected_path = run_dir / rejected_file_name(config.shard_index, config.num_shards)
    indices = shard_indices(config.num_dialogues, config.shard_index, config.num_shards)
    state = _load_state(accepted_path, rejected_path, benchmark)
    task = GenerationTask(config, benchmark, template, pools, output_format)
    sampling = SamplingParams(
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        typical_p=config.typical_p,
        repetition_penalty=config.repetition_penalty,
        max_new_tokens=config.max_new_tokens,
    )
    tokens = dict((previous or {}).get("tokens") or {"prompt": 0, "completion": 0})
    elapsed_before = float((previous or {}).get("elapsed_seconds") or 0.0)
    created_at = (previous or {}).get("created_at") or utc_now()

    def settled(index: int) -> bool:
        return index in state.accepted or len(state.rejected.get(index, ())) >= config.max_attempts

    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "status": "running",
        "settings": settings,
        "settings_hash": digest,
        "plan_hash": plan_hash(settings),
        "runtime": {
            "batch_size": config.batch_size,
            "device": config.device,
            "dtype": config.dtype,
            "num_threads": config.num_threads,
            "base_url": list(config.base_url or []),
        },
        "benchmark": benchmark.to_dict(),
        "mode": config.mode,
        "persona": config.persona,
        "backend": config.backend,
        "model": None,
        "model_revision": None,
        "prompt_version": template.version,
        "prompt_template": template.text(),
        "persona_version": pools.version if pools is not None else None,
        "json_schema": task.json_schema,
        "output_format": output_format,
        "sampling": config.sampling_params(),
        "shard_index": config.shard_index,
        "num_shards": config.num_shards,
        "counts": {},
        "tokens": tokens,
        "elapsed_seconds": elapsed_before,
        "files": {},
        "created_at": created_at,
        "updated_at": created_at,
    }

    def save(status: str) -> None:
        # The in-memory state mirrors the files (it was read from them and is updated as records are written).
        accepted_count = len(state.accepted)
        rejected_count = sum(len(attempts) for attempts in state.rejected.values())
        manifest["status"] = status
        manifest["counts"] = {
            "requested": len(indices),
            "accepted": accepted_count,
            "rejected": rejected_count,
            "attempts": accepted_count + rejected_count,
        }
        manifest["files"] = {accepted_path.name: accepted_count, rejected_path.name: rejected_count}
        manifest["elapsed_seconds"] = round(elapsed_before + time.monotonic() - started, 3)
        manifest["updated_at"] = utc_now()
        write_manifest(run_dir, manifest)

    batches = [indices[i : i + config.batch_size] for i in range(0, len(indices), config.batch_size)]
    if all(settled(i) for i in indices):
        if previous is None or previous.get("status") != "complete":
            manifest["model"] = (previous or {}).get("model")
            manifest["model_revision"] = (previous or {}).get("model_revision")
            save("complete")
        return _summary(run_dir, read_manifest(run_dir), "nothing left to generate")

    try:
        backend.load()
    except BackendError as err:
        raise BackendError(f"Backend {config.backend!r} could not start: {err}") from err
    if _resolve_output_format(config, backend) != output_format:
        raise BackendError(
            f"Backend {config.backend!r} changed its JSON-schema support while loading; cannot continue consistently."
        )
    manifest["model"] = backend.model_name
    manifest["model_revision"] = backend.model_revision
    save("running")

    seen: set[str] = set()
    prefix = _dialogue_prefix(benchmark, config, settings)
    settled_before = sum(1 for i in indices if settled(i))
    progress = _Progress(len(indices), settled_before, config.progress)
    session_tokens = 0
    generation_started = time.monotonic()
    status, message = "complete", ""
    try:
        with JsonlAppender(accepted_path) as accepted_out, JsonlAppender(rejected_path) as rejected_out:
            for batch in batches:
                if all(settled(i) for i in batch):
                    seen.update(state.accepted[i]["fingerprint"] for i in batch if i in state.accepted)
                    continue
                before = sum(1 for i in batch if settled(i))
                new_accepted: list[dict[str, Any]] = []
                try:
                    batch_tokens = _run_batch(
                        batch,
                        task,
                        backend,
                        sampling,
                        state,
                        seen,
                        rejected_out,
                        new_accepted,
                        generator_model=backend.model_name,
                        dialogue_prefix=prefix,
                        sampling_record=config.sampling_params(),
                        template=template,
                    )
                finally:
                    # Accepted dialogues are written when their batch ends (or the backend fails), in index order.
                    new_accepted.sort(key=lambda record: record["index"])
                    accepted_out.write_many(new_accepted)
                    for record in new_accepted:
                        state.accepted[record["index"]] = {
                            "attempt": record["attempt"],
                            "fingerprint": dialogue_fingerprint(record["speakers"], record["utterances"]),
                        }
                tokens["prompt"] += batch_tokens[0]
                tokens["completion"] += batch_tokens[1]
                session_tokens += batch_tokens[1]
                rate = session_tokens / max(time.monotonic() - generation_started, 1e-9)
                progress.update(
                    sum(1 for i in batch if settled(i)) - before,
                    len(state.accepted),
                    sum(len(v) for v in state.rejected.values()),
                    rate,
                )
                save("running")
    except BackendError as err:
        status = "stopped"
        message = (
            f"The backend failed: {err}. Everything accepted so far is on disk in {str(run_dir)!r}; re-run the same "
            "command to resume."
        )
        log(message)
    finally:
        progress.close()
    save(status)
    return _summary(run_dir, read_manifest(run_dir), message)


def _dialogue_prefix(benchmark: Benchmark, config: GenerationConfig, settings: dict[str, Any]) -> str:
    mode = config.mode + ("-persona" if config.persona else "")
    return f"{benchmark.name}-{mode}-{plan_hash(settings)[:8]}"


def _run_batch(
    batch: range,
    task: GenerationTask,
    backend: Backend,
    sampling: SamplingParams,
    state: _DiskState,
    seen: set[str],
    rejected_out: JsonlAppender,
    new_accepted: list[dict[str, Any]],
    *,
    generator_model: str,
    dialogue_prefix: str,
    sampling_record: dict[str, Any],
    template: PromptTemplate,
) -> tuple[int, int]:
    """Runs the rounds of one batch (see the module docstring); returns (prompt tokens, completion tokens)."""
    config = task.config
    prompt_tokens = completion_tokens = 0
    items = {index: task.plan.item(index) for index in batch}
    pending = list(batch)
    for attempt in range(config.max_attempts):
        if not pending:
            break
        on_disk = [
            index
            for index in pending
            if attempt in state.rejected.get(index, ()) or state.accepted.get(index, {}).get("attempt") == attempt
        ]
        results: dict[int, GenerationResult] = {}
        requests = {index: task.request(items[index], attempt) for index in pending}
        if len(on_disk) < len(pending):
            # Generate the whole round (the same batch as an uninterrupted run); records on disk still win.
            outputs = backend.generate([requests[index] for index in pending], sampling)
            if len(outputs) != len(pending):
                raise BackendError(f"backend returned {len(outputs)} results for {len(pending)} requests")
            results = dict(zip(pending, outputs, strict=True))
            prompt_tokens += sum(r.prompt_tokens for r in outputs)
            completion_tokens += sum(r.completion_tokens for r in outputs)
        rejections: list[dict[str, Any]] = []
        still_pending = []
        for index in pending:
            item, request = items[index], requests[index]
            recorded = state.accepted.get(index)
            if recorded is not None and recorded.get("attempt") == attempt:
                seen.add(recorded["fingerprint"])
                continue
            if attempt in state.rejected.get(index, ()):
                still_pending.append(index)
                continue
            result = results[index]
            prompt_text = request.messages[-1]["content"]
            if result.error is not None:
                verdict = Verdict(reason="backend_error", message=result.error)
            else:
                verdict = task.check(result.text, item, seen)
            if verdict.ok:
                dialogue = verdict.dialogue
                assert dialogue is not None
                seen.add(dialogue.fingerprint)
                new_accepted.append(
                    {
                        "dialogue_id": f"{dialogue_prefix}-{index:06d}",
                        "speakers": dialogue.speakers,
                        "utterances": dialogue.utterances,
                        "emotions": dialogue.emotions,
                        "mode": item.mode,
                        "target_emotion": item.target_emotion,
                        "persona": item.persona_json(),
                        "generator_model": generator_model,
                        "sampling": sampling_record,
                        "seed": request.seed,
                        "prompt_version": template.version,
                        "prompt": prompt_text,
                        "index": index,
                        "attempt": attempt,
                    }
                )
            else:
                rejections.append(
                    {
                        "index": index,
                        "attempt": attempt,
                        "seed": request.seed,
                        "reason": verdict.reason,
                        "message": verdict.message,
                        "raw_text": result.text,
                        "prompt": prompt_text,
                        "target_emotion": item.target_emotion,
                        "completion_tokens": result.completion_tokens,
                    }
                )
                state.rejected.setdefault(index, set()).add(attempt)
                still_pending.append(index)
        rejected_out.write_many(rejections)
        pending = still_pending
    return prompt_tokens, completion_tokens


def _summary(run_dir: Path, manifest: dict[str, Any], message: str) -> RunSummary:
    counts, tokens = manifest.get("counts", {}), manifest.get("tokens", {})
    return RunSummary(
        run_dir=str(run_dir),
        status=str(manifest.get("status")),
        requested=int(counts.get("requested", 0)),
        accepted=int(counts.get("accepted", 0)),
        rejected=int(counts.get("rejected", 0)),
        prompt_tokens=int(tokens.get("prompt", 0)),
        completion_tokens=int(tokens.get("completion", 0)),
        elapsed_seconds=float(manifest.get("elapsed_seconds", 0.0)),
        message=message,
    )
