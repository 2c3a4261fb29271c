"""The task side of generation: a plan item becomes a chat request, a raw text becomes a record or a rejection.

The task knows the benchmark, the prompt and the checks; it knows nothing about backends, files or order. Checking
is split in two: `check` runs every test that depends on the text alone (any order, at once); the tests that depend
on what was accepted before (duplicates, quality filters) are the scheduler's, in plan order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark
from erc_synth_datasets.redaction import redact_text
from erc_synth_datasets.runs import AcceptedRecord, RejectionRecord

from .backends import GenerationRequest, GenerationResult
from .config import GenerationConfig
from .parsing import parse_output, storable_text
from .personas import PersonaPools
from .plan import PlanItem, PromptPlan, derive_seed
from .prompts import PromptError, PromptTemplate, build_prompt
from .structured import dialogue_json_schema
from .turns import TurnDistribution
from .validation import ValidDialogue, Verdict, validate_dialogue

__all__ = ["GenerationTask", "check_template_states_turns"]


def check_template_states_turns(template: PromptTemplate) -> None:
    """Refuses a template that would not tell the model the drawn number of utterances.

    Raises:
        PromptError: the template's task has no `{num_turns}`.
    """
    if not template.states_num_turns:
        raise PromptError(
            f"turn_counts='reference' asks every dialogue for a drawn number of utterances, but the prompt template "
            f"{template.source or template.version!r} does not state it (its task has no {{num_turns}}); use a "
            "template that does (--prompt_file meld-v3 for MELD) or set turn_counts: range."
        )


class GenerationTask:
    """Plan item -> chat request; raw text -> validated dialogue or rejection; both -> run records.

    Args:
        config: The run settings.
        benchmark: The benchmark the dialogues follow.
        template: The prompt template.
        persona_pools: Persona pools when persona conditioning is on, else None.
        output_format: `json` (constrained decoding) or `lines`.
        dialogue_prefix: The prefix of every `dialogue_id` (`<benchmark>-<mode>-<plan hash>`).
        generator_model: The model name recorded with every dialogue.
        secrets: Values to redact from stored messages (the API key in use).
        turn_distribution: The distribution every dialogue's turn count is drawn from (`turn_counts: reference`),
            or None: every dialogue is asked for min_turns to max_turns utterances.

    Raises:
        PromptError: turn counts are drawn but the template's task does not state `{num_turns}`.
    """

    def __init__(
        self,
        config: GenerationConfig,
        benchmark: Benchmark,
        template: PromptTemplate,
        persona_pools: PersonaPools | None,
        output_format: str,
        *,
        dialogue_prefix: str = "",
        generator_model: str = "",
        secrets: Iterable[str | None] = (),
        turn_distribution: TurnDistribution | None = None,
    ) -> None:
        self.config = config
        self.benchmark = benchmark
        self.template = template
        self.output_format = output_format
        self.dialogue_prefix = dialogue_prefix
        self.generator_model = generator_model
        self.secrets = tuple(secret for secret in secrets if secret)
        if turn_distribution is not None:
            check_template_states_turns(template)
        self.turn_distribution = turn_distribution
        self.plan = PromptPlan(benchmark, config.mode, config.seed, persona_pools, turn_distribution)
        #: The schema of the whole range (min_turns..max_turns), as recorded in the manifest; None for lines.
        self.json_schema = self._schema(None) if output_format == "json" else None
        self._schemas: dict[int | None, dict[str, Any]] = {}

    def _schema(self, num_turns: int | None) -> dict[str, Any]:
        config = self.config
        return dialogue_json_schema(
            self.benchmark,
            min_turns=num_turns if num_turns is not None else config.min_turns,
            max_turns=num_turns if num_turns is not None else config.max_turns,
            max_utterance_chars=config.max_utterance_chars,
            emotion_format=config.emotion_format,
        )

    def schema_for(self, item: PlanItem) -> dict[str, Any] | None:
        """The JSON schema of one dialogue's request: exactly `item.num_turns` turns when a count was drawn. One
        object per distinct count, shared by every request asking for it (backends compile each once)."""
        if self.output_format != "json":
            return None
        if item.num_turns not in self._schemas:
            self._schemas[item.num_turns] = self._schema(item.num_turns)
        return self._schemas[item.num_turns]

    def prompt(self, item: PlanItem) -> str:
        return build_prompt(
            self.template,
            self.benchmark,
            output_format=self.output_format,
            min_turns=self.config.min_turns,
            max_turns=self.config.max_turns,
            target_emotion=item.target_emotion,
            persona=item.persona,
            num_turns=item.num_turns,
            emotion_format=self.config.emotion_format,
        )

    def request(self, index: int, attempt: int) -> GenerationRequest:
        """The request of attempt `attempt` at plan index `index`; its seed is derived from both."""
        item = self.plan.item(index)
        return GenerationRequest(
            messages=[{"role": "user", "content": self.prompt(item)}],
            seed=derive_seed(self.config.seed, index, attempt),
            json_schema=self.schema_for(item),
            key=f"{index}:{attempt}",
        )

    def check(self, index: int, result: GenerationResult) -> Verdict:
        """Every check that depends on this output alone (not on earlier dialogues)."""
        if result.error is not None:
            return Verdict(reason="backend_error", message=result.error)
        if "loop" in result.extra:
            return Verdict(reason="repetition_loop", message=result.extra["loop"])
        parsed = parse_output(result.text, self.benchmark, self.output_format)
        return validate_dialogue(
            parsed,
            self.benchmark,
            min_turns=self.config.min_turns,
            max_turns=self.config.max_turns,
            target_emotion=self.plan.item(index).target_emotion,
            max_utterance_chars=self.config.max_utterance_chars,
        )

    def accepted(
        self, request: GenerationRequest, index: int, attempt: int, dialogue: ValidDialogue
    ) -> AcceptedRecord:
        item = self.plan.item(index)
        return AcceptedRecord(
            dialogue_id=f"{self.dialogue_prefix}-{index:06d}",
            speakers=dialogue.speakers,
            utterances=dialogue.utterances,
            emotions=dialogue.emotions,
            mode=item.mode,
            target_emotion=item.target_emotion,
            persona=item.persona_json(),
            generator_model=self.generator_model,
            sampling=self.config.sampling_params(),
            seed=request.seed,
            prompt_version=self.template.version,
            prompt=request.messages[-1]["content"],
            index=index,
            attempt=attempt,
        )

    def rejected(
        self, request: GenerationRequest, index: int, attempt: int, result: GenerationResult, verdict: Verdict
    ) -> RejectionRecord:
        """The rejection record, with credentials redacted from the message and the raw text."""
        return RejectionRecord(
            index=index,
            attempt=attempt,
            seed=request.seed,
            reason=str(verdict.reason),
            message=storable_text(redact_text(verdict.message, self.secrets)),
            raw_text=storable_text(redact_text(result.text, self.secrets)),
            prompt=request.messages[-1]["content"],
            target_emotion=self.plan.item(index).target_emotion,
            completion_tokens=result.completion_tokens,
        )
