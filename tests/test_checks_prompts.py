"""Notebook checks (prompting): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest
import torch

from labkit import checks, prompts
from labkit.checks import prompts as prompting

# --- 02.1 top-p ---------------------------------------------------------------------------------------------


def top_p_filter(probs, p):
    """A right answer: most likely first, keep up to and including the token whose running total reaches p."""
    sorted_probs, index = torch.sort(probs, descending=True)
    keep = int((torch.cumsum(sorted_probs, 0) < p).sum()) + 1
    out = torch.zeros_like(probs)
    out[index[:keep]] = probs[index[:keep]]
    return out / out.sum()


def test_top_p_accepts_a_right_answer_and_numpy_output(capsys):
    checks.check_top_p_filter(top_p_filter)
    checks.check_top_p_filter(lambda probs, p: top_p_filter(probs, p).numpy())
    assert "TopPLogitsWarper" in capsys.readouterr().out


def _strict(probs, p):  # stops before the token that crosses p
    sorted_probs, index = torch.sort(probs, descending=True)
    keep = max(1, int((torch.cumsum(sorted_probs, 0) < p).sum()))
    out = torch.zeros_like(probs)
    out[index[:keep]] = probs[index[:keep]]
    return out / out.sum()


def _one_too_many(probs, p):
    sorted_probs, index = torch.sort(probs, descending=True)
    keep = int((torch.cumsum(sorted_probs, 0) < p).sum()) + 2
    out = torch.zeros_like(probs)
    out[index[:keep]] = probs[index[:keep]]
    return out / out.sum()


def _not_renormalised(probs, p):
    out = top_p_filter(probs, p)
    return out * probs[out > 0].sum()


def _sorted_order(probs, p):
    return torch.sort(top_p_filter(probs, p), descending=True).values


def _in_place(probs, p):
    out = top_p_filter(probs, p)
    probs.copy_(out)
    return probs


def _tiny_instead_of_zero(probs, p):
    out = top_p_filter(probs, p)
    return torch.where(out > 0, out, torch.full_like(out, 1e-9))


def _ascending(probs, p):
    sorted_probs, index = torch.sort(probs)
    keep = int((torch.cumsum(sorted_probs, 0) < p).sum()) + 1
    out = torch.zeros_like(probs)
    out[index[:keep]] = probs[index[:keep]]
    return out / out.sum()


@pytest.mark.parametrize("wrong, hint", [
    (_strict, "one token too few"),
    (_one_too_many, "stop at the first token"),
    (_not_renormalised, "renormalise"),
    (_sorted_order, "vocabulary order"),
    (_in_place, "Leave `probs`"),
    (_tiny_instead_of_zero, "exactly 0"),
    (_ascending, "highest"),
    (lambda probs, p: probs[:3], "one probability per vocabulary token"),
    (lambda probs, p: 1 / 0, "raised ZeroDivisionError"),
    (lambda probs, p: "probs", "as a tensor"),
])
def test_top_p_rejects_plausible_wrong_answers(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_top_p_filter(wrong)


def test_the_reference_is_transformers_own_warper():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    expected = {0.7: [0.625, 0.375, 0, 0], 0.75: [0.625, 0.375, 0, 0], 0.9: [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0],
                0.1: [1.0, 0, 0, 0]}
    for p, want in expected.items():
        assert torch.allclose(prompting._reference_top_p(probs, p), torch.tensor(want, dtype=torch.float64)), p
        assert torch.allclose(top_p_filter(probs, p), torch.tensor(want, dtype=torch.float64)), p


# --- 02.2 few-shot messages ---------------------------------------------------------------------------------


def few_shot_messages(examples, dialogue):
    messages = []
    for example in examples:
        messages.append({"role": "user", "content": prompts.summary_request(example["dialogue"])})
        messages.append({"role": "assistant", "content": example["summary"]})
    messages.append({"role": "user", "content": prompts.summary_request(dialogue)})
    return messages


def test_few_shot_messages_accepts_the_right_answer():
    checks.check_few_shot_messages(few_shot_messages)


def _summaries_in_user_turns(examples, dialogue):
    return [{"role": "user", "content": prompts.summary_request(e["dialogue"]) + "\n" + e["summary"]}
            for e in examples] + [{"role": "user", "content": prompts.summary_request(dialogue)}]


def _one_big_message(examples, dialogue):
    text = "\n\n".join(f"{prompts.summary_request(e['dialogue'])}\n{e['summary']}" for e in examples)
    return [{"role": "user", "content": (text + "\n\n" if text else "") + prompts.summary_request(dialogue)}]


@pytest.mark.parametrize("wrong, hint", [
    (_summaries_in_user_turns, "each example is two turns"),
    (_one_big_message, "each example is two turns"),
    (lambda ex, d: few_shot_messages(ex, d)[:-1], "End with the user's request"),
    (lambda ex, d: few_shot_messages(ex[::-1], d), "order given"),
    (lambda ex, d: [{"role": "system", "content": "You summarise."}] + few_shot_messages(ex, d), "system message"),
    (lambda ex, d: [{**m, "role": "bot" if m["role"] == "assistant" else m["role"]} for m in few_shot_messages(ex, d)],
     "roles 'user' and 'assistant'"),
    (lambda ex, d: [{**m, "content": "Summary: " + m["content"] if m["role"] == "assistant" else m["content"]}
                    for m in few_shot_messages(ex, d)], "exactly its human summary"),
    (lambda ex, d: [{"role": "user", "content": e["dialogue"]} if i % 2 == 0 else None for i, e in enumerate(ex)]
     + few_shot_messages([], d), "dict"),
    (lambda ex, d: [m for e in ex for m in ({"role": "user", "content": e["dialogue"]},
                                            {"role": "assistant", "content": e["summary"]})]
     + few_shot_messages([], d), "summary_request"),
    (lambda ex, d: [("user", prompts.summary_request(d))], "dict"),
    (lambda ex, d: ex[10], "raised IndexError"),
])
def test_few_shot_messages_rejects_plausible_wrong_answers(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_few_shot_messages(wrong)


# --- 02.3 shots within a budget -----------------------------------------------------------------------------


class WordTokenizer:
    """Counts words; renders a conversation as '<role> content </role>' per message, then '<assistant>'."""

    def __call__(self, text):
        class Encoding:
            input_ids = text.split()
        return Encoding()

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        text = " ".join(f"<{m['role']}> {m['content']} </{m['role']}>" for m in messages)
        return text + (" <assistant>" if add_generation_prompt else "")


def _words(n, word="w"):
    return " ".join([word] * n)


POOL = [{"dialogue": _words(10, f"d{i}"), "summary": _words(5, f"s{i}")} for i in range(8)]
DIALOGUES = [_words(2, "short"), _words(90, "long"), _words(40, "mid")]
BUDGET, MAX_NEW = 250, 60


def test_shots_that_fit_by_hand():
    # the request: 7 instruction words + the dialogue + 2 tags, then '<assistant>'; each example 19 + 7 tokens.
    # longest dialogue: 100 + 26 k + 60 new tokens <= 250  ->  k = 3
    assert prompting._most_that_fit(WordTokenizer(), POOL, DIALOGUES, BUDGET, MAX_NEW) == 3
    checks.check_shots_that_fit(3, WordTokenizer(), POOL, DIALOGUES, BUDGET, MAX_NEW)


@pytest.mark.parametrize("wrong, hint", [
    (5, "count the 60 new tokens"),  # 100 + 26 k <= 250: forgot the summary shares the window
    (6, "the longest one decides"),  # 12 + 26 k + 60 <= 250: checked the first (shortest) dialogue only
    (4, "needs 264 tokens"),  # one too many
    (2, "3 examples still fit"),  # one too few
    (9, "holds 8"),
    (-1, "holds 8"),
    (3.0, "whole number"),
    (True, "whole number"),
])
def test_shots_that_fit_rejects_plausible_wrong_answers(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_shots_that_fit(wrong, WordTokenizer(), POOL, DIALOGUES, BUDGET, MAX_NEW)


def test_an_unfinished_function_is_reported_as_unfinished():
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_top_p_filter(stub)
    with pytest.raises(NotImplementedError):
        checks.check_few_shot_messages(stub)


def test_icl_verdicts_read_the_interval_not_the_mean():
    import pandas as pd

    paired = pd.DataFrame({"Δ ROUGE-1 vs zero-shot": [0.05, -0.02, 0.03], "95% CI low": [0.01, -0.04, -0.01],
                           "95% CI high": [0.09, -0.005, 0.07]},
                          index=pd.MultiIndex.from_tuples([("t5", "one-shot"), ("t5", "3-shot"), ("llm", "one-shot")],
                                                          names=["model", "prompt"]))
    right = {("t5", "one-shot"): "better", ("t5", "3-shot"): "worse", ("llm", "one-shot"): "no difference"}
    checks.check_icl_verdicts(right, paired)
    with pytest.raises(checks.CheckFailed, match="contains 0"):
        checks.check_icl_verdicts({**right, ("llm", "one-shot"): "better"}, paired)  # the mean is positive
    with pytest.raises(checks.CheckFailed, match="'worse', not 'no difference'"):
        checks.check_icl_verdicts({**right, ("t5", "3-shot"): "no difference"}, paired)
    with pytest.raises(checks.CheckFailed, match="No verdict"):
        checks.check_icl_verdicts({("t5", "one-shot"): "better"}, paired)
    with pytest.raises(checks.CheckFailed, match="one of"):
        checks.check_icl_verdicts({**right, ("t5", "one-shot"): "yes"}, paired)
