"""Checks for notebook 03_finetune: one function per exercise, registered under its id."""

from __future__ import annotations

import re

from labkit.checks.base import CheckFailed, exercise, ok, require


@exercise("03.1")
def check_tokenize_function(tokenize_function, split, tokenizer) -> None:
    """the preprocessing function - instruction prompt in, summary as labels, no padding."""
    from labkit import prompts

    require(callable(tokenize_function), "Define `tokenize_function(batch)` that returns a dict.")
    batch = split[:4]
    out = tokenize_function(batch)
    require(isinstance(out, dict) or hasattr(out, "keys"), "Return a dict (a tokenizer's BatchEncoding is fine).")
    for key in ("input_ids", "labels"):
        require(key in out, f"The result needs {key!r}: the model learns to map input_ids to labels.")
    expected_inputs = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True).input_ids
    expected_labels = tokenizer(text_target=batch["summary"], truncation=True).input_ids
    inputs, labels = [list(x) for x in out["input_ids"]], [list(x) for x in out["labels"]]
    padded = any(tokenizer.pad_token_id in ids for ids in inputs) and len({len(x) for x in inputs}) == 1
    require(not padded, "The inputs are padded: don't pad in the tokenize function - the data collator pads each "
                         "batch to its own longest example (dynamic padding), which wastes far less compute.")
    require(inputs == expected_inputs,
             "input_ids should be the tokenized zero-shot prompt (prompts.zero_shot(dialogue)), truncated to the "
             "context window: the same instruction the model will see at evaluation time.")
    require(labels != inputs, "labels must be the tokenized human *summary*, not the prompt.")
    require(labels == expected_labels,
             "labels should be the tokenized human summaries: "
             "tokenizer(text_target=batch['summary'], truncation=True).")
    ok("Prompt in, summary out, padded later per batch.")


def _reference_topic(answer: str) -> str | None:
    """What the answer names as the topic: the words after "talking about" (or the whole answer), first sentence."""
    text = str(answer)
    marker = text.lower().find("talking about")
    if marker >= 0:
        text = text[marker + len("talking about"):]
    first = re.split(r"[.!?](?:\s|$)|\n", text.strip(), maxsplit=1)[0]
    topic = " ".join(first.lower().split()).strip(" .!?,;:")
    return topic or None


def _topic_hint(answer: str, got, expected: str, case_hint: str) -> str:
    """The most specific hint for a parser that returned ``got`` instead of ``expected`` on ``answer``."""
    said = f"named_topic({answer!r}) returned {got!r}, expected {expected!r}."
    if got is None:
        return f"{said} {case_hint}"
    if not isinstance(got, str):
        return f"{said} Return the topic as a string (or None when the answer names none)."
    if got.rstrip(" .!?") == expected:
        return f"{said} Drop the full stop and spaces at the end of the sentence."
    if " ".join(got.lower().split()).strip(" .!?") == expected:
        return f"{said} Return the topic in lowercase, so 'Job Interview' and 'job interview' compare equal."
    if got and expected.startswith(got.strip()) and got.strip() != expected:
        return (f"{said} A topic can be several words ('moving house', 'renting an apartment'): keep every word "
                "up to the end of the sentence, not just the first one.")
    if "talking about" in got.lower():
        return f"{said} Return only the words after 'talking about'."
    if expected in got.lower():
        return f"{said} Stop at the end of the first sentence (or line): the model may keep writing after it has " \
               "named the topic."
    return f"{said} {case_hint}"


# (answer, what it names, the hint when a learner's parser gets it wrong in a way no diagnosis above explains)
TOPIC_CASES = [
    ("#Person1# and #Person2# are talking about hotel check-in.", "hotel check-in",
     "Return the words after 'talking about', without the full stop."),
    ("#Person1# and #Person2# are talking about moving house.", "moving house",
     "Return the words after 'talking about', without the full stop."),
    ("They are talking about Job Interview.", "job interview", "Return the topic in lowercase."),
    ("#Person1# and #Person2# are talking about weather. #Person1# says it will rain tomorrow.", "weather",
     "Stop at the end of the first sentence."),
    ("renting an apartment", "renting an apartment",
     "An answer without 'talking about' is taken as a whole (FLAN-T5 often answers with the bare topic): "
     "return it, lowercased and stripped."),
    ("  The weather  \n#Person2#: Nice day!", "the weather",
     "Strip surrounding spaces and cut at the first line break."),
    ("", None, "An empty answer names no topic: return None (the scorer counts it as unanswered), don't crash."),
    ("#Person1# and #Person2# are talking about .", None,
     "'talking about' followed by nothing names no topic: return None, not an empty string."),
]


