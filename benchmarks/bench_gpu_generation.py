"""GPU generation throughput of the `transformers` backend's continuous batching against HF `generate` at batch 1.

For a GPU machine with torch and transformers but no network, no model weights and no xgrammar: the model is a
randomly initialised Llama with the Llama-3-8B configuration in bf16 (throughput does not depend on weight values),
prompts are random token ids, decoding samples (temperature 1, top-p 0.95) with the grammar off, and every request
makes exactly `--new-tokens` tokens. It prints:

- HF `model.generate` at batch 1 (the baseline), aggregate tokens/s;
- the backend's continuous batcher (`generation.backends.continuous.ContinuousBatcher`, what `stream` runs) at each
  concurrency of `--concurrency`, aggregate tokens/s, with 2x as many requests as slots so slots are refilled;
- the best concurrency's ratio to batch 1, and its share of the memory-bandwidth and compute limits: per decoding
  step the weights are read once and the KV cache of every row once (bandwidth limit), and every row costs 2 FLOPs
  per parameter (compute limit), against `--peak-bandwidth-gbs` and `--peak-tflops` (default: H200, bf16 dense).

`--tiny` swaps in a 2-layer model in float32 on the CPU so that the script itself is tested anywhere:

    python benchmarks/bench_gpu_generation.py                 # on the GPU machine, a few minutes
    python benchmarks/bench_gpu_generation.py --tiny --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The Llama-3-8B architecture (the weights are random).
LLAMA_8B = {
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
}
TINY = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": False,
}


def _model(architecture: dict, dtype, device):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**architecture)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def _prompts(count: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (count, length), generator=generator).tolist()


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _hf_batch_one(model, prompts: list[list[int]], new_tokens: int, device) -> float:
    """Aggregate tokens/s of `model.generate` one request at a time."""
    import torch

    _sync(device)
    started = time.perf_counter()
    with torch.inference_mode():
        for prompt in prompts:
            ids = torch.tensor([prompt], device=device)
            model.generate(
                ids, do_sample=True, temperature=1.0, top_p=0.95, max_new_tokens=new_tokens,
                min_new_tokens=new_tokens, eos_token_id=None, pad_token_id=0,
            )  # fmt: skip
    _sync(device)
    return len(prompts) * new_tokens / (time.perf_counter() - started)


def _continuous(model, prompts: list[list[int]], new_tokens: int, slots: int, device) -> tuple[float, int]:
    """Aggregate tokens/s of the continuous batcher with `slots` slots, and the tokens it made."""
    from generation.backends.base import GenerationRequest, SamplingParams
    from generation.backends.continuous import ContinuousBatcher, PreparedRequest

    sampling = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=new_tokens)
    queue = [
        PreparedRequest(GenerationRequest(messages=[], seed=i, key=str(i)), prompt_ids=prompt)
        for i, prompt in enumerate(prompts)
    ]
    # No end-of-sequence token: every request makes exactly `new_tokens` tokens.
    batcher = ContinuousBatcher(model, eos_token_id=-1, vocab_size=model.config.vocab_size, slots=slots,
                                sampling=sampling)  # fmt: skip
    _sync(device)
    started = time.perf_counter()
    made = 0
    for _, result in batcher.run(lambda: queue.pop(0) if queue else None, decode=lambda tokens: ""):
        if result.error:
            raise RuntimeError(result.error)
        made += result.completion_tokens
    _sync(device)
    return made / (time.perf_counter() - started), made


def _limits(model, slots: int, context: float, dtype_bytes: int, bandwidth_gbs: float, tflops: float) -> dict:
    """Upper bounds of aggregate decoding tokens/s at `slots` rows with `context` cached tokens per row."""
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    head_dim = config.hidden_size // config.num_attention_heads
    kv_bytes_per_token = 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * dtype_bytes
    step_bytes = params * dtype_bytes + slots * context * kv_bytes_per_token
    bandwidth_steps = bandwidth_gbs * 1e9 / step_bytes
    compute_tokens = tflops * 1e12 / (2 * params)
    return {"bandwidth_tokens_per_second": bandwidth_steps * slots, "compute_tokens_per_second": compute_tokens}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="A 2-layer float32 model on the CPU (tests the script).")
    parser.add_argument("--concurrency", default=None, help="Comma-separated slot counts (default: by --tiny).")
    parser.add_argument("--prompt-tokens", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--baseline-requests", type=int, default=None, help="Requests of the batch-1 baseline.")
    parser.add_argument("--peak-bandwidth-gbs", type=float, default=4800.0, help="Memory bandwidth (H200: 4800).")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="Dense bf16 TFLOP/s (H200: 989).")
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)

    import torch

    if args.tiny:
        device, dtype, architecture = torch.device("cpu"), torch.float32, TINY
        torch.set_num_threads(1)  # a tiny model gains nothing from more, and a shared CPU makes them wait
        concurrency, prompt_tokens, new_tokens, baseline_requests = "1,4", 16, 16, 2
    else:
        if not torch.cuda.is_available():
            print("No CUDA device: run on a GPU machine, or pass --tiny to test the script on the CPU.")
            return 2
        device, dtype, architecture = torch.device("cuda"), torch.bfloat16, LLAMA_8B
        concurrency, prompt_tokens, new_tokens, baseline_requests = "16,64,128,256", 128, 256, 3
    slot_counts = [int(c) for c in (args.concurrency or concurrency).split(",")]
    prompt_tokens = args.prompt_tokens or prompt_tokens
    new_tokens = args.new_tokens or new_tokens
    baseline_requests = args.baseline_requests or baseline_requests

    model = _model(architecture, dtype, device)
    vocab = model.config.vocab_size
    # Warm-up (kernels, allocator) outside the timed runs.
    _continuous(model, _prompts(2, prompt_tokens, vocab, 99), 4, 2, device)
    _hf_batch_one(model, _prompts(1, prompt_tokens, vocab, 98), 4, device)

    baseline = _hf_batch_one(model, _prompts(baseline_requests, prompt_tokens, vocab, 0), new_tokens, device)
    runs = []
    for slots in slot_counts:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        rate, made = _continuous(model, _prompts(2 * slots, prompt_tokens, vocab, slots), new_tokens, slots, device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        runs.append({"slots": slots, "tokens_per_second": rate, "tokens": made, "peak_gib": peak})
    best = max(runs, key=lambda r: r["tokens_per_second"])
    limits = _limits(
        model, best["slots"], prompt_tokens + new_tokens / 2, torch.finfo(dtype).bits // 8,
        args.peak_bandwidth_gbs, args.peak_tflops,
    )  # fmt: skip
    name = "tiny Llama (CPU, float32)" if args.tiny else "Llama-3-8B configuration, random weights, bf16"
    print(f"{name} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}; "
          f"{prompt_tokens} prompt tokens, {new_tokens} new tokens per request, sampling, no grammar")  # fmt: skip
    print(f"HF generate, batch 1: {baseline:.1f} tokens/s ({baseline_requests} requests)")
    for r in runs:
        print(f"continuous batching, {r['slots']:>4} slots: {r['tokens_per_second']:>9.1f} tokens/s, "
              f"{r['tokens_per_second'] / baseline:6.1f}x batch 1, peak {r['peak_gib']:.1f} GiB")  # fmt: skip
    summary = {
        "baseline_tokens_per_second": baseline,
        "best_slots": best["slots"],
        "best_tokens_per_second": best["tokens_per_second"],
        "best_vs_batch_one": best["tokens_per_second"] / baseline,
        "share_of_bandwidth_limit": best["tokens_per_second"] / limits["bandwidth_tokens_per_second"],
        "share_of_compute_limit": best["tokens_per_second"] / limits["compute_tokens_per_second"],
        **limits,
    }
    print(f"best: {best['slots']} slots, {summary['best_vs_batch_one']:.1f}x batch 1; "
          f"{summary['share_of_bandwidth_limit']:.1%} of the memory-bandwidth limit "
          f"({limits['bandwidth_tokens_per_second']:.0f} tokens/s), {summary['share_of_compute_limit']:.1%} of the "
          f"compute limit ({limits['compute_tokens_per_second']:.0f} tokens/s)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "summary": summary}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
