"""Prompt templates and the prompt text of one planned dialogue.

Templates are YAML files (package data): the generic one in generation/defaults/prompts/, each built-in benchmark's
own in the `prompts/` folder beside its definition (erc_synth_datasets/builtin_benchmarks/<name>/prompts/); a custom
benchmark names its default template with `prompt_file:` in its YAML. A file of the same name in the user's
`$ERC_SYNTH_CONFIGS/prompts/` wins over a shipped one.

A prompt is one user message in the source paper's three parts: a task definition in the benchmark's style (with
the balanced target emotion named in words and the personas, when used), a numbered emotion legend with one number
required after every utterance, and a fixed structure (JSON under constrained decoding, else lines of
`Speaker: utterance (number)`).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark, builtin_benchmarks, get_benchmark
from erc_synth_datasets.errors import ErcSynthError
from erc_synth_datasets.files import read_yaml_mapping

from .config import EMOTION_FORMATS, configs_dir, default_file, shipped_defaults_dir

__all__ = [
    "LABEL_NUMBER_BASE",
    "OUTPUT_FORMATS",
    "PLACEHOLDERS",
    "PromptError",
    "PromptTemplate",
    "build_prompt",
    "default_prompt_file",
    "label_legend",
    "load_prompt_template",
    "prompt_template_names",
    "resolve_prompt_file",
]

#: The legend numbers labels from 1 (the benchmark's first canonical label is "1").
LABEL_NUMBER_BASE = 1
OUTPUT_FORMATS = ("json", "lines")
PLACEHOLDERS = frozenset(
    {
        "description",
        "display_name",
        "speakers",
        "min_turns",
        "max_turns",
        "num_turns",
        "legend",
        "emotion",
        "persona",
        "example",
    }
)
_PARTS = ("task", "balanced", "persona", "labels", "format_lines", "format_json")


class PromptError(ErcSynthError, ValueError):
    """A prompt template file is missing, malformed or uses an unknown placeholder."""


@dataclass(frozen=True)
class PromptTemplate:
    """The editable text of a prompt; see generation/defaults/prompts/default.yaml for what each part is.

    Args:
        version: Stored with every dialogue; change it whenever the text changes.
        task: Sentence 1, the task definition.
        balanced: Appended to the task in balanced mode; must use {emotion}.
        persona: Appended to the task with persona conditioning; must use {persona}.
        labels: Sentence 2, the numbered legend; must use {legend}.
        format_lines: Sentence 3 for the free line format.
        format_json: Sentence 3 under constrained (JSON) decoding.
        source: The file the template was read from.
    """

    version: str
    task: str
    balanced: str
    persona: str
    labels: str
    format_lines: str
    format_json: str
    source: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def text(self) -> dict[str, str]:
        """The template's content without its file path (what the settings hash covers)."""
        data = self.to_dict()
        data.pop("source")
        return data

    @property
    def states_num_turns(self) -> bool:
        """Whether the task states the number of utterances asked for with `{num_turns}`."""
        return "num_turns" in _placeholders(self.task)


def default_prompt_file(benchmark: Benchmark) -> Path:
    """The benchmark's default template: the `prompt_file` its definition names (each built-in benchmark names its
    paper template with the number of utterances written `{num_turns}`, which the default `turn_counts: reference`
    needs), else prompts/<benchmark>.yaml when it exists, else prompts/default.yaml; a file of the same name in the
    user's `$ERC_SYNTH_CONFIGS/prompts/` first."""
    own = benchmark.files.prompt_file if benchmark.files is not None else None
    if own is not None:
        return _user_file(own.name) or own
    found = default_file("prompts", f"{benchmark.name}.yaml")
    return found or default_file("prompts", "default.yaml") or configs_dir() / "prompts" / "default.yaml"


def _user_file(name: str) -> Path | None:
    path = configs_dir() / "prompts" / name
    return path if path.is_file() else None


