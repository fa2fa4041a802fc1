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
