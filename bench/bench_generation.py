"""Batched, length-sorted generation (labkit.generation.generate) vs the course's per-example loop.

Same model (the instruction fine-tuned summarizer of the active profile), same dialogues, same greedy
settings. The outputs must be identical; the script prints both times and the speed-up.

    LABKIT_PROFILE=tiny python bench/bench_generation.py
"""

import os
import time

os.environ.setdefault("LABKIT_PROFILE", "tiny")

from transformers import GenerationConfig  # noqa: E402

from labkit import config, finetune, generation, prompts  # noqa: E402
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


def main(n: int = 100, batch_size: int = 16) -> None:
    config.get_profile()
    model, tokenizer = load_summarizer(finetune.instruct_summarizer())
    dialogues = load_dialogsum()["test"]["dialogue"][:n]
    cfg = GenerationConfig(**config.setting("eval_generation"))
    generation.generate(model, tokenizer, dialogues[:2], cfg)  # warm-up

    start = time.perf_counter()
    looped = course_loop(model, tokenizer, dialogues, cfg)
    loop_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = generation.generate(model, tokenizer, [prompts.zero_shot(d) for d in dialogues], cfg,
                                  batch_size=batch_size, progress=False)
    batch_s = time.perf_counter() - start

    same = sum(a == b for a, b in zip(looped, batched))
    print(f"{n} dialogues, greedy, {cfg.max_new_tokens} new tokens at most, device {config.device()}")
    print(f"  per-example loop (course): {loop_s:6.2f} s")
    print(f"  batched (labkit, {batch_size}):    {batch_s:6.2f} s")
    print(f"  speed-up: {loop_s / batch_s:.1f}x; identical outputs: {same}/{n}")
    assert same == n, "batched generation changed some outputs"


if __name__ == "__main__":
    main()
