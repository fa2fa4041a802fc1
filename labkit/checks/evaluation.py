"""Checks for notebook 04_evaluation: one function per exercise, registered under its id."""

from __future__ import annotations

import math

import numpy as np

from labkit.checks.base import CheckFailed, call, close, exercise, ok, require  # noqa: F401

_REFERENCE = "I am very happy to say that I am drinking a warm cup of tea."
_CANDIDATE = "I am very happy that I am drinking a cup of tea."


def _ngrams(tokens, n):
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def _modified_precision(candidate: str, reference: str, n: int) -> float:
    from collections import Counter

    cand, ref = Counter(_ngrams(candidate.split(), n)), Counter(_ngrams(reference.split(), n))
    total = sum(cand.values())
    return sum(min(count, ref[gram]) for gram, count in cand.items()) / total if total else 0.0


def _call(function, *args, name: str):
    hint = " (an input with nothing to count: return 0.0 there)"
    return call(function, *args, name=name, hints={ZeroDivisionError: hint})


@exercise("04.1")
def check_modified_precision(modified_precision) -> None:
    """BLEU's clipped n-gram precision on whitespace tokens, by hand."""
    require(callable(modified_precision), "Define `modified_precision(candidate, reference, n)` returning a float.")
    cases = [(_CANDIDATE, _REFERENCE, n) for n in (1, 2, 3, 4)]
    cases += [("the the the the the the the", "the cat is on the mat", 1),  # the classic clipping example
              ("the cat the cat", "the cat sat on the cat mat", 2),
              ("tea", _REFERENCE, 2)]  # no bigram at all in the candidate
    for candidate, reference, n in cases:
        got = _call(modified_precision, candidate, reference, n, name="modified_precision")
        expected = _modified_precision(candidate, reference, n)
        if close(got, expected, 1e-9):
            continue
        cand_grams, ref_grams = _ngrams(candidate.split(), n), _ngrams(reference.split(), n)
        unclipped = sum(g in ref_grams for g in cand_grams) / len(cand_grams) if cand_grams else 0.0
        recall = sum(min(cand_grams.count(g), ref_grams.count(g)) for g in set(cand_grams)) / len(ref_grams)
        require(not (cand_grams and close(got, unclipped, 1e-9)),
                f"For {candidate!r} you count every candidate {n}-gram found in the reference: clip each n-gram's "
                "count at the number of times it occurs in the reference (the 'modified' in modified precision).")
        require(not close(got, recall, 1e-9),
                f"That divides by the reference's {n}-grams (a recall, like ROUGE). BLEU's precision divides by the "
                "number of n-grams in the *candidate*.")
        require(bool(cand_grams) or close(got, 0.0),
                f"{candidate!r} has no {n}-grams at all: return 0.0 rather than dividing by zero.")
        raise CheckFailed(f"modified_precision({candidate!r}, ..., n={n}) returned {got!r}, expected {expected:.4f}. "
                          "Split on whitespace only (no lower-casing, punctuation stays on its word), count n-grams "
                          "with their multiplicity, clip by the reference counts, divide by the candidate's n-grams.")
    ok("Clipped n-gram precision: 12/12, 9/11, 6/10 and 3/9 for the lecture's first candidate.")


@exercise("04.2")
def check_choose_option(choose_option) -> None:
    """Length-normalised option choice: the highest log-likelihood per character."""
    require(callable(choose_option), "Define `choose_option(logprob, chars)` returning one index per question.")
    logprob = np.array([[-3.0, -9.0, -20.0, -4.0],  # sum picks the short A; per character the long B wins
                        [-8.0, -2.5, -12.0, -30.0],
                        [-10.0, -10.5, -40.0, -6.0],
                        [-2.0, -5.0, -30.0, -40.0],
                        [-6.0, -1.5, -7.0, -9.0]])
    chars = np.array([[2, 15, 20, 3], [8, 2, 30, 40], [5, 10, 50, 3], [10, 2, 100, 100], [6, 1, 8, 10]])
    expected = (logprob / chars).argmax(-1)
    got = _call(choose_option, logprob.copy(), chars.copy(), name="choose_option")
    got = np.asarray(got)
    require(got.shape == (len(logprob),),
            f"Return one index per question (shape {(len(logprob),)}), not shape {got.shape}: take the argmax "
            "along the options axis (axis=-1).")
    if np.array_equal(got, expected):
        ok("Per-character normalisation: a long right answer is no longer penalised for its length.")
        return
    require(not np.array_equal(got, logprob.argmax(-1)),
            "That is the raw sum of log-probabilities: every extra token multiplies in another probability < 1, "
            "so the sum favours the shortest option. Divide by the option's length in characters first.")
    require(not np.array_equal(got, (logprob / chars).argmin(-1)),
            "Log-probabilities are negative: the best option has the *largest* (least negative) score - argmax.")
    require(not np.array_equal(got, (logprob * chars).argmax(-1)),
            "Multiplying by the length makes long options even worse; divide the log-probability by it.")
    raise CheckFailed(f"Got {got.tolist()}, expected {expected.tolist()}: divide each option's summed log-probability "
                      "by its number of characters, then take the argmax per question.")


