"""Prompt builders for dialogue summarization (notebook 02, the course's Lab 1).

In-context learning in four steps: give the model the bare dialogue (no prompt), add an instruction
(zero-shot), use the template FLAN-T5 was trained with, then show it worked examples first
(one-shot, few-shot). Longer prompts cost context window: :func:`prompt_length` says how much.
A chat model gets the same request as a user turn (:func:`summary_request`); its worked examples are
earlier turns of the conversation, which notebook 02 has the learner build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

FLAN_QUESTION = "What was going on?"
CHAT_INSTRUCTION = "Summarize the following conversation in one sentence."


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


def pair(example) -> tuple[str, str]:
    """(dialogue, summary) of a worked example: a dataset row with those columns, or a pair."""
    if isinstance(example, Mapping):
        return example["dialogue"], example["summary"]
    dialogue, summary = example
    return dialogue, summary


_pair = pair  # the old private name, kept for code written against it


def summary_request(dialogue: str) -> str:
    """What a user asks a chat model: the instruction, a blank line, then the dialogue."""
    return f"{CHAT_INSTRUCTION}\n\n{dialogue}"


def few_shot(examples: Iterable, dialogue: str) -> str:
    """Worked examples (dialogue + human summary) in the FLAN template, then the dialogue to summarize.

    ``examples`` are rows with ``dialogue`` and ``summary`` (e.g. ``dataset["test"][i]``) or pairs.
    Examples are separated by blank lines so the model can tell where one ends.
    """
    shots = [flan_template(d, s) for d, s in map(pair, examples)]
    return "\n\n\n".join(shots + [flan_template(dialogue)])


def one_shot(example, dialogue: str) -> str:
    """A single worked example, then the dialogue to summarize."""
    return few_shot([example], dialogue)


def examples_at(split, indices: Sequence[int]) -> list[dict]:
    """Rows of a dataset split picked by index: the worked examples of a few-shot prompt.

    Indices past the end of a smaller split are left out, with a one-line note (not a bare IndexError).
    """
    indices = [int(i) for i in indices]
    kept = [i for i in indices if -len(split) <= i < len(split)]
    if len(kept) < len(indices):
        print(f"labkit: the split holds {len(split)} rows, so {len(indices) - len(kept)} of the {len(indices)} "
              f"example indices are past its end and left out.")
    return [split[i] for i in kept]


def first_over_window(lengths: Sequence[int], window: int) -> int | None:
    """The position of the first prompt length over ``window`` tokens (the number of examples that no longer fit
    when ``lengths[k]`` is the k-shot prompt's length), or ``None`` with a one-line note when every one fits."""
    for k, tokens in enumerate(lengths):
        if tokens > window:
            return k
    print(f"labkit: all {len(lengths)} prompts fit the {window}-token window (the longest has "
          f"{max(lengths, default=0)} tokens).")
    return None


def shortest_examples(split, n: int, distinct_topics: bool = True) -> list[dict]:
    """The ``n`` shortest dialogues of a split (by characters), one per topic: cheap, varied worked examples.

    Every example costs context window and compute on every request, so a few-shot pool should be short;
    different topics keep the model from copying one example's content. Rows without a ``topic`` column
    count as distinct.
    """
    if n < 0:
        raise ValueError("n must be 0 or more")
    rows = sorted(range(len(split)), key=lambda i: (len(split[i]["dialogue"]), i))
    chosen: list[dict] = []
    topics = set()
    if n == 0:
        return chosen
    for i in rows:
        row = split[i]
        topic = row.get("topic")
        if distinct_topics and topic is not None and topic in topics:
            continue
        topics.add(topic)
        chosen.append(row)
        if len(chosen) == n:
            break
    return chosen


@dataclass(frozen=True)
class PromptLength:
    """How many tokens a prompt takes against a window (by default the tokenizer's ``model_max_length``).

    For T5 that number is the length it was pre-trained on, not an architectural wall (notebook 02, section 6):
    labkit's :func:`labkit.generation.generate` cuts longer prompts unless ``max_input_tokens`` is raised.
    """

    tokens: int
    context_window: int

    @property
    def fits(self) -> bool:
        return self.tokens <= self.context_window

    @property
    def overflow(self) -> int:
        return max(0, self.tokens - self.context_window)

    def __str__(self) -> str:
        verdict = "fits" if self.fits else (f"does NOT fit: {self.overflow} tokens over, which generate() cuts "
                                            "unless you raise max_input_tokens")
        return f"{self.tokens} tokens against a {self.context_window}-token window ({verdict})"


def prompt_length(tokenizer, prompt: str, context_window: int | None = None) -> PromptLength:
    """Count a prompt's tokens (with special tokens) and compare with the context window."""
    window = context_window or int(tokenizer.model_max_length)
    return PromptLength(tokens=len(tokenizer(prompt).input_ids), context_window=window)


# --- a format the examples teach: notebook 02's in-context learning a 135M model can show ----------------------

TOPIC_INSTRUCTION = ("What is this dialogue about? Reply with only 'Topic:' followed by the topic in at most three "
                     "lowercase words.")
_TOPIC_FORMAT = re.compile(r"Topic: [a-z]+(?: [a-z]+){0,2}\.?")


def topic_request(dialogue: str) -> str:
    """A user turn asking for the dialogue's topic in a fixed format (``Topic: <at most three lowercase words>``)."""
    return f"{TOPIC_INSTRUCTION}\n\n{dialogue}"


def topic_answer(topic: str) -> str:
    """The reply the format asks for: what a worked example's assistant turn says, and the gold answer."""
    return f"Topic: {topic.strip().lower()}"


def topic_messages(examples: Iterable, dialogue: str) -> list[dict]:
    """Worked examples as earlier turns (request, then the example's topic in the format), then the new request.

    What in-context learning looks like for a chat model: the examples are a conversation that already happened.
    ``examples`` are rows with ``dialogue`` and ``topic``.
    """
    messages = []
    for example in examples:
        messages += [{"role": "user", "content": topic_request(example["dialogue"])},
                     {"role": "assistant", "content": topic_answer(example["topic"])}]
    return messages + [{"role": "user", "content": topic_request(dialogue)}]


def follows_topic_format(reply: str) -> bool:
    """Does a reply say only ``Topic: <one to three lowercase words>`` (an optional final full stop)?

    A strict, checkable contract - the kind a program reading the model's output relies on. Leading and
    trailing white space is forgiven; a second line, capitals or a sentence are not.
    """
    return bool(_TOPIC_FORMAT.fullmatch(reply.strip()))