def _template_folders(benchmark: Benchmark | None = None) -> list[Path]:
    """Where template names are looked up, first match first: the user's folder, the generic templates, the
    benchmark's own `prompts/`, then every built-in benchmark's."""
    owners = [benchmark] if benchmark is not None else []
    owners += [get_benchmark(name) for name in builtin_benchmarks()]
    folders = [configs_dir() / "prompts", shipped_defaults_dir() / "prompts"]
    folders += [owner.files.prompts_dir for owner in owners if owner.files is not None]
    return list(dict.fromkeys(folders))


def prompt_template_names(benchmark: Benchmark | None = None) -> list[str]:
    """The template names `--prompt_file NAME` finds (`prompts/NAME.yaml` in `$ERC_SYNTH_CONFIGS`, shipped, or in a
    benchmark's folder)."""
    return sorted({path.stem for folder in _template_folders(benchmark) for path in folder.glob("*.yaml")})


def resolve_prompt_file(value: str | Path | None, benchmark: Benchmark) -> Path:
    """The template file of a `prompt_file` setting: a path, a template NAME (`meld` is the paper's MELD prompt,
    `prompts/meld.yaml` of the MELD folder; see `prompt_template_names`), or None for the benchmark's default.

    Raises:
        PromptError: a name (no folder, no `.yaml`) that no template has.
    """
    if value is None:
        return default_prompt_file(benchmark)
    path = Path(value)
    if isinstance(value, str) and path.suffix == "" and len(path.parts) == 1 and not path.is_file():
        found = next(
            (f / f"{value}.yaml" for f in _template_folders(benchmark) if (f / f"{value}.yaml").is_file()), None
        )
        if found is None:
            raise PromptError(
                f"No prompt template named {value!r}; available: {prompt_template_names(benchmark)}. Pass a template "
                "name or the path of a template YAML as --prompt_file."
            )
        return found
    return path


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as err:
        raise PromptError(f"bad braces ({err}); write literal braces as {{{{ and }}}}") from None


def load_prompt_template(path: str | Path | None, benchmark: Benchmark) -> PromptTemplate:
    """Reads a prompt template YAML (`path`, a template name such as `meld`, or the benchmark's default file).

    Raises:
        PromptError: the file is missing, lacks a part, has unknown keys or placeholders, or a part lacks the
            placeholder it needs.
    """
    path = resolve_prompt_file(path, benchmark)
    data = read_yaml_mapping(
        path,
        what="Prompt template",
        error=PromptError,
        missing_hint="pass --prompt_file with a template YAML (see generation/defaults/prompts/default.yaml) or set "
        "ERC_SYNTH_CONFIGS to a folder holding prompts/",
    )
    expected = {"version", *_PARTS}
    unknown, missing = sorted(set(data) - expected), sorted(expected - set(data))
    if unknown or missing:
        raise PromptError(
            f"Prompt template {str(path)!r}: unknown keys {unknown}, missing keys {missing}; "
            f"expected exactly {sorted(expected)}."
        )
    for part in _PARTS:
        if not isinstance(data[part], str):
            raise PromptError(f"Prompt template {str(path)!r}: {part!r} must be text, but got {data[part]!r}.")
        try:
            used = _placeholders(data[part])
        except PromptError as err:
            raise PromptError(f"Prompt template {str(path)!r}, part {part!r}: {err}.") from None
        bad = sorted(used - PLACEHOLDERS)
        if bad:
            raise PromptError(
                f"Prompt template {str(path)!r}, part {part!r}: unknown placeholders {bad}; "
                f"available: {sorted(PLACEHOLDERS)}."
            )
    for part, needed in (("balanced", "emotion"), ("persona", "persona"), ("labels", "legend")):
        if needed not in _placeholders(data[part]):
            raise PromptError(f"Prompt template {str(path)!r}: part {part!r} must contain {{{needed}}}.")
    return PromptTemplate(
        version=str(data["version"]), **{part: data[part].strip() for part in _PARTS}, source=str(path)
    )


