"""Notebook 05 checks (rlhf): each accepts the right answer and rejects plausible wrong ones with a targeted hint."""

import pytest
import torch

from labkit import checks, rlhf


class _Config:
    id2label = {0: "nothate", 1: "hate"}


class _Model:
    config = _Config()


def test_not_hate_index():
    checks.check_not_hate_index(0, _Model())
    with pytest.raises(checks.CheckFailed, match="more"):
        checks.check_not_hate_index(1, _Model())
    with pytest.raises(checks.CheckFailed, match="no label 7"):
        checks.check_not_hate_index(7, _Model())
    with pytest.raises(checks.CheckFailed, match="integer"):
        checks.check_not_hate_index(None, _Model())
    with pytest.raises(checks.CheckFailed, match="integer label index"):
        checks.check_not_hate_index("nothate", _Model())


def _right(score, logprobs, ref, coef):
    rewards = -coef * (logprobs - ref)
    rewards[-1] += score
    return rewards


def test_kl_penalized_reward():
    checks.check_kl_penalized_reward(_right)
    # the trainer's own per-batch function agrees with a right answer on one response
    lp, ref = torch.tensor([[-1.0, -0.2, -3.0]]), torch.tensor([[-0.5, -0.2, -1.0]])
    rewards, _ = rlhf.kl_penalized_rewards(torch.tensor([2.0]), lp, ref, torch.ones(1, 3), 0.3)
    assert torch.allclose(rewards[0], _right(2.0, lp[0].clone(), ref[0], 0.3))

    def wrong_sign(score, logprobs, ref, coef):
        rewards = coef * (logprobs - ref)
        rewards[-1] += score
        return rewards

    def everywhere(score, logprobs, ref, coef):
        return -coef * (logprobs - ref) + score

    def first(score, logprobs, ref, coef):
        rewards = -coef * (logprobs - ref)
        rewards[0] += score
        return rewards

    def no_coef(score, logprobs, ref, coef):
        rewards = -(logprobs - ref)
        rewards[-1] += score
        return rewards

    def total(score, logprobs, ref, coef):
        return score - coef * (logprobs - ref).sum()

    def crashes(score, logprobs, ref, coef):
        return logprobs.numpy() + ref.shape[1]

    for wrong, hint in [(wrong_sign, "wrong sign"), (everywhere, "every token"), (first, "first token"),
                        (no_coef, "kl_coef"), (total, "one per token"), (crashes, "raised IndexError")]:
        with pytest.raises(checks.CheckFailed, match=hint):
            checks.check_kl_penalized_reward(wrong)


RATIOS = [1.5, 1.5, 0.6, 0.6, 1.1, 0.9]
ADVANTAGES = [1.0, -1.0, 1.0, -1.0, 2.0, -0.5]


def test_clip_binds():
    right = [True, False, False, True, False, False]
    checks.check_clip_binds(right, RATIOS, ADVANTAGES, 0.2)
    with pytest.raises(checks.CheckFailed, match="every ratio outside"):
        checks.check_clip_binds([True, True, True, True, False, False], RATIOS, ADVANTAGES, 0.2)
    with pytest.raises(checks.CheckFailed, match="Inverted"):
        checks.check_clip_binds([not b for b in right], RATIOS, ADVANTAGES, 0.2)
    with pytest.raises(checks.CheckFailed, match=r"Token\(s\) \[1\]"):
        checks.check_clip_binds([True, True, False, True, False, False], RATIOS, ADVANTAGES, 0.2)
    with pytest.raises(checks.CheckFailed, match="one True/False per token"):
        checks.check_clip_binds([True], RATIOS, ADVANTAGES, 0.2)


