"""Notebook checks (evaluation): each accepts the right answer and rejects plausible wrong ones with a hint."""

import math
from collections import Counter
from statistics import NormalDist

import numpy as np
import pytest

from labkit import checks, evaluation


def _grams(text, n):
    tokens = text.split()
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def right_precision(candidate, reference, n):
    cand, ref = _grams(candidate, n), _grams(reference, n)
    total = sum(cand.values())
    return sum(min(c, ref[g]) for g, c in cand.items()) / total if total else 0.0


def test_modified_precision_check():
    checks.check_modified_precision(right_precision)

    def unclipped(candidate, reference, n):
        cand, ref = _grams(candidate, n), _grams(reference, n)
        total = sum(cand.values())
        return sum(c for g, c in cand.items() if g in ref) / total if total else 0.0

    def recall(candidate, reference, n):
        cand, ref = _grams(candidate, n), _grams(reference, n)
        return sum(min(c, ref[g]) for g, c in cand.items()) / sum(ref.values())

    def no_guard(candidate, reference, n):
        cand, ref = _grams(candidate, n), _grams(reference, n)
        return sum(min(c, ref[g]) for g, c in cand.items()) / sum(cand.values())

    def lowercased(candidate, reference, n):
        return right_precision(candidate.lower().replace(".", " ."), reference.lower().replace(".", " ."), n)

    with pytest.raises(checks.CheckFailed, match="clip"):
        checks.check_modified_precision(unclipped)
    with pytest.raises(checks.CheckFailed, match="recall"):
        checks.check_modified_precision(recall)
    with pytest.raises(checks.CheckFailed, match="return 0.0"):
        checks.check_modified_precision(no_guard)
    with pytest.raises(checks.CheckFailed, match="whitespace only"):
        checks.check_modified_precision(lowercased)
    with pytest.raises(checks.CheckFailed, match="Define"):
        checks.check_modified_precision(None)


def test_choose_option_check():
    checks.check_choose_option(lambda logprob, chars: (logprob / chars).argmax(-1))
    with pytest.raises(checks.CheckFailed, match="shortest option"):
        checks.check_choose_option(lambda logprob, chars: logprob.argmax(-1))
    with pytest.raises(checks.CheckFailed, match="argmax"):
        checks.check_choose_option(lambda logprob, chars: (logprob / chars).argmin(-1))
    with pytest.raises(checks.CheckFailed, match="divide"):
        checks.check_choose_option(lambda logprob, chars: (logprob * chars).argmax(-1))
    with pytest.raises(checks.CheckFailed, match="axis"):
        checks.check_choose_option(lambda logprob, chars: (logprob / chars).argmax(0))


