"""Resampled labels, a generation task: the generator labels the fixed text of every dialogue of a built config k
times, and the vote shares per utterance are its soft label (`label_source: resampled`; the source paper's reason
for soft labels: annotators disagree, and so do samples of one model).

As the generation task has its prompt in and its parsing out, resampling has `resample_prompt` and `parse_votes`.
Under constrained decoding (the default, where the backend enforces a JSON schema) a sample is the generator given
the prompt it wrote the dialogue from (the row's `prompt`) and decoding under `resample_json_schema`: the
generation's dialogue schema with every speaker and utterance fixed (`const`), so the text is the dialogue's own and
only the emotions, one of the benchmark's label words each, are sampled, each in the context of the prompt and the
dialogue so far: a draw from the generator's own labelling. Without a schema, an annotation prompt shows the
numbered utterances and asks for their labels (parsed leniently). Sample j of the dialogue `dialogue_id` has its
own seed, `derive_seed(seed, dialogue_id, j, "resample")`: the same seed gives the same votes, and a larger k keeps
the first samples.

`resample_config` writes the derived config `<config>_resampled` (`erc_synth_datasets.derived`): `label_probs` the
vote shares in canonical label order, `emotions` the label with the most votes (a tie goes to the generator's own
label when it is among the tied, else to the first tied label in canonical order), `generator_emotions` the
generator's labels, and in `build_info.json` and the card the generator's identity, k, the seed, the sampling and the
agreement with the generator's own labels.

Every sample is appended, as it arrives, to `<dataset>/.resample/<config>.jsonl` by the runs' appender (whole
lines), keyed by dialogue, text, seed and settings: an interrupted resample continues where it stopped, and a second
call with the same settings writes nothing new. A sample that does not parse is recorded (`status: "unparsable"`
with the raw text) and counts as no vote; a backend error is not recorded, so a re-run retries it. The folder starts
with a dot, so `erc-synth push` never uploads it; delete it to resample from scratch.

The generator's backend is built by `generation.backends.build_backend`; `ResampleOptions` takes the backend's and
the sampling's flags from `GenerationConfig` (one definition, the same defaults as `erc-synth generate`), except
`--model`, which defaults to the generator recorded in the config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark
from erc_synth_datasets.build import BuildError, ConfigBuild, read_config_build
from erc_synth_datasets.configuration import ConfigError, field_types
from erc_synth_datasets.derived import ConfigRows, DerivedLabels, read_config_rows, write_derived_config
from erc_synth_datasets.files import parse_json
from erc_synth_datasets.runs import JsonlAppender
from erc_synth_datasets.vocabulary import ConfigName, LabelSource

from .backends import BACKENDS, Backend, BackendError, GenerationRequest, SamplingParams, build_backend
from .config import GenerationConfig, settings_hash
from .parsing import first_json_document, resolve_label
from .plan import derive_seed
from .structured import dialogue_json_schema

__all__ = [
    "CACHE_FOLDER",
    "ANNOTATION_PROMPT",
    "SHARED_FIELDS",
    "ResampleOptions",
    "ResampleSettings",
    "parse_votes",
    "resample_config",
    "resample_json_schema",
    "resample_prompt",
    "resampled_labels",
    "vote_labels",
]

#: Where the samples are cached, in the dataset folder (a dot folder: never pushed).
CACHE_FOLDER = ".resample"
#: The version of the annotation prompt (`resample_prompt` without a schema), in the settings of every sample and
#: in the card; change it whenever its text changes.
ANNOTATION_PROMPT = "annotate-v1"
#: Backend settings that `erc-synth relabel` shares between its label sources (the teacher classifier reads them
#: too), so they are not `ResampleOptions` fields: `resample_config` takes them as arguments.
SHARED_FIELDS = ("batch_size", "device")
_RAW_CHARS = 500
_SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "typical_p", "repetition_penalty", "max_new_tokens")
#: Settings whose default or meaning differs from a generation run's, with their help.
_LABELLING_DEFAULTS: dict[str, tuple[Any, str]] = {
    "model": (
        None,
        "The generator that labels: default the one recorded in the config's rows (`generator_model`), which wrote "
        "the dialogues; else as for `erc-synth generate` (smollm2-135m-instruct, a Hub id, a local folder, or the "
        "served model name for the openai backend).",
    ),
    "constrained": (
        True,
        "Constrained decoding (when the backend supports it): the generator gets the prompt it wrote the dialogue "
        "from and writes the dialogue again under the generation's JSON schema with every speaker and utterance "
        "fixed, so only the emotions (the benchmark's label words) are sampled. --no-constrained: an annotation "
        "prompt shows the utterances and asks for their labels, parsed leniently.",
    ),
}


@dataclass
class ResampleSettings:
    """What resampling adds to the generator's settings: how many samples, and their base seed."""

    samples: int = field(
        default=5,
        metadata={
            "range": "[1, 1000]",
            "metavar": "K",
            "help": "[resampled] How many times the generator labels each dialogue (the soft label "
            "is the vote shares of the K samples).",
        },
    )
    seed: int = field(
        default=0,
        metadata={
            "range": "[0, 9223372036854775807]",
            "help": "[resampled] Base seed; sample j of a dialogue uses a seed derived from it, the "
            "dialogue id and j.",
        },
    )

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"--samples must be at least 1, but got {self.samples}.")

    def changed(self) -> list[str]:
        """The flags whose value differs from its default (`erc-synth relabel` refuses them for another source)."""
        return [
            "--" + spec.name.replace("_", "-")
            for spec in dataclasses.fields(self)
            if getattr(self, spec.name) != spec.default
        ]


