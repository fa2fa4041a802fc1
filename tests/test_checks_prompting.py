"""Notebook checks (prompting): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest
from transformers import GenerationConfig

from labkit import checks, prompts

SHOTS = [{"dialogue": "#Person1#: Hi.\n#Person2#: Hello.", "summary": "They greet."},
         {"dialogue": "#Person1#: Bye.\n#Person2#: See you.", "summary": "They part."}]
TARGET = "#Person1#: Lunch?\n#Person2#: Sure."


def test_few_shot_prompt():
    checks.check_few_shot_prompt(prompts.few_shot(SHOTS, TARGET), SHOTS, TARGET)
    no_summaries = "\n\n".join(prompts.flan_template(s["dialogue"]) for s in SHOTS) + prompts.flan_template(TARGET)
    with pytest.raises(checks.CheckFailed, match="human summary"):
        checks.check_few_shot_prompt(no_summaries, SHOTS, TARGET)
    target_first = prompts.flan_template(TARGET) + "\n\n" + prompts.few_shot(SHOTS, "").rsplit("Dialogue:", 1)[0]
    with pytest.raises(checks.CheckFailed, match="end with|last"):
        checks.check_few_shot_prompt(target_first, SHOTS, TARGET)
    with pytest.raises(checks.CheckFailed, match="order"):
        checks.check_few_shot_prompt(prompts.few_shot(SHOTS[::-1], TARGET), SHOTS, TARGET)
    with pytest.raises(checks.CheckFailed, match="one string"):
        checks.check_few_shot_prompt(None, SHOTS, TARGET)


def test_deterministic_config(summarizer):
    model, tokenizer = summarizer
    prompt = prompts.flan_template(TARGET)
    checks.check_deterministic_config(GenerationConfig(max_new_tokens=20, do_sample=False), model, tokenizer, prompt)
    with pytest.raises(checks.CheckFailed, match="do_sample"):
        checks.check_deterministic_config(GenerationConfig(max_new_tokens=20, do_sample=True, temperature=1.5, top_k=0),
                                          model, tokenizer, prompt)
    with pytest.raises(checks.CheckFailed, match="max_new_tokens"):
        checks.check_deterministic_config(GenerationConfig(max_new_tokens=None, do_sample=False), model, tokenizer, prompt)
