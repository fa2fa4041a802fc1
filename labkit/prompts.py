"""Prompt builders for dialogue summarization (notebook 02, the course's Lab 1).

In-context learning in four steps: give the model the bare dialogue (no prompt), add an instruction
(zero-shot), use the template FLAN-T5 was trained with, then show it worked examples first
(one-shot, few-shot). Longer prompts cost context window: :func:`prompt_length` says how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

FLAN_QUESTION = "What was going on?"


def no_prompt(dialogue: str) -> str:
    """The dialogue alone: the model has to guess what we want."""
    return dialogue


def zero_shot(dialogue: str) -> str:
    """An instruction in plain words, with no example of the answer."""
    return f"Summarize the following conversation.\n\n{dialogue}\n\nSummary:"


def flan_template(dialogue: str, summary: str | None = None) -> str:
    """One of the templates FLAN-T5 was instruction-tuned with: "Dialogue: ... What was going on?".

    With ``summary`` the answer is filled in, which makes a worked example for few-shot prompts.
    """
    prompt = f"Dialogue:\n\n{dialogue}\n\n{FLAN_QUESTION}\n"
    return prompt + summary if summary is not None else prompt


def _pair(example) -> tuple[str, str]:
    if isinstance(example, Mapping):
        return example["dialogue"], example["summary"]
    dialogue, summary = example
    return dialogue, summary


def few_shot(examples: Iterable, dialogue: str) -> str:
    """Worked examples (dialogue + human summary) in the FLAN template, then the dialogue to summarize.

    ``examples`` are rows with ``dialogue`` and ``summary`` (e.g. ``dataset["test"][i]``) or pairs.
    Examples are separated by blank lines so the model can tell where one ends.
    """
    shots = [flan_template(d, s) for d, s in map(_pair, examples)]
    return "\n\n\n".join(shots + [flan_template(dialogue)])


def one_shot(example, dialogue: str) -> str:
    """A single worked example, then the dialogue to summarize."""
    return few_shot([example], dialogue)


def examples_at(split, indices: Sequence[int]) -> list[dict]:
    """Rows of a dataset split picked by index: the worked examples of a few-shot prompt."""
    return [split[int(i)] for i in indices]


@dataclass(frozen=True)
class PromptLength:
    """How many tokens a prompt takes against the model's context window."""

    tokens: int
    context_window: int

    @property
    def fits(self) -> bool:
        return self.tokens <= self.context_window

    @property
    def overflow(self) -> int:
        return max(0, self.tokens - self.context_window)

    def __str__(self) -> str:
        verdict = "fits" if self.fits else f"does NOT fit: {self.overflow} tokens will be cut"
        return f"{self.tokens} tokens of a {self.context_window}-token context window ({verdict})"


def prompt_length(tokenizer, prompt: str, context_window: int | None = None) -> PromptLength:
    """Count a prompt's tokens (with special tokens) and compare with the context window."""
    window = context_window or int(tokenizer.model_max_length)
    return PromptLength(tokens=len(tokenizer(prompt).input_ids), context_window=window)