def _generator_fields() -> list[tuple[str, Any, Any]]:
    """The backend's and the sampling's fields of `GenerationConfig` (help, range and type as there), the defaults of
    `_LABELLING_DEFAULTS` changed, the `SHARED_FIELDS` left out."""
    names = ["backend"]
    for backend in BACKENDS:
        for spec in dataclasses.fields(BACKENDS.get(backend).options):
            names.append(spec.metadata.get("config", spec.name))
    names += _SAMPLING_FIELDS
    specs = {spec.name: spec for spec in dataclasses.fields(GenerationConfig)}
    types = field_types(GenerationConfig)
    out = []
    for name in dict.fromkeys(names):
        if name in SHARED_FIELDS:
            continue
        spec = specs[name]
        default, help_text = _LABELLING_DEFAULTS.get(name, (spec.default, spec.metadata.get("help", "")))
        metadata = {**spec.metadata, "help": f"[resampled] {help_text}"}
        tp = types[name] if default is not None or spec.default is None else types[name] | None
        out.append((name, tp, field(default=default, metadata=metadata)))
    return out


#: The options of resampled labels: `ResampleSettings` and the generator's backend and sampling flags, each defined
#: once in `GenerationConfig` (see `_generator_fields`). `erc-synth relabel` adds `--batch-size` and `--device`.
ResampleOptions = dataclasses.make_dataclass(
    "ResampleOptions", _generator_fields(), bases=(ResampleSettings,), namespace={"__module__": __name__}
)
ResampleOptions.__doc__ = (
    "Options of resampled labels (`erc-synth relabel --label-source resampled`): `ResampleSettings` plus the "
    "generator's backend and sampling settings, as `GenerationConfig` defines them."
)


def resample_json_schema(benchmark: Benchmark, speakers: Sequence[str], utterances: Sequence[str]) -> dict[str, Any]:
    """The generation's dialogue schema (`structured.dialogue_json_schema`, label words) with every turn's speaker
    and utterance fixed (`const`): a document of it differs from the dialogue only in its emotions."""
    count = len(utterances)
    schema = dialogue_json_schema(benchmark, min_turns=count, max_turns=count, emotion_format="word")
    turns = schema["properties"]["turns"]
    item = turns.pop("items")
    turns["prefixItems"] = [
        {**item, "properties": {**item["properties"], "speaker": {"const": speaker}, "utterance": {"const": text}}}
        for speaker, text in zip(speakers, utterances, strict=True)
    ]
    turns["items"] = False
    return schema


def resample_prompt(row: dict[str, Any], benchmark: Benchmark, *, constrained: bool) -> list[dict[str, str]]:
    """The chat messages of one sample of a dialogue.

    Constrained, the prompt the generator wrote the dialogue from (the row's `prompt`): under `resample_json_schema`
    the generator writes its own dialogue again with only the emotions sampled. Otherwise (or for a row without a
    stored prompt) an annotation prompt: the speakers and utterances, numbered, without their labels, and the label
    words, asking for `{"emotions": [...]}`.
    """
    if constrained and row.get("prompt"):
        return [{"role": "user", "content": row["prompt"]}]
    speakers, utterances = row["speakers"], row["utterances"]
    lines = "\n".join(
        f"{number}. {speaker}: {utterance}"
        for number, (speaker, utterance) in enumerate(zip(speakers, utterances, strict=True), start=1)
    )
    content = (
        f"Below is a conversation in the style of {benchmark.display_name}, one numbered utterance per line.\n\n"
        f"{lines}\n\n"
        f"Label the emotion the speaker expresses in each utterance, in order, with one of: "
        f"{', '.join(benchmark.label_words)}.\n"
        f'Answer with JSON only: {{"emotions": [...]}} with exactly {len(utterances)} labels, the label of '
        "utterance 1 first."
    )
    return [{"role": "user", "content": content}]


