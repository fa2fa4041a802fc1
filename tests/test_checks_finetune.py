"""Notebook checks (fine_tuning): each accepts the right answer and rejects plausible wrong ones with a hint."""

import re

import pytest
import torch

from labkit import checks, finetune, prompts
from labkit.checks.finetune import _reference_topic, lora_count


def test_tokenize_function_check(summarizer, dialogsum):
    _, tokenizer = summarizer
    train = dialogsum["train"]

    def right(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True)
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def padded(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True, padding="max_length")
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def no_prompt(batch):
        enc = tokenizer(batch["dialogue"], truncation=True)
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def prompt_as_labels(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True)
        enc["labels"] = enc["input_ids"]
        return enc

    checks.check_tokenize_function(right, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="dynamic padding"):
        checks.check_tokenize_function(padded, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="zero-shot prompt"):
        checks.check_tokenize_function(no_prompt, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="summary"):
        checks.check_tokenize_function(prompt_as_labels, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="labels"):
        checks.check_tokenize_function(lambda b: tokenizer(b["dialogue"]), train, tokenizer)


# --- 03.2: reading the topic out of an answer ------------------------------------------------------------

def _solution(answer):
    text = answer
    if "talking about" in text.lower():
        text = text[text.lower().index("talking about") + len("talking about"):]
    first = re.split(r"[.!?](?:\s|$)|\n", text.strip(), maxsplit=1)[0]
    return " ".join(first.lower().split()).strip(" .!?,;:") or None


def _after_about(answer):
    return answer.split("talking about ")[-1]


def _first_word(answer):
    return _reference_topic(answer).split()[0] if _reference_topic(answer) else None


def _keeps_case(answer):
    topic = _reference_topic(answer)
    return topic if topic is None else answer.split("about ")[-1].split(".")[0].strip() if "about" in answer else topic


def _whole_text(answer):
    text = answer.split("talking about")[-1].strip().lower().rstrip(".")
    return text or None


def _with_marker(answer):
    topic = _reference_topic(answer)
    return topic if topic is None or "talking about" not in answer else answer.split(". ")[0].lower().rstrip(".")


def _marker_only(answer):
    if "talking about" not in answer:
        return None
    return _reference_topic(answer)


def _empty_string(answer):
    return _reference_topic(answer) or ""


def _crashes(answer):
    return re.search(r"talking about (.+?)\.", answer).group(1).lower()


@pytest.mark.parametrize("wrong, hint", [
    (_after_about, "Drop the full stop"),
    (_first_word, "several words"),
    (_keeps_case, "lowercase"),
    (_whole_text, "first sentence"),
    (_with_marker, "only the words after"),
    (_marker_only, "taken as a whole"),
    (_empty_string, "return None"),
    (_crashes, "raised AttributeError"),
])
def test_named_topic_check_rejects_plausible_parsers(wrong, hint):
    checks.check_named_topic(_solution)
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_named_topic(wrong)


def test_named_topic_check_says_what_to_define():
    with pytest.raises(checks.CheckFailed, match="Define"):
        checks.check_named_topic(None)


def test_reference_parser_scores_the_tiny_models_answer_form():
    answers = [finetune.topic_answer("hotel check-in"), "#Person1# asks #Person2# for a room.", ""]
    scores = finetune.topic_scores(answers, ["hotel check-in"] * 3, _reference_topic)
    assert scores == {"topic_accuracy": pytest.approx(1 / 3), "no_topic": 1}


# --- 03.3 / 03.4: LoRA arithmetic --------------------------------------------------------------------------

def _right_counter(model, target_modules, r):
    return sum(r * (m.in_features + m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and name.split(".")[-1] in target_modules)


@pytest.mark.parametrize("targets, r", [(["q", "v"], 4), (["q", "k", "v", "o"], 8), (["o"], 2), (["wo", "wi_0"], 3)])
def test_reference_lora_count_equals_peft(summarizer, targets, r):
    model, _ = summarizer
    peft_model = finetune.add_lora(model, finetune.lora_config(r=r, lora_alpha=r, target_modules=targets))
    assert lora_count(model, targets, r) == finetune.count_parameters(peft_model)[0]


def test_lecture_layer_count_equals_peft():
    from peft import LoraConfig, get_peft_model

    from labkit.checks.finetune import _lecture_layer

    layer = get_peft_model(_lecture_layer(), LoraConfig(r=8, target_modules=["q"]))
    assert finetune.count_parameters(layer)[0] == 4608 == 8 * 64 + 512 * 8
    assert round(1 - 4608 / (512 * 64), 2) == 0.86  # the lecture's "86% fewer"


def test_lora_counter_check(summarizer):
    model, _ = summarizer
    checks.check_lora_counter(_right_counter, model)

    def substring(model, target_modules, r):
        return sum(r * (m.in_features + m.out_features) for name, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and any(t in name for t in target_modules))

    def a_only(model, target_modules, r):
        return sum(r * m.in_features for name, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and name.split(".")[-1] in target_modules)

    def full_weights(model, target_modules, r):
        return sum(m.in_features * m.out_features for name, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and name.split(".")[-1] in target_modules)

    def no_return(model, target_modules, r):
        _right_counter(model, target_modules, r)

    def lecture_hardcoded(model, target_modules, r):
        return 4608 if len(list(model.modules())) == 2 else 12345

    with pytest.raises(checks.CheckFailed, match=r"\*ends\*"):
        checks.check_lora_counter(substring, model)
    with pytest.raises(checks.CheckFailed, match="4,608"):
        checks.check_lora_counter(a_only, model)  # fails on the lecture's layer first
    with pytest.raises(checks.CheckFailed, match="full 512 x 64"):
        checks.check_lora_counter(full_weights, model)
    with pytest.raises(checks.CheckFailed, match="None"):
        checks.check_lora_counter(no_return, model)
    with pytest.raises(checks.CheckFailed, match=r"r \* \(in_features"):
        checks.check_lora_counter(lecture_hardcoded, model)


def test_lora_counter_check_catches_one_matrix_on_the_model(summarizer):
    model, _ = summarizer

    def a_only_but_lecture_right(model, target_modules, r):
        if len(list(model.modules())) == 2:
            return 4608
        return sum(r * m.in_features for name, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and name.split(".")[-1] in target_modules)

    with pytest.raises(checks.CheckFailed, match="only one of the two matrices"):
        checks.check_lora_counter(a_only_but_lecture_right, model)


def test_budget_ranks_check(summarizer):
    model, _ = summarizer
    budget = 20_000
    per_rank = {t: lora_count(model, t, 1) for t in [("q", "v"), ("q", "k", "v", "o")]}
    right = {t: budget // n for t, n in per_rank.items()}
    checks.check_budget_ranks(right, model, budget)
    with pytest.raises(checks.CheckFailed, match="over the budget"):
        checks.check_budget_ranks({**right, ("q", "v"): right[("q", "v")] + 1}, model, budget)
    with pytest.raises(checks.CheckFailed, match="largest"):
        checks.check_budget_ranks({**right, ("q", "k", "v", "o"): right[("q", "k", "v", "o")] - 1}, model, budget)
    with pytest.raises(checks.CheckFailed, match="needs an entry"):
        checks.check_budget_ranks({("q", "v"): right[("q", "v")]}, model, budget)
    with pytest.raises(checks.CheckFailed, match="whole number"):
        checks.check_budget_ranks({**right, ("q", "v"): budget / per_rank[("q", "v")]}, model, budget)
    with pytest.raises(checks.CheckFailed, match="dict"):
        checks.check_budget_ranks(None, model, budget)
