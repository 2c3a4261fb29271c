"""The automatic slot count of the transformers backend: the measured 32, bounded by the memory free."""

from __future__ import annotations

import pytest

from generation.backends import TransformersOptions, build_backend
from generation.backends.transformers_backend import MEMORY_SHARE, TransformersBackend, automatic_slots
from generation.config import DEFAULT_SLOTS, GenerationConfig

GIB = 1 << 30
#: SmolLM2-135M in float32 at the default 1536 new tokens and a 512-token prompt: 46,080 bytes a token.
SMOLLM2_SLOT = (1536 + 512) * 46_080


def test_the_measured_default_when_memory_is_plentiful():
    choice = automatic_slots(16 * GIB, SMOLLM2_SLOT, "cpu", 1536)
    assert (choice.slots, choice.source) == (DEFAULT_SLOTS, "automatic") and DEFAULT_SLOTS == 32
    assert "within 80% of the 16.0 GiB free on cpu" in choice.reason


@pytest.mark.parametrize(("free", "slots"), [(GIB, int(GIB * MEMORY_SHARE // SMOLLM2_SLOT)), (GIB // 100, 1)])
def test_fewer_slots_when_memory_is_short(free, slots):
    choice = automatic_slots(free, SMOLLM2_SLOT, "cpu", 1536)
    assert choice.slots == slots < DEFAULT_SLOTS
    assert "lowered to what fits in" in choice.reason and "--max-new-tokens 1536" in choice.reason


def test_unknown_memory_keeps_the_measured_default():
    assert automatic_slots(None, SMOLLM2_SLOT, "cpu", 1536).slots == DEFAULT_SLOTS
    assert automatic_slots(4 * GIB, 0, "cpu", 1536).slots == DEFAULT_SLOTS


def test_unset_batch_size_leaves_the_slots_to_the_backend_and_a_set_one_wins():
    assert GenerationConfig().batch_size is None
    backend = build_backend(GenerationConfig(backend="transformers"))
    assert isinstance(backend, TransformersBackend) and backend.max_in_flight == DEFAULT_SLOTS
    assert build_backend(GenerationConfig(backend="transformers", batch_size=5)).max_in_flight == 5
    assert TransformersOptions().max_in_flight is None
