"""Batched generation (labkit.generation.generate) vs the course's per-example loop, measured side by side.

Same model (the instruction fine-tuned summarizer of the active profile), same dialogues, same greedy
settings. Each variant runs ``--rounds`` times, interleaved with the others, and the fastest round of each
counts, so a burst of load from other processes on a shared machine hits every variant alike. Times are
CPU seconds of this process (``time.process_time``; one thread) and wall seconds; ratios are against the
course's loop measured in the same run.

Variants:
  * course loop         one ``model.generate`` per dialogue, as the course's Lab 2 evaluation did
  * padded batches      one ``model.generate`` per length-sorted batch of 16 (labkit before this bench)
  * labkit, batch B     ``generation.generate``: encoder in chunks of 16, decoder over B rows at a time,
                        finished rows dropped every few tokens (greedy only)
  * labkit, bf16        the same on a bfloat16 copy, where the CPU computes bf16 natively; its outputs
                        differ in places, so ROUGE against the human summaries is printed for every variant

fp32 variants must give exactly the loop's outputs (the script fails otherwise).

    LABKIT_PROFILE=tiny OMP_NUM_THREADS=1 python bench/bench_generation.py [--n 100] [--rounds 2]
"""

import argparse
import copy
import os
import time

os.environ.setdefault("LABKIT_PROFILE", "tiny")

import torch  # noqa: E402
from transformers import GenerationConfig  # noqa: E402

from labkit import config, finetune, generation, metrics, prompts  # noqa: E402
from labkit.data import load_dialogsum  # noqa: E402
from labkit.models import load_summarizer  # noqa: E402


def course_loop(model, tokenizer, dialogues, cfg):
    """The course's Lab 2 evaluation loop: one dialogue at a time, no batching."""
    outputs = []
    for dialogue in dialogues:
        input_ids = tokenizer(prompts.zero_shot(dialogue), return_tensors="pt").input_ids.to(model.device)
        output_ids = model.generate(input_ids=input_ids, generation_config=cfg)
        outputs.append(tokenizer.decode(output_ids[0], skip_special_tokens=True).strip())
    return outputs


@torch.inference_mode()
def padded_batches(model, tokenizer, dialogues, cfg, batch_size=16):
    """One ``model.generate`` call per length-sorted, padded batch: what labkit did before this bench."""
    texts = [prompts.zero_shot(d) for d in dialogues]
    order = sorted(range(len(texts)), key=lambda i: -len(tokenizer(texts[i]).input_ids))
    outputs = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True).to(model.device)
        out = model.generate(**enc, generation_config=cfg)
        for i, text in zip(batch, tokenizer.batch_decode(out, skip_special_tokens=True), strict=True):
            outputs[i] = text.strip()
    return outputs


def main(n: int = 100, rounds: int = 2, big_batch: int = 100) -> None:
    config.get_profile()
    model, tokenizer = load_summarizer(finetune.instruct_summarizer())
    split = load_dialogsum()["test"]
    dialogues, references = list(split["dialogue"][:n]), list(split["summary"][:n])
    cfg = GenerationConfig(**config.setting("eval_generation"))
    texts = [prompts.zero_shot(d) for d in dialogues]

    variants = {
        "course loop (one dialogue per call)": (model, lambda m: course_loop(m, tokenizer, dialogues, cfg)),
        "padded batches of 16 (labkit before)": (model, lambda m: padded_batches(m, tokenizer, dialogues, cfg)),
        "labkit generate, batch 16": (model, lambda m: generation.generate(m, tokenizer, texts, cfg, batch_size=16,
                                                                          progress=False)),
        f"labkit generate, batch {big_batch}": (model, lambda m: generation.generate(
            m, tokenizer, texts, cfg, batch_size=big_batch, progress=False)),
    }
    fast = copy.deepcopy(model)
    dtype = generation.bf16_if_supported(fast)
    if dtype == torch.bfloat16:
        variants[f"labkit generate, batch {big_batch}, bf16"] = (fast, lambda m: generation.generate(
            m, tokenizer, texts, cfg, batch_size=big_batch, progress=False))
    else:
        print("bf16 variant skipped: this CPU has no native bfloat16 (AVX512-BF16 / AMX)")

    for m, _ in variants.values():  # warm-up: first calls allocate and pick kernels
        generation.generate(m, tokenizer, texts[:4], cfg, batch_size=4, progress=False)

    cpu = {name: [] for name in variants}
    wall = {name: [] for name in variants}
    outputs = {}
    for _ in range(rounds):
        for name, (m, run) in variants.items():
            c0, w0 = time.process_time(), time.perf_counter()
            outputs[name] = run(m)
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)

    base = "course loop (one dialogue per call)"
    reference = outputs[base]
    print(f"\n{n} dialogues, greedy, {cfg.max_new_tokens} new tokens at most, no_repeat_ngram_size="
          f"{cfg.no_repeat_ngram_size}, device {config.device()}, torch threads {torch.get_num_threads()}, "
          f"best of {rounds} interleaved rounds")
    print(f"{'variant':42s} {'CPU s':>7s} {'wall s':>7s} {'speed-up CPU':>13s} {'speed-up wall':>14s} "
          f"{'same as loop':>13s} {'ROUGE-1':>8s} {'ROUGE-L':>8s}")
    for name in variants:
        same = sum(a == b for a, b in zip(outputs[name], reference, strict=True))
        scores = metrics.rouge(outputs[name], references)
        print(f"{name:42s} {min(cpu[name]):7.2f} {min(wall[name]):7.2f} {min(cpu[base]) / min(cpu[name]):12.1f}x "
              f"{min(wall[base]) / min(wall[name]):13.1f}x {same:>9d}/{n:<3d} {scores['rouge1']:8.4f} "
              f"{scores['rougeL']:8.4f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine load average (1 min) at the end: {load:.2f} on {os.cpu_count()} cores")
    for name in variants:
        if "bf16" not in name:
            assert outputs[name] == reference, f"{name}: batched generation changed some outputs"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="test dialogues to summarise")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the fastest counts")
    parser.add_argument("--batch", type=int, default=100, help="decoder batch size of the large-batch variants")
    args = parser.parse_args()
    main(args.n, args.rounds, args.batch)
