"""Notebook checks (sagemaker): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest

from labkit import checks, prompts


def test_weekend_cost_check():
    from labkit import sagemaker

    per_hour = sagemaker.price("ml.g4dn.xlarge")
    checks.check_weekend_cost(per_hour * 64)
    checks.check_weekend_cost(round(per_hour * 64, 2))  # rounded to cents is fine
    with pytest.raises(checks.CheckFailed, match="48 hours"):
        checks.check_weekend_cost(per_hour * 48)
    with pytest.raises(checks.CheckFailed, match="Friday 00:00"):
        checks.check_weekend_cost(per_hour * 72)
    with pytest.raises(checks.CheckFailed, match="one hour"):
        checks.check_weekend_cost(per_hour)
    with pytest.raises(checks.CheckFailed, match="each one bills"):
        checks.check_weekend_cost(per_hour * 64, instance_count=2)
    with pytest.raises(checks.CheckFailed, match="not it"):
        checks.check_weekend_cost(10.0)
    with pytest.raises(checks.CheckFailed, match="number"):
        checks.check_weekend_cost("47.36")
    with pytest.raises(checks.CheckFailed):
        checks.check_weekend_cost(None)


def test_invoke_payload_check():
    from labkit import sagemaker

    fmt = sagemaker.TEXT2TEXT_FALLBACK
    dialogue = "#Person1#: Lunch?\n#Person2#: Sure."
    prompt = prompts.zero_shot(dialogue)
    checks.check_invoke_payload({"text_inputs": prompt, "max_length": 100}, fmt, prompt, 100)
    checks.check_invoke_payload(sagemaker.build_payload(fmt, prompt, max_length=100), fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="under 'text_inputs', not 'inputs'"):
        checks.check_invoke_payload({"inputs": prompt, "max_length": 100}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="only part of the prompt"):
        checks.check_invoke_payload({"text_inputs": dialogue, "max_length": 100}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="'max_length', not 'max_new_tokens'"):
        checks.check_invoke_payload({"text_inputs": prompt, "max_new_tokens": 100}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="integer"):
        checks.check_invoke_payload({"text_inputs": prompt, "max_length": "100"}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="should be 100"):
        checks.check_invoke_payload({"text_inputs": prompt, "max_length": 50}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="not a JSON string"):
        checks.check_invoke_payload('{"text_inputs": "x", "max_length": 100}', fmt, prompt, 100)


SPEC_07 = [{"name": n, "options": []} for n in ("epochs", "learning_rate", "lora_r", "lora_alpha")] + [
    {"name": "peft_type", "options": ["none", "lora"]}, {"name": "sagemaker_program", "options": []}]
WANT_07 = {"epochs": 1, "learning_rate": 0.001, "lora_r": 32, "lora_alpha": 32}


def test_training_hyperparameters_check():
    right = {"peft_type": "lora", "epochs": "1", "learning_rate": "0.001", "lora_r": "32", "lora_alpha": "32"}
    checks.check_training_hyperparameters(right, SPEC_07, True, WANT_07)
    checks.check_training_hyperparameters({**right, "learning_rate": "1e-3"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="as a string.*'32'"):
        checks.check_training_hyperparameters({**right, "lora_r": 32}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="calls it 'lora_r'"):
        checks.check_training_hyperparameters({**{k: v for k, v in right.items() if k != "lora_r"},
                                               "lora_rank": "32"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="peft_type='lora'"):
        checks.check_training_hyperparameters({k: v for k, v in right.items() if k != "peft_type"},
                                              SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="lora_r should be '32'"):
        checks.check_training_hyperparameters({**right, "lora_r": "8"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="drops"):
        checks.check_training_hyperparameters({**right, "sagemaker_program": "x.py"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="no LoRA option"):  # a spec without LoRA
        checks.check_training_hyperparameters(right, SPEC_07, False, WANT_07)
    checks.check_training_hyperparameters({"epochs": "1", "learning_rate": "0.001"}, SPEC_07, False, WANT_07)
