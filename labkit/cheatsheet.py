"""The project lifecycle cheat sheet (notebook 12): the course's table beside this kit's own measurements.

The course ends its lifecycle with a one-page table: for each stage (pre-training, prompt engineering, prompt
tuning and fine-tuning, RLHF, compression) how long training takes, what you can customize, what it optimizes and
how much expertise it needs. Its durations are orders of magnitude for real models on real hardware. This module
re-measures the stages this kit ran, on this profile's summarizer and this machine, with the same code the
chapters used: one optimizer step of each training stage (:func:`step_seconds`), its trainable parameters
(:func:`count_parameters`), the steps this profile's runs take, and what int8 compression saves. Numbers for the
course's models come from the course or the papers and are labelled as such.
"""

from __future__ import annotations

import copy
import statistics
import time

import pandas as pd
import torch

from labkit import config

STAGES = ("pre-training", "prompt engineering", "prompt tuning", "LoRA fine-tuning", "full fine-tuning",
          "RLHF (PPO)", "compression (int8)")

# The course's cheat sheet (week 3, "Generative AI project lifecycle cheat sheet"), in its own categories.
COURSE_CHEAT_SHEET = pd.DataFrame({
    "pre-training": {"training duration": "days to weeks to months",
                     "customization": "architecture, size, tokenizer, vocabulary and context; large domain data",
                     "objective": "next-token prediction", "expertise": "high"},
    "prompt engineering": {"training duration": "not required", "customization": "no model weights, only the prompt",
                           "objective": "increase task performance", "expertise": "low"},
    "prompt tuning and fine-tuning": {"training duration": "minutes to hours",
                                      "customization": "task-specific or domain data; model or adapter weights",
                                      "objective": "increase task performance", "expertise": "medium"},
    "RLHF / RLAIF": {"training duration": "minutes to hours, like fine-tuning",
                     "customization": "a separate reward model for human goals (helpful, honest, harmless); "
                                      "model or adapter weights",
                     "objective": "increase alignment with human preferences", "expertise": "medium to high"},
    "compression, optimization, deployment": {"training duration": "minutes to hours",
                                              "customization": "smaller model and faster inference: pruning, "
                                                               "quantization, distillation",
                                              "objective": "increase inference performance", "expertise": "medium"},
}).T.rename_axis("stage (the course's cheat sheet)")

# T5's published pre-training (Raffel et al., 2020): 2^19 steps of 128 x 512 tokens on C4. FLAN-T5 starts from it.
T5_PRETRAINING_STEPS = 2 ** 19


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameters: what a stage updates against what the model holds."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def step_seconds(model, batch: dict, repeats: int = 3, learning_rate: float = 1e-4) -> float:
    """Median wall seconds of one optimizer step - forward, backward, AdamW update - on ``batch``.

    One warm-up step first (allocations, lazy initialisation), then ``repeats`` timed steps. Only the trainable
    parameters get an optimizer, as in every chapter's training.
    """
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - start)
    model.eval()
    return statistics.median(times)


def summary_batch(tokenizer, dialogues, summaries, max_source: int = 256, max_target: int = 64) -> dict:
    """One fine-tuning batch of (instruction + dialogue, summary), tokenized and padded as notebook 03 does."""
    from labkit import prompts

    batch = tokenizer([prompts.zero_shot(d) for d in dialogues], max_length=max_source, truncation=True,
                      padding=True, return_tensors="pt")
    labels = tokenizer(list(summaries), max_length=max_target, truncation=True, padding=True,
                       return_tensors="pt")["input_ids"]
    labels[labels == tokenizer.pad_token_id] = -100
    return {**batch, "labels": labels}


def _row(stage, trainable, total, seconds, steps, examples, changes) -> dict:
    return {"stage": stage, "trainable parameters": trainable, "share trainable": trainable / total if total else 0.0,
            "seconds per step": seconds, "steps (this profile)": steps,
            "estimated training seconds": seconds * steps if steps else 0.0, "examples used": examples,
            "what changes": changes}


