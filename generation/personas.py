"""Layered personas (PersonaGen): demographics, then socio-cultural background, then a situation.

Pools live in an editable YAML file (generation/defaults/personas/default.yaml). A persona is drawn reproducibly from a
`random.Random` seeded by the run seed and the dialogue's plan index, and stored with the dialogue as JSON.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from erc_synth_datasets.benchmarks import Benchmark
from erc_synth_datasets.errors import ErcSynthError
from erc_synth_datasets.files import read_yaml_mapping

from .config import configs_dir, default_file

__all__ = ["PersonaError", "PersonaPools", "default_persona_file", "load_persona_pools", "sample_persona"]


class PersonaError(ErcSynthError, ValueError):
    """A persona pools file is missing or malformed."""


@dataclass(frozen=True)
class PersonaPools:
    """The lists personas are drawn from (see generation/defaults/personas/default.yaml)."""

    version: str
    ages: list[int]
    genders: list[str]
    occupations: list[str]
    personality_types: list[str]
    backgrounds: list[str]
    situations: list[str]
    speakers_per_dialogue: list[int] = field(default_factory=lambda: [2])
    fixed_genders: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def content(self) -> dict[str, Any]:
        """The pools without their file path (what the settings hash covers)."""
        data = self.to_dict()
        data.pop("source")
        return data


_LISTS = ("ages", "genders", "occupations", "personality_types", "backgrounds", "situations")


def default_persona_file() -> Path:
    """personas/default.yaml: the user's `$ERC_SYNTH_CONFIGS` copy, else the one shipped in the package."""
    return default_file("personas", "default.yaml") or configs_dir() / "personas" / "default.yaml"


def load_persona_pools(path: str | Path | None = None) -> PersonaPools:
    """Reads persona pools from YAML (default: generation/defaults/personas/default.yaml).

    Raises:
        PersonaError: the file is missing, has unknown keys, or a pool is empty.
    """
    path = Path(path) if path is not None else default_persona_file()
    data = read_yaml_mapping(
        path,
        what="Persona pools",
        error=PersonaError,
        missing_hint="pass --persona_file (see generation/defaults/personas/default.yaml)",
    )
    valid = {"version", "speakers_per_dialogue", "fixed_genders", *_LISTS}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise PersonaError(f"Persona pools {str(path)!r} have unknown keys {unknown}; valid keys: {sorted(valid)}.")
    for key in _LISTS:
        if not isinstance(data.get(key), list) or not data[key]:
            raise PersonaError(
                f"Persona pools {str(path)!r}: {key!r} must be a non-empty list, got {data.get(key)!r}."
            )
    counts = data.get("speakers_per_dialogue", [2])
    counts = counts if isinstance(counts, list) else [counts]
    if not counts or any(not isinstance(c, int) or c < 1 for c in counts):
        raise PersonaError(f"Persona pools {str(path)!r}: speakers_per_dialogue must list positive integers.")
    return PersonaPools(
        version=str(data.get("version", "unversioned")),
        ages=[int(a) for a in data["ages"]],
        speakers_per_dialogue=counts,
        fixed_genders={str(k): str(v) for k, v in (data.get("fixed_genders") or {}).items()},
        source=str(path),
        **{key: [str(v) for v in data[key]] for key in _LISTS if key != "ages"},
    )


def sample_persona(pools: PersonaPools, benchmark: Benchmark, rng: random.Random) -> dict[str, Any]:
    """Draws the speakers of one dialogue and a layered persona for each, plus a situation.

    Benchmarks whose speakers are fixed (`other_speakers=False`, e.g. IEMOCAP's Male/Female) use all of them; the
    others use `speakers_per_dialogue` speakers drawn from the benchmark's main speakers.

    Returns:
        `{"version", "speakers": [{"speaker", "age", "gender", "occupation", "personality", "background"}, ...],
        "situation"}`.
    """
    if benchmark.other_speakers:
        count = min(rng.choice(pools.speakers_per_dialogue), len(benchmark.speakers))
        count = max(count, min(benchmark.min_speakers, len(benchmark.speakers)))
        chosen = rng.sample(list(benchmark.speakers), count)
    else:
        chosen = list(benchmark.speakers)
    people = []
    for speaker in chosen:
        # Layer 1: demographics; layer 2: socio-cultural background.
        people.append(
            {
                "speaker": speaker,
                "age": rng.choice(pools.ages),
                "gender": pools.fixed_genders.get(speaker) or rng.choice(pools.genders),
                "occupation": rng.choice(pools.occupations),
                "personality": rng.choice(pools.personality_types),
                "background": rng.choice(pools.backgrounds),
            }
        )
    # Layer 3: the situation the dialogue happens in.
    return {"version": pools.version, "speakers": people, "situation": rng.choice(pools.situations)}