def parse_votes(
    text: str, benchmark: Benchmark, speakers: Sequence[str], utterances: Sequence[str]
) -> list[str] | None:
    """The label names in an answer (one per utterance, in order), or None when it holds no complete vote.

    The first JSON object in the text is read (an answer may wrap it in prose or a code fence): a dialogue document
    (`turns`, whose speakers and utterances must be the dialogue's) or an annotation (`emotions`); either must give
    exactly one label per utterance, each a label word, a label name or a legend number.
    """
    try:
        data = first_json_document(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    turns = data.get("turns")
    if isinstance(turns, list):
        if not all(isinstance(turn, dict) for turn in turns) or [
            (turn.get("speaker"), turn.get("utterance")) for turn in turns
        ] != list(zip(speakers, utterances, strict=True)):
            return None
        values = [turn.get("emotion") for turn in turns]
    else:
        values = data.get("emotions")
    if not isinstance(values, list) or len(values) != len(utterances):
        return None
    labels = [resolve_label(value, benchmark)[0] for value in values]
    return None if any(label is None for label in labels) else labels


def vote_labels(votes: Sequence[Sequence[str]], generator: Sequence[str], labels: Sequence[str]) -> DerivedLabels:
    """The soft and hard labels of one dialogue from its parsed samples.

    Args:
        votes: One list of label names per parsed sample, each one label per utterance.
        generator: The generator's own labels of the dialogue.
        labels: The benchmark's labels in canonical order.

    Returns:
        One dialogue's labels (`DerivedLabels` with one list each): the vote shares in canonical order, the label
        with the most votes (ties: the generator's label when tied, else the first tied label in canonical order);
        with no parsed sample, the generator's labels one-hot.
    """
    emotions, probs = [], []
    for turn, own in enumerate(generator):
        if votes:
            counts = [sum(vote[turn] == label for vote in votes) for label in labels]
            top = max(counts)
            tied = [label for label, count in zip(labels, counts, strict=True) if count == top]
            emotions.append(own if own in tied else tied[0])
            probs.append([count / len(votes) for count in counts])
        else:
            emotions.append(own)
            probs.append([1.0 if label == own else 0.0 for label in labels])
    return DerivedLabels(emotions=[emotions], probs=[probs], weights=[[1.0] * len(generator)])


def _text_sha256(row: dict[str, Any]) -> str:
    text = json.dumps([row["speakers"], row["utterances"]], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class _Sample:
    dialogue_id: str
    text_sha256: str
    index: int  # j, 0..k-1
    seed: int


def _samples_of(row: dict[str, Any], options: Any) -> list[_Sample]:
    """The samples of one dialogue: j = 0..k-1, each with its seed (from the base seed, the dialogue id and j)."""
    key, text = row["dialogue_id"], _text_sha256(row)
    return [_Sample(key, text, j, derive_seed(options.seed, key, j, "resample")) for j in range(options.samples)]


def _read_cache(path: Path, settings: str) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The cached samples made with `settings`, by (dialogue id, text hash, seed); a torn last line is skipped."""
    records = {}
    if not path.is_file():
        return records
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:  # bounded and strict; a line that is not UTF-8 (UnicodeDecodeError is a ValueError) is skipped too
            record = parse_json(line.decode("utf-8"), where=str(path), error=ValueError, line_offset=number - 1)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("settings") == settings:
            records[(record["dialogue_id"], record["text_sha256"], record["seed"])] = record
    return records


def resampled_labels(
    backend: Backend,
    source: ConfigRows,
    options: Any,
    cache: str | Path,
    *,
    settings: str,
) -> tuple[dict[str, DerivedLabels], dict[str, Any]]:
    """Labels every dialogue of every split of `source` `options.samples` times (the samples the cache lacks).

    Args:
        backend: A generation backend, built (loaded here only when a sample is missing).
        source: The built config's rows.
        options: `ResampleOptions` (samples, seed, sampling, constrained).
        cache: The JSONL file of samples.
        settings: The hash of everything that makes a sample (model, sampling, schema, prompt), its cache key.

    Returns:
        Per split the new labels, and the counts for the record (samples made now, cached, unparsable, dialogues
        without a parsed sample, the generator's label's mean vote share, unanimous utterances).

    Raises:
        BackendError: some samples failed in the backend (the others are cached: re-run to retry them).
    """
    benchmark = source.build.benchmark
    rows = [row for split in source.splits for row in source.splits[split]]
    samples = {row["dialogue_id"]: _samples_of(row, options) for row in rows}
    by_id = {row["dialogue_id"]: row for row in rows}
    cache = Path(cache)
    done = _read_cache(cache, settings)
    todo = deque(
        sample
        for row in rows
        for sample in samples[row["dialogue_id"]]
        if (sample.dialogue_id, sample.text_sha256, sample.seed) not in done
    )
    made, errors = len(todo), []
    if todo:
        backend.load()
        constrained = _constrained(options, backend)
        # One schema object per dialogue, shared by its samples (asked one after another): the backend compiles it
        # once and finds it by identity.
        schema: dict[str, Any] = {}
        pending: dict[str, _Sample] = {}

        def next_request() -> GenerationRequest | None:
            if not todo:
                return None
            sample = todo.popleft()
            row = by_id[sample.dialogue_id]
            if constrained and schema.get("dialogue_id") != sample.dialogue_id:
                schema.update(
                    dialogue_id=sample.dialogue_id,
                    schema=resample_json_schema(benchmark, row["speakers"], row["utterances"]),
                )
            key = f"{sample.dialogue_id}:{sample.index}"
            pending[key] = sample
            return GenerationRequest(
                messages=resample_prompt(row, benchmark, constrained=constrained),
                seed=sample.seed,
                json_schema=schema["schema"] if constrained else None,
                key=key,
            )

        sampling = SamplingParams(**{name: getattr(options, name) for name in _SAMPLING_FIELDS})
        with JsonlAppender(cache, fsync=True) as appender, _progress(made, options.progress) as bar:
            for request, result in backend.stream(next_request, sampling):
                sample = pending.pop(request.key)
                bar.update(1)
                if result.error:
                    errors.append(result.error)
                    continue
                row = by_id[sample.dialogue_id]
                votes = parse_votes(result.text, benchmark, row["speakers"], row["utterances"])
                record: dict[str, Any] = {
                    "dialogue_id": sample.dialogue_id,
                    "text_sha256": sample.text_sha256,
                    "seed": sample.seed,
                    "sample": sample.index,
                    "settings": settings,
                    "model": backend.model_name,
                }
                if votes is None:
                    record.update(status="unparsable", raw=result.text[:_RAW_CHARS])
                else:
                    record.update(status="ok", labels=votes)
                appender.write(record)
                done[(sample.dialogue_id, sample.text_sha256, sample.seed)] = record
    if errors:
        raise BackendError(
            f"{len(errors)} of {made} resampling requests failed in the {backend.name} backend (first: "
            f"{errors[0][:200]}); the other samples are cached in {str(cache)!r}: re-run the same command to retry."
        )
    return _votes_to_labels(source, samples, done, made)


def _votes_to_labels(
    source: ConfigRows,
    samples: dict[str, list[_Sample]],
    done: dict[tuple[str, str, int], dict[str, Any]],
    made: int,
) -> tuple[dict[str, DerivedLabels], dict[str, Any]]:
    labels: dict[str, DerivedLabels] = {}
    unparsable = without = unanimous = utterances = 0
    own_share = 0.0
    for split, rows in source.splits.items():
        out = DerivedLabels(emotions=[], probs=[], weights=[])
        for row in rows:
            records = [done[(s.dialogue_id, s.text_sha256, s.seed)] for s in samples[row["dialogue_id"]]]
            votes = [record["labels"] for record in records if record["status"] == "ok"]
            unparsable += len(records) - len(votes)
            without += not votes
            generator = row.get("generator_emotions") or row["emotions"]
            one = vote_labels(votes, generator, source.labels)
            for own, probs in zip(generator, one.probs[0], strict=True):
                utterances += 1
                own_share += probs[source.labels.index(own)]
                unanimous += bool(votes) and max(probs) == 1.0
            out.emotions += one.emotions
            out.probs += one.probs
            out.weights += one.weights
        labels[split] = out
    total = sum(len(s) for s in samples.values())
    counts = {
        "samples_made_now": made,
        "samples_cached": total - made,
        "unparsable_samples": unparsable,
        "dialogues_without_votes": without,
        "generator_label_vote_share": own_share / max(1, utterances),
        "unanimous_utterances": unanimous / max(1, utterances),
    }
    return labels, counts


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress(total: int, show: bool) -> Any:
    if not show or total == 0:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="resampled", unit="sample", file=sys.stderr)


def _constrained(options: Any, backend: Backend) -> bool:
    return bool(options.constrained and backend.supports_json_schema)


def _settings(options: Any, model: str, backend: Backend, source: ConfigRows) -> dict[str, Any]:
    """Everything that decides a sample besides its seed and text (the cache key and the config's record)."""
    return {
        "backend": options.backend,
        "model": model,
        "constrained": _constrained(options, backend),
        "sampling": {name: getattr(options, name) for name in _SAMPLING_FIELDS},
        "prompt": "generation" if _constrained(options, backend) else ANNOTATION_PROMPT,
        "labels": list(source.labels),
    }


def resample_config(
    dataset: str | Path,
    dataset_config: str,
    options: Any,
    *,
    batch_size: int | None = None,
    device: str | None = None,
    backend: Backend | None = None,
) -> ConfigBuild:
    """Labels the dialogues of a built config `options.samples` times with the generator; writes `<config>_resampled`.

    A config already written with the same settings, samples, seed and source files is returned as it is.

    Args:
        dataset: A dataset folder built by erc-synth.
        dataset_config: The built config (e.g. `meld_natural`).
        options: `ResampleOptions`.
        batch_size: Requests decoding at once (transformers backend; default 8).
        device: Device of a local generator.
        backend: A backend built and loaded elsewhere (a test's shared model); default built from `options`.

    Raises:
        ConfigError: the config is derived, records no single generator (and --model is unset), or a backend option
            cannot work.
        BuildError: the config is not in the dataset folder.
        BackendError: the generator failed (the samples made are cached: re-run to continue).
    """
    name = ConfigName.parse(dataset_config)
    if name.is_derived:
        raise ConfigError(
            f"--dataset-config {dataset_config!r} is already derived; resample the built config {name.base} instead."
        )
    source = read_config_rows(dataset, dataset_config)
    writers = sorted({row.get("generator_model") or "" for rows in source.splits.values() for row in rows})
    writer = writers[0] if len(writers) == 1 and writers[0] else None
    if options.model is None and writer is None:
        raise ConfigError(
            f"Config {dataset_config!r} records the generators {writers}, not one: pass --model with the generator "
            "that labels."
        )
    model = options.model or writer
    if backend is None:
        given = {**dataclasses.asdict(options), "model": model, "device": device}
        backend = build_backend(SimpleNamespace(**given, batch_size=batch_size or GenerationConfig.batch_size))
    settings = _settings(options, model, backend, source)
    key = settings_hash({**settings, "source_files": source.build.file_sha256})
    target = ConfigName(name.benchmark, name.mode, persona=name.persona, labels=LabelSource.RESAMPLED)
    current = _current(dataset, str(target), key, options)
    if current is not None:
        return current
    cache = Path(dataset) / CACHE_FOLDER / f"{dataset_config}.jsonl"
    labels, counts = resampled_labels(backend, source, options, cache, settings=settings_hash(settings))
    record = {
        "source": LabelSource.RESAMPLED.value,
        "generator": {
            "backend": backend.name,
            "model": backend.model_name,
            "revision": backend.model_revision,
            "wrote_the_dialogues": backend.model_name == writer,
        },
        "samples": options.samples,
        "seed": options.seed,
        **{k: v for k, v in settings.items() if k not in ("backend", "model", "labels")},
        "settings_sha256": key,
        **counts,
    }
    return write_derived_config(source, target, labels, label_source=record)


def _current(dataset: str | Path, target: str, key: str, options: Any) -> ConfigBuild | None:
    """The resampled config when it was written with these settings, samples and seed (and the same source)."""
    try:
        built = read_config_build(dataset, target)
    except BuildError:
        return None
    record = built.label_source or {}
    same = (record.get("settings_sha256"), record.get("samples"), record.get("seed"))
    return built if same == (key, options.samples, options.seed) else None