@exercise("04.5")
def check_ece(ece) -> None:
    """Expected calibration error with 10 equal-width confidence bins, weighted by bin size."""
    from labkit.evaluation import expected_calibration_error, reliability_table

    require(callable(ece), "Define `ece(confidences, correct, n_bins=10)` returning a float.")
    rng = np.random.default_rng(4)
    confidences = np.concatenate([rng.uniform(0.8, 0.99, 250), rng.uniform(0.26, 0.8, 150)])
    # most answers sit in the top bins, overconfident there; the rest are underconfident: gaps of both signs
    accuracy = np.where(confidences >= 0.8, confidences - 0.25, np.minimum(confidences + 0.15, 1.0))
    correct = rng.uniform(size=confidences.size) < accuracy
    expected = expected_calibration_error(confidences, correct)
    got = _call(ece, confidences.copy(), correct.copy(), name="ece")
    if close(got, expected, 1e-6):
        perfect = np.array([0.95] * 20 + [0.55] * 20)
        hits = np.array([True] * 19 + [False] + [True] * 11 + [False] * 9)
        got_perfect = _call(ece, perfect, hits, name="ece")
        require(close(got_perfect, 0.0, 1e-6) or abs(float(got_perfect)) < 1e-9,
                "A model right 95% of the time at confidence 0.95 and 55% at 0.55 is perfectly calibrated: "
                f"your ece gives {got_perfect!r} instead of 0.")
        ok(f"ECE = {expected:.3f} on the check's data: confidence and accuracy compared bin by bin, weighted.")
        return
    table = reliability_table(confidences, correct)
    gaps = table["accuracy"] - table["confidence"]
    require(not close(got, gaps.abs().mean(), 1e-6),
            "You average the bins' gaps equally; weight each bin by its share of the answers (most answers sit in "
            "the top bins here, and a bin with 3 answers should count little).")
    require(not close(got, abs(float(np.mean(confidences)) - float(np.mean(correct))), 1e-6),
            "That is the overall mean confidence against the overall accuracy (summing signed gaps over the bins "
            "comes to the same): over- and under-confident bins cancel out. Take the absolute gap "
            "|accuracy - confidence| per confidence bin.")
    weights = table["answers"] / table["answers"].sum()
    signed = float((weights * gaps).sum())
    require(not close(got, signed, 1e-6) and not close(got, -signed, 1e-6),
            "Signed gaps cancel between bins; take the absolute gap |accuracy - confidence| in each bin.")
    require(not close(got, expected * 100, 1e-6), "Give ECE as a fraction in [0, 1], not in percent.")
    raise CheckFailed(f"Got {got!r}, expected {expected:.4f}. Put each answer into one of n_bins equal-width bins over "
                      "[0, 1] by its confidence, then sum over bins (answers in bin / all answers) x |accuracy in "
                      "bin - mean confidence in bin|.")


def _needed(accuracy: float, half_width: float, level: float) -> int:
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    return math.ceil(z * z * accuracy * (1 - accuracy) / half_width ** 2)


@exercise("04.6")
def check_questions_needed(questions_needed) -> None:
    """How many questions a benchmark needs for a confidence interval of a given half-width."""
    from statistics import NormalDist

    require(callable(questions_needed), "Define `questions_needed(accuracy, half_width, level=0.95)`.")
    for accuracy, half_width, level in [(0.5, 0.05, 0.95), (0.9, 0.01, 0.95), (0.7, 0.02, 0.99), (0.25, 0.1, 0.95)]:
        expected = _needed(accuracy, half_width, level)
        got = _call(questions_needed, accuracy, half_width, level, name="questions_needed")
        if isinstance(got, (int, np.integer)) and int(got) == expected:
            continue
        z = NormalDist().inv_cdf(0.5 + level / 2)
        exact = z * z * accuracy * (1 - accuracy) / half_width ** 2
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"Return a whole number of questions, not {got!r}.") from None
        require(value != expected, f"Right value, but return an int (int(...) or math.ceil), not {got!r}.")
        require(not close(value, exact, 1e-6) and math.floor(exact) != value,
                f"{value} for accuracy {accuracy}, ±{half_width}: round *up* to a whole number of questions "
                "(math.ceil) - rounding down leaves the interval slightly too wide.")
        require(not math.isclose(value, _needed(accuracy, half_width, 0.90), abs_tol=1),
                "That uses z = 1.645, the one-sided 95% value. A two-sided interval at level 0.95 needs z = 1.96: "
                "NormalDist().inv_cdf(0.5 + level / 2).")
        require(not math.isclose(value, math.ceil(z * z * 0.25 / half_width ** 2), abs_tol=1) or accuracy == 0.5,
                "You used the worst case p = 0.5; the standard error depends on the accuracy: sqrt(p(1-p)/n).")
        require(not math.isclose(value, math.ceil(z * math.sqrt(accuracy * (1 - accuracy)) / half_width), abs_tol=1),
                "Square it: half_width = z * sqrt(p(1-p)/n) gives n = z^2 p(1-p) / half_width^2.")
        raise CheckFailed(f"questions_needed({accuracy}, {half_width}, {level}) returned {got!r}, expected {expected}. "
                          "Solve half_width = z * sqrt(p(1-p)/n) for n, with z for a two-sided interval at `level`, "
                          "and round up.")
    ok("n = z² p(1-p) / half-width², rounded up: 385 questions for ±5 points at 50%.")