def measure_lifecycle(model, tokenizer, dialogues, summaries, reward=None, repeats: int = 3) -> pd.DataFrame:
    """Each lifecycle stage measured on ``model`` (the profile's summarizer), one row per stage.

    Training stages: trainable parameters, seconds per optimizer step on one batch of the given dialogues, the
    steps this profile's runs take (``config.setting``/``config.size``; pre-training: labkit's tiny T5 in tiny,
    T5's published steps in course) and their product. Prompt engineering: the seconds of one greedy answer.
    RLHF: one real PPO step of ``rlhf.PPOTrainer`` (needs ``reward``, a text scorer). Compression: the seconds
    to quantize to int8 and the share of weight memory it saves.
    """
    from peft import get_peft_model
    from transformers import AutoModelForSeq2SeqLM, GenerationConfig

    from labkit import finetune, generation, optimization, prompts, rlhf, tiny

    config.set_seed(0)
    batch = summary_batch(tokenizer, dialogues, summaries)
    n = len(dialogues)
    total = count_parameters(model)[1]
    rows = []

    fresh = AutoModelForSeq2SeqLM.from_config(copy.deepcopy(model.config))
    pre_steps = tiny.PRETRAIN["steps"] if config.get_profile().name == "tiny" else T5_PRETRAINING_STEPS
    rows.append(_row("pre-training", *count_parameters(fresh), step_seconds(fresh, batch, repeats), pre_steps,
                     "a corpus (in tiny: the kit's dialogues, several tasks)", "every weight, from random"))

    start = time.perf_counter()
    generation.generate(model, tokenizer, [prompts.zero_shot(dialogues[0])],
                        GenerationConfig(max_new_tokens=32, do_sample=False), progress=False)
    rows.append(_row("prompt engineering", 0, total, time.perf_counter() - start, 0,
                     "the worked examples in one prompt", "nothing: the prompt (seconds = one answer)"))

    for stage, name, wrap in [
        ("prompt tuning", "prompt_tuning", lambda m: get_peft_model(m, finetune.prompt_tuning_config(tokenizer))),
        ("LoRA fine-tuning", "lora", lambda m: finetune.add_lora(m, finetune.lora_config(
            **config.setting("lora_config")))),
        ("full fine-tuning", "full", lambda m: m),
    ]:
        tuned = wrap(copy.deepcopy(model))
        settings = config.setting(name)
        rows.append(_row(stage, count_parameters(tuned)[0], total, step_seconds(tuned, batch, repeats),
                         settings["max_steps"], settings["max_steps"] * settings["batch_size"],
                         {"prompt tuning": "soft-prompt vectors", "LoRA fine-tuning": "low-rank adapters",
                          "full fine-tuning": "every weight"}[stage]))

    if reward is not None:
        ppo_settings = config.setting("ppo")
        policy = finetune.add_lora(copy.deepcopy(model), finetune.lora_config(**config.setting("ppo_lora_config")))
        trainer = rlhf.PPOTrainer(policy, tokenizer, reward, rlhf.PPOConfig(**{**ppo_settings, "batch_size": n,
                                                                               "mini_batch_size": n}))
        start = time.perf_counter()
        trainer.step([prompts.zero_shot(d) for d in dialogues])
        seconds = (time.perf_counter() - start) * ppo_settings["batch_size"] / n  # scaled to the profile's batch
        trainable = count_parameters(policy)[0] + sum(p.numel() for p in trainer.value_head.parameters())
        steps = config.size("ppo_steps")
        rows.append(_row("RLHF (PPO)", trainable, total, seconds, steps, steps * ppo_settings["batch_size"],
                         "adapters + value head, against a reward model"))

    start = time.perf_counter()
    quantized = optimization.quantize_dynamic_int8(model)  # a copy
    seconds = time.perf_counter() - start
    saved = 1 - optimization.memory_bytes(quantized) / optimization.memory_bytes(model)
    row = _row("compression (int8)", 0, total, seconds, 0, "none (post-training)",
               f"weights stored in int8: {saved:.0%} less memory")
    row["estimated training seconds"] = seconds
    rows.append(row)
    return pd.DataFrame(rows).set_index("stage")


# Stages that learn from example outputs while the base model stays frozen and shared: one small artifact per task.
SHARED_BASE_STAGES = ("prompt tuning", "LoRA fine-tuning")


def stage_for_brief(table: pd.DataFrame, budget_seconds: float) -> str | None:
    """The stage a brief of notebook 12 asks for: learn from example summaries (no reward model), keep the base
    model shared between tasks, fit ``budget_seconds`` of estimated training, and among those train the most
    parameters. None when no stage fits."""
    fits = table.loc[[s for s in SHARED_BASE_STAGES if s in table.index]]
    fits = fits[fits["estimated training seconds"] <= budget_seconds]
    return None if fits.empty else str(fits["trainable parameters"].idxmax())
