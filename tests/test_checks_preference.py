"""Notebook checks (preference tuning): each accepts the right answer and rejects plausible wrong ones with a hint."""

import math
import re

import pytest

from labkit import checks, preference, rlhf


def dpo_pair(pc, pr, rc, rr, beta):
    reward_chosen, reward_rejected = beta * (pc - rc), beta * (pr - rr)
    return reward_chosen, reward_rejected, math.log1p(math.exp(-(reward_chosen - reward_rejected)))


def test_dpo_pair_accepts_the_formula():
    checks.check_dpo_pair(dpo_pair)
    assert checks.exercise_of(checks.check_dpo_pair) == "06.1"


@pytest.mark.parametrize("wrong, hint", [
    (lambda pc, pr, rc, rr, b: (b * pc, b * pr, math.log1p(math.exp(-b * (pc - pr)))), "policy alone"),
    (lambda pc, pr, rc, rr, b: (pc - rc, pr - rr, math.log1p(math.exp(-((pc - rc) - (pr - rr))))), "without beta"),
    (lambda pc, pr, rc, rr, b: (b * (rc - pc), b * (rr - pr), 0.0), "wrong sign"),
    (lambda pc, pr, rc, rr, b: (*dpo_pair(pc, pr, rc, rr, b)[:2],
                                math.log1p(math.exp(b * ((pc - rc) - (pr - rr))))), "REJECTED"),
    (lambda pc, pr, rc, rr, b: (*dpo_pair(pc, pr, rc, rr, b)[:2],
                                1 / (1 + math.exp(-b * ((pc - rc) - (pr - rr))))), "sigmoid"),
    (lambda pc, pr, rc, rr, b: (*dpo_pair(pc, pr, rc, rr, b)[:2],
                                -math.log1p(math.exp(-b * ((pc - rc) - (pr - rr))))), "MINUS"),
    (lambda pc, pr, rc, rr, b: (*dpo_pair(pc, pr, rc, rr, b)[:2],
                                math.log1p(math.exp(-((pc - rc) - (pr - rr))))), "include beta"),
    (lambda pc, pr, rc, rr, b: dpo_pair(pc, pr, rc, rr, b)[2], "three numbers"),
])
def test_dpo_pair_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_dpo_pair(wrong)


def test_dpo_pair_must_not_call_labkit():
    import torch

    def copied(pc, pr, rc, rr, beta):
        loss = rlhf.dpo_loss(torch.tensor([pc]), torch.tensor([pr]), torch.tensor([rc]), torch.tensor([rr]), beta)
        return beta * (pc - rc), beta * (pr - rr), float(loss)

    with pytest.raises(checks.CheckFailed, match="formula"):
        checks.check_dpo_pair(copied)

    def crashes(pc, pr, rc, rr, beta):
        return 1 / 0

    with pytest.raises(checks.CheckFailed, match="ZeroDivisionError"):
        checks.check_dpo_pair(crashes)


@pytest.fixture(scope="module")
def constitution():
    return preference.load_constitution()


def good_critique(principle, prompt, response):
    return f"Request: {prompt}\n\nResponse: {response}\n\nPrinciple: {principle.principle}\n\n{principle.critique}"


def test_critique_request_accepts_a_complete_request(constitution):
    assert checks.check_critique_request(good_critique, constitution) is None  # no model: nothing generated
    checks.check_critique_request(preference.critique_request, constitution)
    assert checks.exercise_of(checks.check_critique_request) == "06.2"


@pytest.mark.parametrize("wrong, hint", [
    (lambda p, prompt, response: f"Response: {response}\nPrinciple: {p.principle}\n{p.critique}", "request"),
    (lambda p, prompt, response: f"Request: {prompt}\nPrinciple: {p.principle}\n{p.critique}", "response"),
    (lambda p, prompt, response: f"Request: {prompt}\nResponse: {response}\n{p.critique}", "principle"),
    (lambda p, prompt, response: good_critique(p, prompt, response) + "\n" + p.revision, "rewrite"),
    (lambda p, prompt, response: f"Request: {prompt}\nResponse: {response}\nPrinciple: {p.principle}\n"
                                 "Now rewrite the response.", "rewrite"),
    (lambda p, prompt, response: f"Request: {prompt}\nResponse: {response}\nPrinciple: {p.principle}", "Say what"),
    (lambda p, prompt, response: None, "non-empty string"),
])
def test_critique_request_rejects_incomplete_requests(constitution, wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_critique_request(wrong, constitution)


def test_critique_request_runs_the_model(constitution):
    class FakeTokenizer:
        pass

    calls = []

    def fake_generate(model, tokenizer, prompt, generation_config, **kwargs):
        calls.append(prompt)
        return "It insults the customer."

    import labkit.generation as generation

    original = (generation.generate, generation.chat_prompt)
    generation.generate, generation.chat_prompt = fake_generate, lambda tok, message: f"<chat>{message}"
    try:
        critique = checks.check_critique_request(good_critique, constitution, model=object(), tokenizer=FakeTokenizer())
    finally:
        generation.generate, generation.chat_prompt = original
    assert critique == "It insults the customer." and calls and calls[0].startswith("<chat>Request:")


def test_parse_preference_accepts_labkits_parser():
    checks.check_parse_preference(preference.parse_preference)
    assert checks.exercise_of(checks.check_parse_preference) == "06.3"


@pytest.mark.parametrize("wrong, hint", [
    (lambda text: "A" if "A" in (text or "") else "B", "empty answer|neither|alone"),
    (lambda text: text.strip()[0], "expected 'B'"),
    (lambda text: preference.parse_preference(text) if text.strip() else None, "raised AttributeError"),
    (lambda text: (re.findall(r"\b[AB]\b", text or "") or [None])[0], "both letters"),
    (lambda text: (re.findall(r"(?<![A-Za-z])[AaBb](?![A-Za-z])", text or "") or [None])[-1].upper()
     if re.findall(r"(?<![A-Za-z])[AaBb](?![A-Za-z])", text or "") else None, "alone|both"),
    (lambda text: None, "expected"),
])
def test_parse_preference_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_parse_preference(wrong)


def test_unfinished_exercises_say_so(constitution):
    def stub(*args):
        raise NotImplementedError()

    for check, args in ((checks.check_dpo_pair, ()), (checks.check_critique_request, (constitution,)),
                        (checks.check_parse_preference, ())):
        with pytest.raises(NotImplementedError):
            check(stub, *args)