def _repetition(text):
    words = text.lower().split()
    bigrams = list(zip(words, words[1:], strict=False))
    return 1 - len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def test_repetition():
    checks.check_repetition(_repetition)

    def words_only(text):
        words = text.lower().split()
        return 1 - len(set(words)) / len(words) if words else 0.0

    def distinct(text):
        return 1 - _repetition(text)

    def case_sensitive(text):
        words = text.split()
        bigrams = list(zip(words, words[1:], strict=False))
        return 1 - len(set(bigrams)) / len(bigrams) if bigrams else 0.0

    def crashes_on_short(text):
        words = text.lower().split()
        bigrams = list(zip(words, words[1:], strict=False))
        return 1 - len(set(bigrams)) / len(bigrams)

    for wrong, hint in [(words_only, "repeated \\*words\\*"), (distinct, "distinct"), (case_sensitive, "Lower-case"),
                        (crashes_on_short, "ZeroDivisionError"), (lambda text: "0.5", "number")]:
        with pytest.raises(checks.CheckFailed, match=hint):
            checks.check_repetition(wrong)


def test_to_pairs():
    checks.check_to_pairs(rlhf.rankings_to_pairs)

    def flipped(completions, ranking):
        return [(b, a) for a, b in rlhf.rankings_to_pairs(completions, ranking)]

    def with_ties(completions, ranking):
        by_rank = sorted(zip(ranking, completions, strict=True))
        return [(a, b) for i, (_, a) in enumerate(by_rank) for _, b in by_rank[i + 1:]]

    def neighbours_only(completions, ranking):
        ordered = [c for _, c in sorted(zip(ranking, completions, strict=True))]
        return list(zip(ordered, ordered[1:], strict=False))

    def doubled(completions, ranking):
        return rlhf.rankings_to_pairs(completions, ranking) * 2

    for wrong, hint in [(flipped, "worse completion first"), (with_ties, "same rank"),
                        (neighbours_only, "expected 3 pairs, got 2"), (doubled, "twice")]:
        with pytest.raises(checks.CheckFailed, match=hint):
            checks.check_to_pairs(wrong)


def _changes(rows):
    import pandas as pd

    index = pd.MultiIndex.from_tuples([(run, signal) for run, signal, _ in rows], names=["run", "signal"])
    return pd.DataFrame([dict(zip(["change", "CI low", "CI high"], v, strict=True)) for _, _, v in rows], index=index)


def test_reward_hacking_rule():
    run_table = _changes([("PPO, KL penalty", "reward", (0.3, 0.1, 0.4)),
                          ("PPO, KL penalty", "ROUGE-L", (0, -0.01, 0.01)),
                          ("PPO, KL penalty", "repetition", (0, -0.01, 0.01)),
                          ("PPO, no KL penalty", "reward", (0.5, 0.4, 0.6)),
                          ("PPO, no KL penalty", "ROUGE-L", (0.0, -0.01, 0.02)),
                          ("PPO, no KL penalty", "repetition", (0.03, 0.02, 0.04))])

    def right(c):
        return bool(c.loc["reward", "CI low"] > 0
                    and (c.loc["ROUGE-L", "CI high"] < 0 or c.loc["repetition", "CI low"] > 0))

    checks.check_reward_hacking(right, run_table)
    with pytest.raises(checks.CheckFailed, match="repeats itself more"):  # direction of repetition wrong
        checks.check_reward_hacking(lambda c: bool(c.loc["reward", "CI low"] > 0 and (
            c.loc["ROUGE-L", "CI high"] < 0 or c.loc["repetition", "CI high"] < 0)), run_table)
    with pytest.raises(checks.CheckFailed, match="within noise"):  # point estimates instead of intervals
        checks.check_reward_hacking(lambda c: bool(c.loc["reward", "change"] > 0 and (
            c.loc["ROUGE-L", "change"] < 0 or c.loc["repetition", "change"] > 0)), run_table)
    with pytest.raises(checks.CheckFailed, match="a bool"):
        checks.check_reward_hacking(lambda c: "yes", run_table)
    with pytest.raises(NotImplementedError):
        checks.check_reward_hacking(lambda c: (_ for _ in ()).throw(NotImplementedError()), run_table)