def right_ece(confidences, correct, n_bins=10):
    confidences, correct = np.asarray(confidences, float), np.asarray(correct, float)
    bins = np.minimum((confidences * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidences[inside].mean())
    return total


def test_ece_check():
    checks.check_ece(right_ece)
    checks.check_ece(evaluation.expected_calibration_error)

    def unweighted(confidences, correct, n_bins=10):
        table = evaluation.reliability_table(confidences, correct, n_bins)
        return float((table["accuracy"] - table["confidence"]).abs().mean())

    def global_gap(confidences, correct, n_bins=10):
        return abs(float(np.mean(confidences)) - float(np.mean(correct)))

    def signed(confidences, correct, n_bins=10):
        table = evaluation.reliability_table(confidences, correct, n_bins)
        weights = table["answers"] / table["answers"].sum()
        return float((weights * (table["confidence"] - table["accuracy"])).sum())

    with pytest.raises(checks.CheckFailed, match="share of the answers"):
        checks.check_ece(unweighted)
    with pytest.raises(checks.CheckFailed, match="per confidence bin"):
        checks.check_ece(global_gap)
    with pytest.raises(checks.CheckFailed, match="absolute gap"):
        checks.check_ece(signed)
    with pytest.raises(checks.CheckFailed, match="percent"):
        checks.check_ece(lambda c, k, n_bins=10: 100 * right_ece(c, k, n_bins))


def right_needed(accuracy, half_width, level=0.95):
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return math.ceil(z ** 2 * accuracy * (1 - accuracy) / half_width ** 2)


def test_questions_needed_check():
    checks.check_questions_needed(right_needed)

    def one_sided(accuracy, half_width, level=0.95):
        z = NormalDist().inv_cdf(level)
        return math.ceil(z ** 2 * accuracy * (1 - accuracy) / half_width ** 2)

    with pytest.raises(checks.CheckFailed, match="round \\*up\\*"):
        checks.check_questions_needed(lambda p, h, level=0.95: int(right_needed(p, h, level) - 1 + 0.0))
    with pytest.raises(checks.CheckFailed, match="1.96"):
        checks.check_questions_needed(one_sided)
    with pytest.raises(checks.CheckFailed, match="worst case"):
        checks.check_questions_needed(lambda p, h, level=0.95: right_needed(0.5, h, level))
    with pytest.raises(checks.CheckFailed, match="Square it"):
        checks.check_questions_needed(
            lambda p, h, level=0.95: math.ceil(NormalDist().inv_cdf(0.5 + level / 2) * math.sqrt(p * (1 - p)) / h))
    with pytest.raises(checks.CheckFailed, match="return an int"):
        checks.check_questions_needed(lambda p, h, level=0.95: float(right_needed(p, h, level)))


def test_an_unfinished_exercise_raises_not_implemented():
    def unfinished(*args):
        raise NotImplementedError()

    for check in (checks.check_modified_precision, checks.check_choose_option, checks.check_ece,
                  checks.check_questions_needed):
        with pytest.raises(NotImplementedError):
            check(unfinished)


def _two_rules(seed, better_by=0):
    """Picks of two scoring rules on 64 four-option questions; rule a gets ``better_by`` more questions right."""
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, 4, 64)
    a = np.where(rng.random(64) < 0.5, answers, (answers + 1) % 4)
    b = a.copy()
    right = np.flatnonzero(a == answers)[:better_by]
    b[right] = (answers[right] + 2) % 4  # b misses questions a gets right
    return a, b, answers


@pytest.mark.parametrize("better_by", [0, 20])
def test_rule_difference_check_follows_the_run(better_by):
    a, b, answers = _two_rules(1, better_by)
    paired = (a == answers).astype(float) - (b == answers).astype(float)
    from labkit.metrics import bootstrap_ci

    mean, low, high = bootstrap_ci(paired, seed=7)  # another seed: a nearby interval is accepted
    verdict = low > 0 or high < 0
    assert verdict == (better_by > 0)
    checks.check_rule_difference((mean, low, high, verdict), a, b, answers)
    with pytest.raises(checks.CheckFailed, match="follows from the interval"):
        checks.check_rule_difference((mean, low, high, not verdict), a, b, answers)
    if mean:
        with pytest.raises(checks.CheckFailed, match="wrong sign"):
            checks.check_rule_difference((-mean, -high, -low, verdict), a, b, answers)
    with pytest.raises(checks.CheckFailed, match="paired differences"):  # an interval that misses the mean
        checks.check_rule_difference((mean, mean + 0.2, mean + 0.3, True), a, b, answers)
    with pytest.raises(checks.CheckFailed, match="four values"):
        checks.check_rule_difference(mean, a, b, answers)


def test_letter_habit_check_reads_the_answer_key():
    answers = np.repeat(np.arange(4), 16)
    checks.check_letter_habit(0.25, answers)
    with pytest.raises(checks.CheckFailed, match="B is right in 16 of the 64"):
        checks.check_letter_habit(0.5, answers)
    with pytest.raises(checks.CheckFailed, match="count how often"):
        checks.check_letter_habit(0, answers)
    unbalanced = np.array([1] * 40 + [0] * 24)  # the rule, not the number 0.25, is what the check holds
    checks.check_letter_habit(40 / 64, unbalanced)
    with pytest.raises(checks.CheckFailed):
        checks.check_letter_habit(0.25, unbalanced)
