"""Checks for notebook 02_prompting_and_generation: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import exercise, ok, require


@exercise("02.1")
def check_few_shot_prompt(prompt: str, examples, dialogue: str) -> None:
    """a few-shot prompt with the worked ``examples`` first and ``dialogue`` last."""
    from labkit import prompts

    require(isinstance(prompt, str) and prompt, "Build the prompt as one string.")
    examples = list(examples)
    pairs = [prompts._pair(e) for e in examples]
    missing = [i for i, (d, s) in enumerate(pairs) if d not in prompt or s not in prompt]
    require(not missing, f"Worked example(s) {missing} are missing: include each example's dialogue AND its "
                          "human summary, in the FLAN template.")
    require(prompt.rstrip().endswith(prompts.FLAN_QUESTION),
             f"The prompt must end with the dialogue to summarize and the question {prompts.FLAN_QUESTION!r}, "
             "leaving the answer for the model.")
    require(dialogue in prompt and prompt.rfind(dialogue) > max((prompt.rfind(s) for _, s in pairs), default=-1),
             "The dialogue to summarize must come last, after the worked examples.")
    positions = [prompt.find(d) for d, _ in pairs]
    require(positions == sorted(positions), "Keep the worked examples in the order given.")
    require(prompt.count(prompts.FLAN_QUESTION) == len(pairs) + 1,
             f"Use the FLAN template for every example: expected {len(pairs) + 1} times "
             f"{prompts.FLAN_QUESTION!r}, found {prompt.count(prompts.FLAN_QUESTION)}.")
    ok(f"Few-shot prompt with {len(pairs)} worked example(s) and the dialogue to summarize last.")


@exercise("02.2")
def check_deterministic_config(generation_config, model, tokenizer, prompt: str) -> None:
    """generation settings that give the same output on every run."""
    from labkit.generation import generate

    require(generation_config is not None, "Create a transformers GenerationConfig.")
    require(getattr(generation_config, "max_new_tokens", None), "Set max_new_tokens so generation stops.")
    outputs = {generate(model, tokenizer, prompt, generation_config, seed=seed) for seed in (0, 1, 2)}
    require(len(outputs) == 1,
             f"Three runs with different random seeds gave {len(outputs)} different outputs: with do_sample=True "
             "every token is drawn at random. Which setting switches sampling off (greedy decoding)?")
    ok("Same output with every seed: greedy decoding is deterministic.")