@exercise("04.3")
def check_rule_difference(answer, picks_a, picks_b, answers) -> None:
    """Read the run: is one scoring rule better than another beyond noise, by a paired interval over questions?"""
    from labkit.metrics import bootstrap_ci

    require(isinstance(answer, (tuple, list)) and len(answer) == 4,
            "Set `difference, low, high, beyond_noise` (four values) from your paired differences.")
    difference, low, high, beyond_noise = answer
    picks_a, picks_b, answers = np.asarray(picks_a), np.asarray(picks_b), np.asarray(answers)
    paired = (picks_a == answers).astype(float) - (picks_b == answers).astype(float)
    mean, ci_low, ci_high = bootstrap_ci(paired)
    require(close(difference, mean, 1e-9) or not close(difference, -mean, 1e-9),
            "Your difference has the wrong sign: per character minus sum, question by question.")
    require(close(difference, mean, 1e-9),
            f"The mean paired difference is {mean:+.4f} on this run; you have {float(difference):+.4f}. For each "
            "question take (per character right) − (sum right), as 1.0/0.0, and average.")
    width = ci_high - ci_low
    require(float(low) <= mean <= float(high),
            f"Your interval [{float(low):+.3f}, {float(high):+.3f}] does not contain the mean difference {mean:+.3f}: "
            "bootstrap the paired differences, not the two accuracies separately.")
    require(abs(float(low) - ci_low) <= 0.5 * width + 0.02 and abs(float(high) - ci_high) <= 0.5 * width + 0.02,
            f"A 95% interval of the paired differences is about [{ci_low:+.3f}, {ci_high:+.3f}] on this run; yours is "
            f"[{float(low):+.3f}, {float(high):+.3f}]. Resample the per-question differences (metrics.bootstrap_ci).")
    own = float(low) > 0 or float(high) < 0
    require(isinstance(beyond_noise, (bool, np.bool_)),
            "`beyond_noise` is True or False: does your interval exclude 0?")
    require(bool(beyond_noise) == own,
            f"Your interval [{float(low):+.3f}, {float(high):+.3f}] {'excludes' if own else 'contains'} 0, so the "
            f"difference {'is' if own else 'is not'} beyond noise on this run: the verdict follows from the interval.")
    ok(f"per character minus sum {mean:+.3f}, 95% CI [{ci_low:+.3f}, {ci_high:+.3f}]: "
       f"{'beyond noise' if own else 'within noise'} on these {answers.size} questions.")


@exercise("04.4")
def check_letter_habit(habit_accuracy, answers) -> None:
    """Predict the accuracy of always answering B from the benchmark's answer key, before any model runs."""
    answers = np.asarray(answers)
    expected = float((answers == 1).mean())
    require(isinstance(habit_accuracy, (int, float, np.floating)) and not isinstance(habit_accuracy, bool),
            "Set `habit_accuracy` to a number between 0 and 1.")
    require(0 <= float(habit_accuracy) <= 1, "An accuracy lies between 0 and 1.")
    require(not close(habit_accuracy, 0.0, 1e-9),
            "Answering B is right whenever B is the answer: count how often that is.")
    require(close(habit_accuracy, expected, 1e-6),
            f"Always answering B is right exactly when B is the right answer. Look at section 4's table of answer "
            f"positions: B is right in {int((answers == 1).sum())} of the {answers.size} questions.")
    ok(f"a B-habit scores {expected:.3f} here - the chance level, because the answer positions are balanced. "
       "A letter habit on an unbalanced test would score whatever share its letter has.")
