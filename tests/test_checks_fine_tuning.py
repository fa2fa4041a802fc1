"""Notebook checks (fine_tuning): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest

from labkit import checks, prompts


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


def test_lora_parameter_count_check(summarizer):
    from labkit import finetune

    model, _ = summarizer
    lora = finetune.add_lora(model, finetune.lora_config(r=4, target_modules=["q", "v"]))
    right = finetune.count_parameters(lora)[0]
    checks.check_lora_parameter_count(right, lora)
    with pytest.raises(checks.CheckFailed, match="every parameter"):
        checks.check_lora_parameter_count(finetune.count_parameters(lora)[1], lora)
    with pytest.raises(checks.CheckFailed, match=r"r \* \(in \+ out\)"):
        checks.check_lora_parameter_count(right // 2, lora)  # forgot B (or A)


def test_recovered_share_check():
    import pandas as pd

    table = pd.DataFrame({"rouge1": [0.2, 0.4, 0.35]}, index=["original", "full fine-tuning", "LoRA"])
    checks.check_recovered_share(0.75, table)
    with pytest.raises(checks.CheckFailed, match="percentage"):
        checks.check_recovered_share(75, table)
    with pytest.raises(checks.CheckFailed, match="ratio of the scores"):
        checks.check_recovered_share(0.875, table)
    with pytest.raises(checks.CheckFailed, match="gain"):
        checks.check_recovered_share(0.5, table)
