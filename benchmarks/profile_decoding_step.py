"""Where one continuous-batching decoding step spends its time: a short `torch.profiler` profile on real prompts.

Loads the packaged SmolLM2 with the transformers backend (threads and slots as `erc-synth generate` chooses them,
or `--num-threads` / `--slots`), fills every slot with a real MELD natural request (constrained JSON, the default
sampling), decodes `--warm-steps` steps, then profiles `--steps` steps and prints, per step: the wall time, the
model's forward pass (split into its matrix products, attention and the rest), the grammar masks, the sampling
(warpers, noise, argmax), and what is left (Python between the operations, the matchers' token acceptance); plus
the share of the attended key columns that are padding, and the profiler's top operations.

    nice -n 10 python benchmarks/profile_decoding_step.py --steps 16
    nice -n 10 python benchmarks/profile_decoding_step.py --dtypes float32 bfloat16   # bf16 beside fp32
    python benchmarks/profile_decoding_step.py --dtypes float32 bfloat16 --requests 64 --turns 12 --warm-steps 300
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Profiler labels of the parts of a step (`record_function` names).
STEP, FORWARD, GRAMMAR, WARP = "step", "forward", "grammar mask", "warpers"
#: aten operations counted as the forward pass's matrix products and attention.
#: The linear layers and the LM head are `mm` / `addmm`; `bmm` appears only inside attention's math path.
MATMUL_OPS = ("aten::mm", "aten::addmm")
#: With eager attention (bf16 on CPU, `attention_for`), attention is `bmm` and a softmax (the softmax is counted in
#: "the rest of the forward": sampling has softmaxes too).
ATTENTION_OPS = ("aten::scaled_dot_product_attention", "aten::bmm")


class _ProfileDone(Exception):
    """Raised out of the decoding loop once the profiled steps are done (not a RuntimeError: the loop lets it go)."""


class _Forward:
    """The model, its forward pass labelled for the profiler (every other attribute is the model's)."""

    def __init__(self, model) -> None:
        self._model = model

    def __call__(self, *args, **kwargs):
        from torch.profiler import record_function

        with record_function(FORWARD):
            return self._model(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._model, name)


def _profiled_batcher(base: type, profiler, warm_steps: int, steps: int) -> type:
    """A subclass of the continuous batcher whose step, grammar masks and warpers are labelled for the profiler,
    which records each step's wall time and the padding share of its attended columns, runs `profiler` over the
    `steps` steps after `warm_steps`, and then stops the loop (`_ProfileDone`)."""
    from torch.profiler import record_function

    class ProfiledBatcher(base):
        def __init__(self, model, **kwargs) -> None:
            super().__init__(model, **kwargs)
            self.model = _Forward(model)
            self.walls: list[float] = []
            self.padding: list[float] = []

        def _step(self):
            if len(self.walls) == warm_steps:
                profiler.start()
            finished = self._measured_step()
            if len(self.walls) == warm_steps + steps:
                profiler.stop()
                raise _ProfileDone
            return finished

        def _measured_step(self):
            rows = len(self.rows)
            attended = self.mask[:rows, self.start : self.end + 1] if self.mask is not None else None
            if attended is not None:
                # +1: the column this step writes (its mask is set inside the step).
                real = float(attended.sum()) + rows
                self.padding.append(1 - real / (rows * (attended.shape[1])))
            started = time.perf_counter()
            with record_function(STEP):
                finished = super()._step()
            self.walls.append(time.perf_counter() - started)
            return finished

        def _apply_grammar(self, scores):
            with record_function(GRAMMAR):
                return super()._apply_grammar(scores)

        def _warp(self, scores):
            with record_function(WARP):
                return super()._warp(scores)

    return ProfiledBatcher


def _config(seed: int, turns: int | None):
    from generation.config import GenerationConfig

    # `range` turn counts: the task needs no turn histogram; the grammar is the same kind (a JSON array of turns).
    fixed = {"min_turns": turns, "max_turns": turns} if turns else {}
    return GenerationConfig(benchmark="meld", seed=seed, turn_counts="range", **fixed)


def _requests(config, count: int) -> list:
    from erc_synth_datasets.benchmarks import get_benchmark
    from generation.prompts import load_prompt_template
    from generation.task import GenerationTask

    benchmark = get_benchmark("meld")
    task = GenerationTask(config, benchmark, load_prompt_template(None, benchmark), None, "json")
    return [task.request(index, 0) for index in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=None, help="Slots (default: as erc-synth generate chooses).")
    parser.add_argument("--num-threads", type=int, default=None, help="torch threads (default: chosen).")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="Requests queued (default: one per slot). More than the slots keep every slot busy as rows finish, "
        "so a profile after many --warm-steps sees long cached contexts and rows that joined later (padding).",
    )
    parser.add_argument(
        "--turns",
        type=int,
        default=None,
        help="Utterances asked of every dialogue (default: drawn from 2-12). 12 gives long completions, so rows "
        "reach long cached contexts after many --warm-steps.",
    )
    parser.add_argument("--warm-steps", type=int, default=48, help="Steps decoded before the profile.")
    parser.add_argument("--steps", type=int, default=16, help="Steps profiled.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dtypes",
        nargs="+",
        default=["float32"],
        help="Weights' dtypes, profiled in turn on the same requests (float32 bfloat16: bf16 beside the baseline).",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return max(_profile(args, dtype) for dtype in args.dtypes)


def _profile(args: argparse.Namespace, dtype: str) -> int:
    """Profiles `args.steps` decoding steps with the weights in `dtype`, and prints the breakdown."""
    from torch.profiler import ProfilerActivity, profile

    from generation.backends import SamplingParams
    from generation.backends.continuous import ContinuousBatcher
    from generation.backends.transformers_backend import TransformersBackend

    load_before = os.getloadavg()[0]
    backend = TransformersBackend(num_threads=args.num_threads, progress=False, dtype=dtype)
    backend.load()
    backend.max_in_flight = args.slots
    config = _config(args.seed, args.turns)
    sampling = SamplingParams(**config.sampling_params())
    slots = backend.slot_choice(sampling.max_new_tokens).slots
    requests = _requests(config, max(slots, args.requests or 0))
    profiler = profile(activities=[ProfilerActivity.CPU])
    batcher_class = _profiled_batcher(ContinuousBatcher, profiler, args.warm_steps, args.steps)
    batcher = backend.make_batcher(sampling, batcher_class)
    pending = [backend.prepare(request) for request in requests]
    try:
        for _ in batcher.run(lambda: pending.pop(0) if pending else None, lambda tokens: ""):
            pass
    except _ProfileDone:
        pass
    steps = len(batcher.walls) - args.warm_steps
    if steps < args.steps:
        print("every request finished before the profile ended; lower --warm-steps or --steps")
        return 1

    events = {e.key: e for e in profiler.key_averages()}

    def ms(keys) -> float:
        return sum(events[k].cpu_time_total for k in keys if k in events) / 1000 / steps

    wall = sum(batcher.walls[args.warm_steps :]) / steps * 1000
    step, forward, grammar, warp = ms([STEP]), ms([FORWARD]), ms([GRAMMAR]), ms([WARP])
    matmul, attention = ms(MATMUL_OPS), ms(ATTENTION_OPS)
    rest = step - forward - grammar - warp
    padding = sum(batcher.padding[args.warm_steps :]) / steps
    rows = len(batcher.rows)
    implementation = backend.model.config._attn_implementation
    print(f"\nSmolLM2-135M-Instruct, {dtype}, {implementation} attention, {rows} rows decoding, "
          f"{backend.thread_choice.describe()}")  # fmt: skip
    print(f"profiled steps {steps} (after {args.warm_steps}), 1-minute load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")  # fmt: skip
    print(f"wall per step {wall:.1f} ms ({rows / wall * 1000:.0f} tokens/s); under the profiler {step:.1f} ms:")
    for name, value in (
        ("forward pass", forward),
        ("  matrix products (mm, addmm)", matmul),
        ("  attention (scaled_dot_product_attention or bmm)", attention),
        ("  the rest of the forward", forward - matmul - attention),
        ("grammar masks (bitmask fill, unpack, masked_fill)", grammar),
        ("warpers (top-k, temperature, top-p, typical-p)", warp),
        ("the rest: penalty, noise, argmax, matchers, Python", rest),
    ):
        print(f"  {name:<52}{value:8.2f} ms {value / step:6.1%}")
    print(f"attended key columns that are padding: {padding:.1%}")
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