def label_legend(benchmark: Benchmark) -> str:
    """`1 = neutral, 2 = surprise, ...` (label words, canonical order)."""
    return ", ".join(f"{i + LABEL_NUMBER_BASE} = {word}" for i, word in enumerate(benchmark.label_words))


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _example(output_format: str, speakers: list[str], emotion_format: str = "number") -> str:
    first = speakers[0]
    second = speakers[1] if len(speakers) > 1 else speakers[0]
    if output_format == "json":
        # Schematic on purpose: small models copy concrete example values verbatim. The emotion is what the JSON
        # schema enforces (`emotion_format`): a legend number, or a label word.
        return f'{{"turns": [{{"speaker": name, "utterance": text, "emotion": {emotion_format}}}, ...]}}'
    return f"{first}: ... (number)\n{second}: ... (number)"


def render_personas(persona: dict[str, Any]) -> str:
    """The persona block of a prompt: one sentence per speaker, then the situation."""
    sentences = []
    for person in persona.get("speakers", []):
        sentences.append(
            f"{person['speaker']} is a {person['age']}-year-old {person['gender']}, works as a "
            f"{person['occupation']}, is {person['personality']}, and {person['background']}."
        )
    if persona.get("situation"):
        sentences.append(f"The situation: {persona['situation']}.")
    return " ".join(sentences)


def build_prompt(
    template: PromptTemplate,
    benchmark: Benchmark,
    *,
    output_format: str,
    min_turns: int,
    max_turns: int,
    target_emotion: str | None = None,
    persona: dict[str, Any] | None = None,
    num_turns: int | None = None,
    emotion_format: str = "number",
) -> str:
    """The exact user message for one dialogue.

    Args:
        template: The prompt template.
        benchmark: The benchmark the dialogue follows.
        output_format: `json` (constrained decoding) or `lines` (free line format).
        min_turns: Fewest utterances allowed.
        max_turns: Most utterances allowed.
        num_turns: The number of utterances this dialogue is asked for (`{num_turns}` renders it), or None:
            `{num_turns}` then renders `min_turns to max_turns`, so a template reads the same as one written with
            `{min_turns} to {max_turns}`.
        target_emotion: The balanced target, as a label NAME of the benchmark (named in the prompt by its word).
        persona: The sampled personas and situation (`generation.personas.sample_persona`), or None.
        emotion_format: What the JSON schema asks for as each utterance's emotion (`number` or `word`); the JSON
            example (`{example}`) shows the same.
    """
    if output_format not in OUTPUT_FORMATS:
        raise PromptError(f"output_format must be one of {list(OUTPUT_FORMATS)}, but got {output_format!r}.")
    if emotion_format not in EMOTION_FORMATS:
        raise PromptError(f"emotion_format must be one of {list(EMOTION_FORMATS)}, but got {emotion_format!r}.")
    speakers = [p["speaker"] for p in persona["speakers"]] if persona else list(benchmark.speakers)
    values: dict[str, Any] = {
        "description": benchmark.description,
        "display_name": benchmark.display_name,
        "speakers": _join_names(speakers),
        "min_turns": min_turns,
        "max_turns": max_turns,
        "num_turns": str(num_turns) if num_turns is not None else f"{min_turns} to {max_turns}",
        "legend": label_legend(benchmark),
        "emotion": "",
        "persona": render_personas(persona) if persona else "",
        "example": _example(output_format, speakers, emotion_format),
    }
    task = template.task
    if target_emotion is not None:
        values["emotion"] = benchmark.label_words[benchmark.label_id(target_emotion)]
        task = f"{task} {template.balanced}"
    if persona:
        task = f"{task} {template.persona}"
    structure = template.format_json if output_format == "json" else template.format_lines
    return "\n".join(part.format(**values).strip() for part in (task, template.labels, structure))
