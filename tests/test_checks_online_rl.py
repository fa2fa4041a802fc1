"""Notebook 07 checks (online_rl): each accepts the right answer and rejects plausible wrong ones with a hint."""

import numpy as np
import pytest
import torch

from labkit import checks, online_rl


def _advantages(rewards):
    values = torch.tensor(rewards)
    return ((values - values.mean()) / (values.std() + 1e-4)).tolist()


def test_group_advantages():
    checks.check_group_advantages(_advantages)
    checks.check_group_advantages(lambda r: online_rl.group_advantages(r, len(r)))  # a tensor is fine too

    def no_eps(rewards):
        values = torch.tensor(rewards)
        return ((values - values.mean()) / values.std()).tolist()

    def population(rewards):
        values = np.asarray(rewards)
        return list((values - values.mean()) / (values.std() + 1e-4))

    def centred(rewards):
        return [r - sum(rewards) / len(rewards) for r in rewards]

    def flipped(rewards):
        return [-a for a in _advantages(rewards)]

    def one_value(rewards):
        return [0.0]

    def crashes(rewards):
        return rewards.mean()

    for wrong, hint in [(no_eps, "1e-4"), (population, "Bessel"), (centred, "do not divide"),
                        (flipped, "wrong sign"), (one_value, "one per completion"), (crashes, "raised AttributeError")]:
        with pytest.raises(checks.CheckFailed, match=hint):
            checks.check_group_advantages(wrong)


def test_k3():
    checks.check_k3(lambda logp, ref: torch.exp(ref - logp) - (ref - logp) - 1)
    for wrong, hint in [(lambda logp, ref: logp - ref, "plain log-ratio"),
                        (lambda logp, ref: torch.exp(logp - ref) - (logp - ref) - 1, "upside down"),
                        (lambda logp, ref: 0.5 * (logp - ref) ** 2, "k2"),
                        (lambda logp, ref: (torch.exp(ref - logp) - (ref - logp) - 1).sum(), "one value per token"),
                        (lambda logp, ref: torch.exp(ref - logp) - 1, "expected"),
                        (lambda logp, ref: logp.numpy() + ref.shape[1], "raised IndexError")]:
        with pytest.raises(checks.CheckFailed, match=hint):
            checks.check_k3(wrong)


def test_reward_verdict_is_recomputed_from_the_run():
    rng = np.random.default_rng(0)
    before = rng.normal(0, 1, 24)
    runs = {"GRPO": (before, before + 1.0 + rng.normal(0, 0.3, 24)),  # clearly up
            "RLOO": (before, before + rng.normal(0, 0.5, 24))}  # noise
    checks.check_reward_verdict({"GRPO": "up", "RLOO": "noise"}, runs)
    checks.check_reward_verdict({"GRPO": " Up ", "RLOO": "NOISE"}, runs)
    for wrong, hint in [({"GRPO": "up", "RLOO": "up"}, "includes 0"), ({"GRPO": "noise", "RLOO": "noise"}, "more"),
                        ({"GRPO": "down", "RLOO": "noise"}, "says 'up'"), ({"GRPO": "up"}, "RLOO"),
                        ({"GRPO": "better", "RLOO": "noise"}, "'up', 'down' or 'noise'"), ("up", "dict")]:
        with pytest.raises(checks.CheckFailed, match=hint):
            checks.check_reward_verdict(wrong, runs)
    down = {"GRPO": (before, before - 2.0)}
    checks.check_reward_verdict({"GRPO": "down"}, down)


def test_fair_reward():
    def fair(text, tone):
        return tone + 0.5 * min(1, online_rl.friendly_words(text))

    checks.check_fair_reward(fair)
    checks.check_fair_reward(lambda text, tone: tone + (0.3 if online_rl.friendly_words(text) else 0.0))

    def distinct(text, tone):
        words = {w for w in online_rl.FRIENDLY_WORDS if w in text.lower()}
        return tone + 0.5 * len(words)

    def ignores_tone(text, tone):  # a word list instead of the classifier
        return 0.5 * min(1, online_rl.friendly_words(text)) + (-5.0 if "idiot" in text else 1.0)

    for wrong, hint in [(lambda text, tone: online_rl.keyword_bonus(text, tone), "Stuffing still pays"),
                        (distinct, "Stuffing still pays"),
                        (lambda text, tone: tone, "no longer pays anything for warmth"),
                        (lambda text, tone: tone + 5.0 * min(1, online_rl.friendly_words(text)), "too small"),
                        (ignores_tone, "better tone"),
                        (lambda text, tone: float("nan"), "finite"),
                        (lambda text, tone: "high", "return a number"),
                        (lambda text, tone: tone / len(text), "raised ZeroDivisionError")]:
        with pytest.raises(checks.CheckFailed, match=hint):
            checks.check_fair_reward(wrong)