@exercise("03.2")
def check_named_topic(named_topic) -> None:
    """a parser that reads the topic out of a model's answer and never crashes on a malformed one."""
    require(callable(named_topic), "Define `named_topic(answer)` that returns a string or None.")
    for answer, expected, hint in TOPIC_CASES:
        try:
            got = named_topic(answer)
        except Exception as err:  # any crash is the learner's to fix
            raise CheckFailed(f"named_topic({answer!r}) raised {type(err).__name__}: {err}. A scorer meets every "
                              f"answer a model gives, malformed ones included. {hint}") from None
        if expected is None:
            require(got is None, f"named_topic({answer!r}) returned {got!r}. {hint}")
        else:
            require(got == expected, _topic_hint(answer, got, expected, hint))
    ok("Your parser reads the topic out of every answer form and counts the ones that name none.")


def _matches(name: str, target: str) -> bool:
    """peft's rule for a target module name: the whole name, or its last dotted part(s)."""
    return name == target or name.endswith("." + target)


def lora_count(model, target_modules, r: int) -> int:
    """The reference count: r * (in + out) over every Linear layer whose name ends with a target."""
    import torch

    return sum(r * (m.in_features + m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and any(_matches(name, t) for t in target_modules))


def _lecture_layer():
    """The lecture's example: one 512 x 64 weight (Linear(64 -> 512)) named like an attention projection."""
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Module()
    layer.q = torch.nn.Linear(64, 512, bias=False)
    return layer


@exercise("03.3")
def check_lora_counter(lora_parameter_count, model) -> None:
    """LoRA's trainable parameters computed from the adapted layers' shapes, for any targets and rank."""
    import torch

    require(callable(lora_parameter_count), "Define `lora_parameter_count(model, target_modules, r)`.")
    lecture = _lecture_layer()
    got = lora_parameter_count(lecture, ["q"], 8)
    require(got is not None, "Return the count (an int) - the function returned None.")
    require(got != 512 * 64, "32,768 is the full 512 x 64 weight; LoRA trains A (8 x 64) and B (512 x 8) instead.")
    require(int(got) == 4608,
             f"The lecture's layer (512 x 64 weight, r = 8) should give 8 x 64 + 512 x 8 = 4,608, not {got}: "
             "A is r x in_features, B is out_features x r.")
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    for targets, r in [(["q", "v"], 4), (["q", "k", "v", "o"], 8), (["o"], 2)]:
        expected = lora_count(model, targets, r)
        got = lora_parameter_count(model, list(targets), r)
        require(got is not None, "Return the count (an int) - the function returned None.")
        substring = sum(r * (m.in_features + m.out_features) for n, m in linears if any(t in n for t in targets))
        a_only = sum(r * m.in_features for n, m in linears if any(_matches(n, t) for t in targets))
        b_only = sum(r * m.out_features for n, m in linears if any(_matches(n, t) for t in targets))
        full = sum(m.in_features * m.out_features for n, m in linears if any(_matches(n, t) for t in targets))
        require(not (got == substring != expected),
                 f"For targets {targets} you count layers whose name merely *contains* a target: 'o' is inside "
                 "'encoder', 'decoder' and 'wo'. peft adapts a layer when its name *ends* with the target "
                 "(name.split('.')[-1] in target_modules).")
        require(got not in {a_only, b_only} or got == expected,
                 f"For targets {targets}, r = {r} you counted only one of the two matrices: each adapted layer gets "
                 "A (r x in_features) and B (out_features x r).")
        require(got != full or got == expected,
                 "That is the size of the adapted weights themselves; LoRA leaves them frozen and trains "
                 "r * (in + out) per layer.")
        require(int(got) == expected,
                 f"For targets {targets}, r = {r} the count is {expected}, not {got}: add r * (in_features + "
                 "out_features) over every torch.nn.Linear whose name ends with one of the targets.")
    ok("Your counter matches peft for the lecture's layer and for three configurations of this model.")


@exercise("03.4")
def check_budget_ranks(ranks, model, budget: int) -> None:
    """the largest LoRA rank that fits a parameter budget, for each choice of target modules."""
    require(isinstance(ranks, dict) and ranks, "Set `ranks` to a dict: {('q', 'v'): r, ('q', 'k', 'v', 'o'): r}.")
    for targets in [("q", "v"), ("q", "k", "v", "o")]:
        require(targets in ranks, f"`ranks` needs an entry for {targets}.")
        r = ranks[targets]
        require(isinstance(r, int) and not isinstance(r, bool) and r >= 1,
                f"The rank for {targets} should be a whole number >= 1, not {r!r}.")
        count = lora_count(model, targets, r)
        require(count <= budget, f"r = {r} on {targets} trains {count:,} parameters: over the budget of {budget:,}.")
        require(lora_count(model, targets, r + 1) > budget,
                f"r = {r} on {targets} trains {count:,} parameters; r = {r + 1} still fits the budget of "
                f"{budget:,}. Find the *largest* rank (the count grows linearly in r).")
    ok("The largest ranks within budget: " + ", ".join(f"{'+'.join(t)}: r = {r}" for t, r in ranks.items()))
