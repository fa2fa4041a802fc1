"""Notebook checks (preference tuning): each accepts the right answer and rejects plausible wrong ones with a hint."""

import math

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
        def __call__(self, text, **kwargs):
            return type("Encoding", (), {"input_ids": text.split()})()

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


@pytest.fixture(scope="module")
def smol_tokenizer():
    from transformers import AutoTokenizer

    from labkit import tiny

    tok = AutoTokenizer.from_pretrained(tiny.smollm2_path())
    tok.pad_token = tok.pad_token or tok.eos_token
    return tok


def test_critique_request_meets_the_token_budget(constitution, smol_tokenizer):
    checks.check_critique_request(good_critique, constitution, tokenizer=smol_tokenizer)

    def wordy(p, prompt, response):
        return ("You are a careful, fair and thorough reviewer. " * 6) + good_critique(p, prompt, response)

    with pytest.raises(checks.CheckFailed, match="budget"):
        checks.check_critique_request(wordy, constitution, tokenizer=smol_tokenizer)


@pytest.fixture(scope="module")
def judge_model(smol_tokenizer):
    from llm_helpers import tiny_llama

    return tiny_llama(smol_tokenizer)


def my_judge(model, tokenizer, principle, prompt, response, revision):
    first, second = (preference.choice_logprobs(model, tokenizer, [
        preference.preference_request(principle, prompt, a, b)])[0] for a, b in ((response, revision),
                                                                                 (revision, response)))
    lo1, lo2 = float(first[0] - first[1]), float(second[0] - second[1])
    return (lo2 - lo1) / 2, (lo1 + lo2) / 2


def test_debiased_judge_accepts_both_orders_averaged(constitution, judge_model, smol_tokenizer, capsys):
    checks.check_debiased_judge(my_judge, judge_model, smol_tokenizer, constitution)
    assert checks.exercise_of(checks.check_debiased_judge) == "06.3"
    assert "planted pairs" in capsys.readouterr().out


def _variant(kind):
    def judge(model, tokenizer, principle, prompt, response, revision):
        score, bias = my_judge(model, tokenizer, principle, prompt, response, revision)
        lo2 = bias + score
        return {"swapped": (bias, score), "sign": (-score, bias), "one order": (lo2, bias), "sum": (bias, bias),
                "double": (2 * score, 2 * bias), "one number": score}[kind]
    return judge


@pytest.mark.parametrize("kind, hint", [("swapped", "swapped"), ("sign", "wrong sign"), ("one order", "one order"),
                                        ("sum", "position bias"), ("double", "twice"), ("one number", "two numbers")])
def test_debiased_judge_rejects_plausible_slips(constitution, judge_model, smol_tokenizer, kind, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_debiased_judge(_variant(kind), judge_model, smol_tokenizer, constitution)


def test_unfinished_exercises_say_so(constitution):
    def stub(*args):
        raise NotImplementedError()

    for check, args in ((checks.check_dpo_pair, ()), (checks.check_critique_request, (constitution,)),
                        (checks.check_debiased_judge, (None, None, constitution))):
        with pytest.raises(NotImplementedError):
            check(stub, *args)


# --- 06.4 a detection rule for a false-positive budget ---------------------------------------------------------
RULE = dict(false_positive_budget=1e-3, gamma=0.25, typical_share=0.55)
Z = 3.090232306167813
TOKENS = math.ceil(Z ** 2 * 0.25 * 0.75 / 0.3 ** 2)  # 20


def test_detection_rule_is_exercise_06_4_and_accepts_the_design(capsys):
    assert checks.exercise_of(checks.check_detection_rule) == "06.4"
    checks.check_detection_rule(Z, TOKENS, **RULE)
    checks.check_detection_rule(3.09, TOKENS + 1, **RULE)  # rounded z: one token more is fine
    assert "20 scored tokens" in capsys.readouterr().out
    checks.check_detection_rule(Z, None, false_positive_budget=1e-3, gamma=0.25, typical_share=0.2)


@pytest.mark.parametrize("z, tokens, hint", [
    (3.2905, TOKENS, "two-sided"),
    (-3.09, TOKENS, "lower"),
    (2.0, TOKENS, "more than the budget"),
    (4.0, TOKENS, "misses watermarked text"),
    (Z, math.ceil(Z ** 2 * 0.25 * 0.75 / 0.55 ** 2), "excess"),
    (Z, math.ceil(Z * math.sqrt(0.25 * 0.75) / 0.3), "square root"),
    (Z, 40, "not what the z formula gives"),
    (Z, "20", "whole number"),
    (None, TOKENS, "Set `z_threshold`"),
])
def test_detection_rule_rejects_plausible_slips(z, tokens, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_detection_rule(z, tokens, **RULE)


def test_detection_rule_wants_none_when_no_length_is_enough():
    with pytest.raises(checks.CheckFailed, match="min_tokens = None"):
        checks.check_detection_rule(Z, 100, false_positive_budget=1e-3, gamma=0.25, typical_share=0.25)


# --- 06.5 is the watermark's quality cost beyond noise? --------------------------------------------------------
COSTLY = ([1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 0.8, 1.0], [1.4, 1.5, 1.3, 1.6, 1.2, 1.7, 1.1, 1.5])
NOISY = ([1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 0.8, 1.0], [1.2, 1.0, 1.0, 1.0, 1.1, 1.2, 0.9, 0.95])
CHEAPER = (COSTLY[1], COSTLY[0])


def test_quality_cost_is_exercise_06_5_and_accepts_the_reading_the_interval_supports(capsys):
    assert checks.exercise_of(checks.check_quality_cost) == "06.5"
    checks.check_quality_cost(True, *COSTLY)
    checks.check_quality_cost(False, *NOISY)
    checks.check_quality_cost(False, *CHEAPER)
    checks.check_quality_cost(True, COSTLY[0] + [float("nan")], COSTLY[1] + [2.0])  # an empty answer is left out
    out = capsys.readouterr().out
    assert "Beyond noise" in out and "Not beyond noise" in out and "No cost" in out


@pytest.mark.parametrize("answer, data, hint", [
    (False, COSTLY, "whole interval is above 0"),
    (True, NOISY, "includes 0"),
    (True, CHEAPER, "more\\* likely"),
    ("yes", COSTLY, "True or False"),
])
def test_quality_cost_rejects_a_reading_the_interval_does_not_support(answer, data, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_quality_cost(answer, *data)
