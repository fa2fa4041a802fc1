"""One check per exercise: each passes quietly with a short confirmation, or fails with a hint.

A check cell follows every exercise in the notebooks. The checks compare the learner's answer with
what labkit computes, so they cannot be satisfied by a hard-coded number that happens to be right
for another input, and each one names what to look at when the answer is wrong.
"""

from __future__ import annotations

import math


class CheckFailed(AssertionError):
    """The answer to an exercise is not right yet; the message says what to look at."""


def _ok(message: str) -> None:
    print(f"\u2705 {message}")


def _require(condition: bool, hint: str) -> None:
    if not condition:
        raise CheckFailed(hint)


def _close(value, expected: float, rel: float = 1e-6) -> bool:
    try:
        return math.isclose(float(value), expected, rel_tol=rel, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


# --- notebook 00 -----------------------------------------------------------------------------------

def check_training_memory(gb, n_params: float, dtype: str = "fp32") -> None:
    """Exercise 00.1: GPU memory (GB) to train a model of ``n_params`` parameters at ``dtype``."""
    from labkit import lifecycle

    expected = float(lifecycle.memory_table(n_params, dtypes=(dtype,)).loc["training_total", dtype])
    inference = float(lifecycle.memory_table(n_params, dtypes=(dtype,)).loc["inference_total", dtype])
    _require(gb is not None, "Set `training_gb` to a number of gigabytes.")
    _require(not _close(gb, inference, 1e-3),
             f"{gb} GB is what *inference* needs: training also holds gradients, Adam's two states and "
             "activations - add them per parameter.")
    _require(not _close(gb, expected * 4 / lifecycle.DTYPE_BYTES[dtype], 1e-3) or dtype == "fp32",
             f"{gb} GB is the fp32 figure: at {dtype} every component takes "
             f"{lifecycle.DTYPE_BYTES[dtype]} bytes instead of 4 (the course's simplification).")
    _require(_close(gb, expected, 1e-3),
             f"{gb} GB is not right. Add up the bytes per parameter for training at {dtype} "
             "(weights + Adam states + gradients + activations), multiply by the parameter count, divide by 1e9.")
    _ok(f"Training {n_params:.3g} parameters at {dtype} needs about {expected:.1f} GB of GPU memory.")


def check_compute_optimal_tokens(tokens, n_params: float) -> None:
    """Exercise 00.2: the compute-optimal number of training tokens for ``n_params`` (Chinchilla)."""
    from labkit import lifecycle

    expected = lifecycle.compute_optimal_tokens(n_params)
    _require(tokens is not None, "Set `optimal_tokens` to a number of tokens.")
    _require(not _close(tokens, n_params, 1e-3),
             "That is the parameter count itself: Chinchilla's rule of thumb is about 20 tokens per parameter.")
    _require(_close(tokens, expected, 1e-3),
             f"{tokens:.3g} tokens is not the compute-optimal size. Use about 20 training tokens per parameter.")
    _ok(f"A compute-optimal {n_params:.3g}-parameter model trains on about {expected:.3g} tokens.")


# --- notebook 01 -----------------------------------------------------------------------------------

def check_few_shot_prompt(prompt: str, examples, dialogue: str) -> None:
    """Exercise 01.1: a few-shot prompt with the worked ``examples`` first and ``dialogue`` last."""
    from labkit import prompts

    _require(isinstance(prompt, str) and prompt, "Build the prompt as one string.")
    examples = list(examples)
    pairs = [prompts._pair(e) for e in examples]
    missing = [i for i, (d, s) in enumerate(pairs) if d not in prompt or s not in prompt]
    _require(not missing, f"Worked example(s) {missing} are missing: include each example's dialogue AND its "
                          "human summary, in the FLAN template.")
    _require(prompt.rstrip().endswith(prompts.FLAN_QUESTION),
             f"The prompt must end with the dialogue to summarize and the question {prompts.FLAN_QUESTION!r}, "
             "leaving the answer for the model.")
    _require(dialogue in prompt and prompt.rfind(dialogue) > max((prompt.rfind(s) for _, s in pairs), default=-1),
             "The dialogue to summarize must come last, after the worked examples.")
    positions = [prompt.find(d) for d, _ in pairs]
    _require(positions == sorted(positions), "Keep the worked examples in the order given.")
    _require(prompt.count(prompts.FLAN_QUESTION) == len(pairs) + 1,
             f"Use the FLAN template for every example: expected {len(pairs) + 1} times "
             f"{prompts.FLAN_QUESTION!r}, found {prompt.count(prompts.FLAN_QUESTION)}.")
    _ok(f"Few-shot prompt with {len(pairs)} worked example(s) and the dialogue to summarize last.")


def check_deterministic_config(generation_config, model, tokenizer, prompt: str) -> None:
    """Exercise 01.2: generation settings that give the same output on every run."""
    from labkit.generation import generate

    _require(generation_config is not None, "Create a transformers GenerationConfig.")
    _require(getattr(generation_config, "max_new_tokens", None), "Set max_new_tokens so generation stops.")
    outputs = {generate(model, tokenizer, prompt, generation_config, seed=seed) for seed in (0, 1, 2)}
    _require(len(outputs) == 1,
             f"Three runs with different random seeds gave {len(outputs)} different outputs: with do_sample=True "
             "every token is drawn at random. Which setting switches sampling off (greedy decoding)?")
    _ok("Same output with every seed: greedy decoding is deterministic.")
