"""Resumable generation runs: plan -> requests -> backend stream -> checks -> append-only shards + manifest.

`run_generation` is a small loop over four parts:

- the task (`generation.task`): plan item -> chat request, raw text -> record or rejection;
- the backend (`generation.backends`), chosen from the registry with its own options, streaming results as each
  request finishes (`Backend.stream`) and taking a new request whenever a slot frees up;
- the scheduler (`generation.scheduler`): which request goes next, and the decision of outcomes in plan order,
  which makes the final set independent of completion order, of interruptions and of resumes (see its docstring);
- the writer (`generation.run_writer`): the shard's files, counts and manifest.

`num_dialogues` is the number of accepted dialogues wanted. An attempt budget (`attempt_budget`, default
`num_dialogues x max_attempts`) bounds the work: when it runs out first, the run ends with status `budget_spent`, the
accepted count and the rejection reasons by count, and a re-run with a larger budget continues without
regenerating anything. Neither setting enters the settings hash, so a larger `num_dialogues` extends a finished run
(its first dialogues unchanged).

A `BackendError` or a failed write (a full disk) stops the run cleanly: what was decided so far is on disk, the
manifest says `stopped` (when it can still be written), and re-running the same command resumes.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark, get_benchmark
from erc_synth_datasets.configuration import ConfigError
from erc_synth_datasets.processes import exclusive_folder
from erc_synth_datasets.redaction import redact_text, redact_url
from erc_synth_datasets.runs import (
    MANIFEST_NAME,
    RunFormatError,
    RunManifest,
    RunStatus,
    RunStorageError,
    read_manifest,
    utc_now,
)
from erc_synth_datasets.turn_histogram import turns_histogram

from .backends import Backend, BackendError, SamplingParams, apply_in_flight, build_backend, secrets_of
from .config import LATER_SETTINGS, GenerationConfig, settings_hash
from .filters import DialogueFilter as QualityFilter
from .personas import PersonaPools, load_persona_pools
from .prompts import PromptTemplate, load_prompt_template
from .run_writer import RunWriter
from .scheduler import DialogueFilter, Scheduler
from .task import GenerationTask, check_template_states_turns
from .turns import TurnDistribution

__all__ = ["RunConflictError", "RunSummary", "estimated_tokens", "plan_hash", "run_generation"]


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
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return self.accepted + self.rejected

    @classmethod
    def from_manifest(cls, run_dir: Path, manifest: RunManifest) -> RunSummary:
        counts = manifest.counts
        return cls(
            run_dir=str(run_dir),
            status=manifest.status.value,
            requested=counts.requested,
            accepted=counts.accepted,
            rejected=counts.rejected,
            prompt_tokens=int(manifest.tokens.get("prompt", 0)),
            completion_tokens=int(manifest.tokens.get("completion", 0)),
            elapsed_seconds=manifest.elapsed_seconds,
            message=manifest.message,
            rejected_by_reason=dict(counts.rejected_by_reason),
        )


def estimated_tokens(config: GenerationConfig) -> int:
    """A rough upper estimate of the tokens a longest valid dialogue takes (JSON keys and quotes included)."""
    per_turn = 20 + config.max_utterance_chars // 2
    return 8 + config.max_turns * per_turn


def plan_hash(settings: dict[str, Any]) -> str:
    """Hash of the settings that define the plan and its seeds (all but the shard split): equal for every shard."""
    return settings_hash({k: v for k, v in settings.items() if k not in ("shard_index", "num_shards")})


@dataclass
class _RunSetup:
    """Everything a run needs that is read from files or the config before the first request."""

    config: GenerationConfig
    benchmark: Benchmark
    template: PromptTemplate
    pools: PersonaPools | None
    output_format: str
    settings: dict[str, Any]
    run_dir: Path
    turn_distribution: TurnDistribution | None = None

    @property
    def digest(self) -> str:
        return settings_hash(self.settings)

    def dialogue_prefix(self) -> str:
        mode = self.config.mode + ("-persona" if self.config.persona else "")
        return f"{self.benchmark.name}-{mode}-{plan_hash(self.settings)[:8]}"


def _setup(config: GenerationConfig, backend: Backend) -> _RunSetup:
    benchmark = get_benchmark(config.benchmark)  # type: ignore[arg-type]
    template = load_prompt_template(config.prompt_file, benchmark)
    pools = load_persona_pools(config.persona_file) if config.persona else None
    output_format = "json" if config.constrained and backend.supports_json_schema else "lines"
    turn_distribution = _turn_distribution(config, benchmark)
    if turn_distribution is not None:
        check_template_states_turns(template)
    settings = config.data_settings()
    settings.update(
        # The definition's identity: its data's licence changes no dialogue, so it is not part of the settings.
        benchmark=benchmark.identity(),
        prompt_file=template.text(),
        persona_file=pools.content() if pools is not None else None,
        output_format=output_format,
        # The clipped counts the turn counts are drawn from (None: not drawn), so a changed reference is a new run.
        turn_distribution=turn_distribution.to_dict() if turn_distribution is not None else None,
    )
    run_dir = Path(config.output_dir)  # type: ignore[arg-type]
    return _RunSetup(config, benchmark, template, pools, output_format, settings, run_dir, turn_distribution)


def _turn_distribution(config: GenerationConfig, benchmark: Benchmark) -> TurnDistribution | None:
    """The distribution of turn counts a `turn_counts: reference` run draws from: the benchmark's real turns
    histogram (shipped, or computed from a custom benchmark's data) clipped to [min_turns, max_turns]; None for
    `range` or a benchmark without one."""
    if config.turn_counts != "reference":
        return None
    try:
        histogram = turns_histogram(benchmark)
    except ValueError as err:
        raise ConfigError(
            f"turn_counts='reference' cannot read the real turns histogram: {err} Fix the benchmark's files, or set "
            "turn_counts: range."
        ) from None
    if histogram is None:
        return None
    return TurnDistribution.from_histogram(histogram, min_turns=config.min_turns, max_turns=config.max_turns)


def _describe_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    diffs = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            before, after = repr(old.get(key)), repr(new.get(key))
            if key in LATER_SETTINGS and key not in old:
                flag = f"--{key.replace('_', '-')} {LATER_SETTINGS[key]}"
                before = f"not set (a run made before the option: {flag} resumes it)"
            diffs.append(f"{key}: {before[:80]} there, {after[:80]} now")
    return "; ".join(diffs) if diffs else "(format version)"


def _previous_manifest(setup: _RunSetup) -> RunManifest | None:
    """The existing manifest when the output folder continues this run; None for a new run. Raises on a conflict."""
    run_dir = setup.run_dir
    if not run_dir.exists():
        return None
    if not run_dir.is_dir():
        raise RunConflictError(
            f"--output-dir {str(run_dir)!r} exists and is not a directory; choose another --output-dir."
        )
    if not (run_dir / MANIFEST_NAME).exists():
        leftovers = [p.name for p in run_dir.iterdir() if not p.name.startswith(".")]
        if leftovers:
            raise RunConflictError(
                f"--output-dir {str(run_dir)!r} is not empty and holds no {MANIFEST_NAME} (found {leftovers[:5]}); "
                "choose a new or empty directory."
            )
        return None
    manifest = read_manifest(run_dir)
    if manifest.settings_hash != setup.digest:
        raise RunConflictError(
            f"--output-dir {str(run_dir)!r} holds a run made with different settings "
            f"({_describe_differences(manifest.settings, setup.settings)}). Re-run with the same settings to "
            "resume it, or choose a new --output-dir for the new settings."
        )
    return manifest


def _make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFormatError(
            f"--output-dir {str(run_dir)!r} cannot be created ({err.strerror or type(err).__name__}); choose a folder "
            "you can write to (its parent must exist or be creatable)."
        ) from None


def _new_manifest(setup: _RunSetup, task: GenerationTask, previous: RunManifest | None) -> RunManifest:
    config = setup.config
    created = previous.created_at if previous is not None else utc_now()
    return RunManifest(
        settings_hash=setup.digest,
        benchmark=setup.benchmark.to_dict(),
        mode=config.mode,
        settings=setup.settings,
        plan_hash=plan_hash(setup.settings),
        runtime={
            "batch_size": config.batch_size,
            "device": config.device,
            "dtype": config.dtype,
            "num_threads": config.num_threads,
            "base_url": [redact_url(url) for url in config.base_url or []],
        },
        target=config.target(),
        attempt_budget=config.budget(),
        persona=config.persona,
        backend=config.backend,
        model=previous.model if previous is not None else None,
        model_revision=previous.model_revision if previous is not None else None,
        prompt_version=setup.template.version,
        prompt_template=setup.template.text(),
        persona_version=setup.pools.version if setup.pools is not None else None,
        json_schema=task.json_schema,
        output_format=setup.output_format,
        sampling=config.sampling_params(),
        shard_index=config.shard_index,
        num_shards=config.num_shards,
        tokens=dict(previous.tokens) if previous is not None else {"prompt": 0, "completion": 0},
        elapsed_seconds=previous.elapsed_seconds if previous is not None else 0.0,
        repairs=list(previous.repairs) if previous is not None else [],
        created_at=created,
        updated_at=created,
    )


class _Progress:
    """A progress bar of accepted dialogues, with the rejections and the token rate beside it."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self.bar = None
        self.started = time.monotonic()
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="accepted", unit="dlg", file=sys.stderr)

    def update(self, accepted: int, rejected: int, completion_tokens: int) -> None:
        if self.bar is not None:
            self.bar.update(accepted - self.bar.n)
            rate = completion_tokens / max(time.monotonic() - self.started, 1e-9)
            self.bar.set_postfix(rejected=rejected, tok_s=f"{rate:.1f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _sampling(config: GenerationConfig) -> SamplingParams:
    return SamplingParams(**config.sampling_params(), max_loop_tokens=config.max_loop_tokens)


def _budget_message(writer: RunWriter, config: GenerationConfig) -> str:
    reasons = ", ".join(f"{reason} {count}" for reason, count in writer.by_reason.most_common()) or "none"
    return (
        f"The attempt budget ({config.budget()} attempts) ran out with {writer.accepted} of {config.target()} "
        f"dialogues accepted; rejections by reason: {reasons}. Re-run with a larger --attempt-budget to continue "
        "(nothing is generated again)."
    )


def _stream(scheduler: Scheduler, backend: Backend, writer: RunWriter, config: GenerationConfig) -> None:
    """Streams requests through the backend, writing each decided record at once."""
    progress = _Progress(config.target(), writer.accepted, config.progress)
    session_tokens = 0
    try:
        for request, result in backend.stream(scheduler.next_request, _sampling(config)):
            writer.add_tokens(result.prompt_tokens, result.completion_tokens)
            session_tokens += result.completion_tokens
            for record in scheduler.complete(request, result):
                writer.write(record)
            progress.update(writer.accepted, writer.rejected, session_tokens)
            writer.save(RunStatus.RUNNING, force=False)
            if scheduler.finished:
                break
    finally:
        progress.close()


def _load_backend(backend: Backend, setup: _RunSetup) -> None:
    try:
        backend.load()
    except BackendError as err:
        raise BackendError(f"Backend {setup.config.backend!r} could not start: {err}") from err
    now = "json" if setup.config.constrained and backend.supports_json_schema else "lines"
    if now != setup.output_format:
        raise BackendError(
            f"Backend {setup.config.backend!r} changed its JSON-schema support while loading; cannot continue "
            "consistently."
        )


def _warn_about_settings(setup: _RunSetup, backend: Backend, log: Callable[[str], None]) -> None:
    config = setup.config
    if config.constrained and setup.output_format == "lines":
        log(f"Backend {backend.name!r} cannot enforce a JSON schema; using the lenient line format instead.")
    if config.turn_counts == "reference" and setup.turn_distribution is None:
        log(
            f"Benchmark {setup.benchmark.name!r} has no stored turns-per-dialogue histogram (no turns file beside "
            "its definition, and no `data:` section to compute one from); every dialogue is asked for min_turns to "
            "max_turns utterances, as with turn_counts: range."
        )
    needed = estimated_tokens(config)
    if config.max_new_tokens < needed:
        log(
            f"max_new_tokens={config.max_new_tokens} may cut off dialogues of up to max_turns={config.max_turns} "
            f"utterances of up to {config.max_utterance_chars} characters (about {needed} tokens); cut-off outputs "
            "are rejected. Raise max_new_tokens or lower max_turns / max_utterance_chars."
        )


def run_generation(
    config: GenerationConfig,
    *,
    backend: Backend | None = None,
    log: Callable[[str], None] | None = None,
    dialogue_filter: DialogueFilter | None = None,
) -> RunSummary:
    """Generates (continues, or extends) the run described by `config` into `config.output_dir`.

    Args:
        config: The settings; `benchmark` and `output` are required.
        backend: A backend to use instead of building one from the config (e.g. one already loaded and shared);
            it is loaded if needed and not closed. When it is of the kind `config.backend` names, its
            `max_in_flight` is set from the config's `batch_size`.
        log: Where to report progress lines (default: stderr).
        dialogue_filter: A quality filter that sees every valid, non-duplicate dialogue in plan order; default:
            `generation.filters.DialogueFilter` with the config's thresholds when `config.filters` is on.

    Returns:
        A `RunSummary`; its `status` is `complete`, `budget_spent` (re-run with a larger budget to continue) or
        `stopped` when the backend failed (re-run to resume).

    Raises:
        ConfigError: missing or invalid settings (a device that does not exist, ...).
        RunConflictError: `config.output_dir` holds a run with different settings, or cannot be created.
        RunStorageError: a write failed (a full disk); everything decided before is on disk.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    config.require_run_fields()
    if backend is None:
        backend = build_backend(config)
    else:
        apply_in_flight(backend, config)
    setup = _setup(config, backend)
    _previous_manifest(setup)  # a conflicting folder is refused before anything is written into it
    _make_run_dir(setup.run_dir)
    with exclusive_folder(setup.run_dir, "generation"):  # a second writer would interleave its records
        return _generate(setup, backend, log, dialogue_filter)


def _generate(
    setup: _RunSetup, backend: Backend, log: Callable[[str], None], dialogue_filter: DialogueFilter | None
) -> RunSummary:
    config = setup.config
    previous = _previous_manifest(setup)  # read again under the lock: the one the run continues
    _warn_about_settings(setup, backend, log)
    task = GenerationTask(
        config,
        setup.benchmark,
        setup.template,
        setup.pools,
        setup.output_format,
        dialogue_prefix=setup.dialogue_prefix(),
        secrets=secrets_of(config),
        turn_distribution=setup.turn_distribution,
    )
    if dialogue_filter is None and config.filters:
        dialogue_filter = QualityFilter(config, setup.benchmark)
    writer = RunWriter(setup.run_dir, _new_manifest(setup, task, previous), log=log)
    writer.manifest.counts.requested = config.target()
    try:
        return _run(setup, task, backend, writer, dialogue_filter, log)
    finally:
        writer.close()


def _run(
    setup: _RunSetup,
    task: GenerationTask,
    backend: Backend,
    writer: RunWriter,
    dialogue_filter: DialogueFilter | None,
    log: Callable[[str], None],
) -> RunSummary:
    config = setup.config
    disk = writer.open(keep_records=dialogue_filter is not None)
    positions = itertools.count(config.shard_index, config.num_shards)
    window = max(16, 4 * backend.max_in_flight)
    scheduler = Scheduler(
        task,
        positions,
        target=config.target(),
        budget=config.budget(),
        max_attempts=config.max_attempts,
        window=window,
        disk=disk,
        dialogue_filter=dialogue_filter,
    )
    if not scheduler.finished:
        _load_backend(backend, setup)
        writer.manifest.model, writer.manifest.model_revision = backend.model_name, backend.model_revision
        # The threads and slots chosen from this machine, with their reasons, beside the settings given.
        writer.manifest.runtime.update(backend.machine_choices(_sampling(config)))
        task.generator_model = backend.model_name
        writer.save(RunStatus.RUNNING)
    try:
        if not scheduler.finished:
            _stream(scheduler, backend, writer, config)
    except BackendError as err:
        message = redact_text(
            f"The backend failed: {err}. Everything accepted so far is on disk in {str(setup.run_dir)!r}; re-run the "
            "same command to resume.",
            task.secrets,
        )
        log(message)
        return _finish(setup, writer, RunStatus.STOPPED, message)
    except RunStorageError:
        _save_quietly(writer)
        raise
    status = scheduler.status
    if status is RunStatus.RUNNING:
        status = RunStatus.STOPPED
        message = "The backend ended its stream before the run was complete; re-run to resume."
    else:
        message = _budget_message(writer, config) if status is RunStatus.BUDGET_SPENT else ""
    if message:
        log(message)
    return _finish(setup, writer, status, message)


def _finish(setup: _RunSetup, writer: RunWriter, status: RunStatus, message: str) -> RunSummary:
    writer.save(status, message=message)
    return RunSummary.from_manifest(setup.run_dir, writer.manifest)


def _save_quietly(writer: RunWriter) -> None:
    """Marks the run stopped after a failed write, when the manifest can still be written (often it cannot)."""
    try:
        writer.save(RunStatus.STOPPED, message="a write failed; re-run to resume")
    except RunStorageError:
        pass
