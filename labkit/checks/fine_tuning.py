"""Checks for notebook 03_fine_tuning: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import close, exercise, ok, require


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
             "labels should be the tokenized human summaries: tokenizer(text_target=batch['summary'], truncation=True).")
    ok("Prompt in, summary out, padded later per batch.")


@exercise("03.2")
def check_lora_parameter_count(count, peft_model) -> None:
    """LoRA's trainable parameters computed from the adapted layers' shapes."""
    from labkit.finetune import count_parameters

    trainable = count_parameters(peft_model)[0]
    require(count is not None, "Set `lora_parameters` to a number.")
    require(count != count_parameters(peft_model)[1],
             "That is every parameter of the model; LoRA trains only its small A and B matrices.")
    r = next(iter(peft_model.peft_config.values())).r
    require(int(count) == trainable,
             f"{count} is not right: the model has {trainable} trainable parameters. Each adapted Linear layer "
             f"gets A (r x in_features) and B (out_features x r), r = {r}: add r * (in + out) over the adapted layers.")
    ok(f"{trainable} LoRA parameters: r x (in + out) for each adapted layer.")


@exercise("03.3")
def check_recovered_share(share, comparison, peft: str = "LoRA", full: str = "full fine-tuning",
                          original: str = "original", metric: str = "rouge1") -> None:
    """which share of full fine-tuning's gain a PEFT method recovers, read off the table."""
    gain_full = comparison.loc[full, metric] - comparison.loc[original, metric]
    gain_peft = comparison.loc[peft, metric] - comparison.loc[original, metric]
    expected = gain_peft / gain_full
    require(share is not None, "Set `recovered` to a fraction (e.g. 0.8 for 80%).")
    require(not close(share, expected * 100, 1e-3), "Give a fraction, not a percentage (0.8, not 80).")
    require(not close(share, comparison.loc[peft, metric] / comparison.loc[full, metric], 1e-3),
             "That is the ratio of the scores; the question is about the *gains* over the original model.")
    require(close(share, expected, 1e-3),
             f"Not quite: divide {peft}'s {metric} gain over the original model by full fine-tuning's gain.")
    ok(f"{peft} recovers {expected:.0%} of full fine-tuning's {metric} gain.")
