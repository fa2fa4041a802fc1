"""Checks for notebook 07_online_rl: one function per exercise, registered under its id."""

from __future__ import annotations

import math

from labkit.checks.base import CheckFailed, call, exercise, ok, require


def _floats(values, what: str) -> list[float]:
    try:
        return [float(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]
    except (TypeError, ValueError) as error:
        raise CheckFailed(f"{what} should be a list of numbers: {error}") from None


@exercise("07.1")
def check_group_advantages(fn) -> None:
    """GRPO's advantages for one prompt's group of rewards, matched with trl's formula."""
    import torch

    from labkit.online_rl import group_advantages

    cases = [[2.4, -2.3, 2.2, 1.9], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5], [3.0, 1.0],
             [0.2, 1.4, -0.6, 2.0, 0.9, -1.1, 0.0, 0.7]]
    for rewards in cases:
        expected = group_advantages(rewards, len(rewards)).tolist()
        hint = ". It receives one group's rewards as a list of floats and returns one advantage per reward."
        got = _floats(call(fn, list(rewards), name="group_advantages", hints={Exception: hint}),
                      f"group_advantages({rewards})")
        where = f"For the group {rewards}"
        require(len(got) == len(rewards), f"{where} return {len(rewards)} advantages, one per completion; got "
                                          f"{len(got)}.")
        require(all(math.isfinite(g) for g in got),
                f"{where} you return {got}. When every completion scores the same the standard deviation is 0: "
                "trl divides by (std + 1e-4), so the advantages are 0 - the group teaches nothing.")
        if all(abs(g - e) < 1e-3 for g, e in zip(got, expected, strict=True)):
            continue
        values = torch.tensor(rewards)
        centred = (values - values.mean()).tolist()
        population = ((values - values.mean()) / (values.std(unbiased=False) + 1e-4)).tolist()
        require(not all(abs(g + e) < 1e-3 for g, e in zip(got, expected, strict=True)),
                f"{where} your advantages have the wrong sign: a completion that scored above its group's mean "
                "must get a positive advantage.")
        require(not all(abs(g - c) < 1e-3 for g, c in zip(got, centred, strict=True)),
                f"{where} you subtract the mean but do not divide by the group's standard deviation (plus 1e-4), "
                "as trl's default scale_rewards='group' does.")
        require(not all(abs(g - p) < 1e-3 for g, p in zip(got, population, strict=True)),
                f"{where} you divide by the population standard deviation (dividing by n). trl uses the sample "
                "standard deviation (dividing by n - 1, Bessel's correction): torch's tensor.std() default, "
                "or numpy's std(ddof=1).")
        require(False, f"{where} expected {[round(e, 4) for e in expected]}, got {[round(g, 4) for g in got]}. "
                       "A_i = (r_i - mean of the group) / (sample std of the group + 1e-4).")
    ok("Your advantages match trl's formula on every group, including one where nothing differs (all 0). "
       "Section 2 compares them with the advantages trl computed in its own run.")


@exercise("07.2")
def check_k3(fn) -> None:
    """GRPO's per-token KL estimate (k3) from the policy's and the reference's log-probabilities."""
    import torch

    from labkit.online_rl import k3_kl

    cases = [([-1.2, -0.3, -2.5, -0.05], [-1.0, -0.9, -2.5, -3.0]), ([-0.7], [-0.2]), ([-4.0, -1.0], [-1.0, -4.0])]
    for logp, ref in cases:
        expected = k3_kl(logp, ref)
        value = call(fn, torch.tensor(logp), torch.tensor(ref), name="k3",
                     hints={Exception: ". It receives two 1-D tensors (log-probabilities of the same tokens under "
                                       "the policy and the reference)."})
        got = torch.as_tensor(value, dtype=torch.float32).flatten()
        require(got.shape == expected.shape, f"Return one value per token: {len(logp)} for {len(logp)} tokens, not "
                                             f"shape {tuple(got.shape)}.")
        if torch.allclose(got, expected, atol=1e-5):
            continue
        lp, rf = torch.tensor(logp), torch.tensor(ref)
        require(not torch.allclose(got, lp - rf, atol=1e-5),
                "That is the plain log-ratio log π - log π_ref (notebook 05's estimate, 'k1'): it is negative for "
                "tokens the policy likes less than the reference did. k3 is r - log r - 1 with r = π_ref / π.")
        require(not torch.allclose(got, torch.exp(lp - rf) - (lp - rf) - 1, atol=1e-5),
                "The ratio is upside down: k3 uses r = π_ref / π = exp(ref_logp - logp), as trl's GRPO does.")
        require(not torch.allclose(got, 0.5 * (lp - rf) ** 2, atol=1e-5),
                "That is k2 = ½(log r)², another estimator. trl's GRPO uses k3 = r - log r - 1, r = π_ref / π.")
        require(False, f"For logp={logp}, ref_logp={ref}: expected {[round(v, 4) for v in expected.tolist()]}, got "
                       f"{[round(v, 4) for v in got.tolist()]}. k3 = r - log r - 1 with r = exp(ref_logp - logp).")
    ok("k3 matches trl's per-token KL: never negative, 0 only where policy and reference agree.")


def _verdict(before, after) -> tuple[str, tuple[float, float, float]]:
    import numpy as np

    from labkit.metrics import bootstrap_ci

    change = bootstrap_ci(np.asarray(after, dtype=float) - np.asarray(before, dtype=float))
    verdict = "up" if change[1] > 0 else "down" if change[2] < 0 else "noise"
    return verdict, change


@exercise("07.3")
def check_reward_verdict(verdicts, runs) -> None:
    """Read the comparison table: did each method's held-out reward change beyond sampling noise?"""
    require(isinstance(verdicts, dict), 'Set `verdicts` to a dict, e.g. {"GRPO": "up", "RLOO": "noise"}.')
    allowed = {"up", "down", "noise"}
    for name, (before, after) in runs.items():
        require(name in verdicts, f"Give a verdict for {name!r} too (the keys are {sorted(runs)}).")
        said = str(verdicts[name]).strip().lower()
        require(said in allowed, f"A verdict is 'up', 'down' or 'noise', not {verdicts[name]!r}.")
        truth, (mean, low, high) = _verdict(before, after)
        if said == truth:
            continue
        if truth == "noise":
            require(False, f"{name}: the mean changed by {mean:+.3f}, but its 95% interval ({low:+.3f} to {high:+.3f}) "
                           "includes 0, so this run cannot tell the change from sampling noise. Read the CI, not the "
                           "sign of the mean.")
        require(said != "noise" or truth == "noise",
                f"{name}: the whole 95% interval ({low:+.3f} to {high:+.3f}) lies on one side of 0 - that is more "
                "than noise.")
        require(False, f"{name}: the interval ({low:+.3f} to {high:+.3f}) says '{truth}', not '{said}'. Positive means "
                       "the reward rose (after - before, same prompts, same sampling seeds).")
    ok("Your verdicts agree with the intervals recomputed from this run's per-prompt rewards.")


# planted completions for the reward-design exercise: (text, tone score the classifier would give)
_POLITE = ("I'm checking your order now and will write back within the hour.", 2.0)
_POLITE_THANKS = ("Thank you for waiting, I'm checking your order now.", 2.0)
_STUFFED = ("Thank you, thank you so much, thanks! Sorry, please, glad and happy to help, thank you!", 2.0)
_HOSTILE = ("Stop whining about your order, you idiot.", -2.3)
_HOSTILE_THANKS = ("Thank you, stop whining about your order, you idiot.", -2.3)
_HOSTILE_STUFFED = ("Thank you, thank you, please, sorry, thanks! Stop whining, you idiot. Thanks, glad, happy!", -2.3)


@exercise("07.4")
def check_fair_reward(fn) -> None:
    """A reward that keeps a small bonus for warmth but cannot be farmed by repeating friendly words."""
    def score(case, tone=None):
        text, planted = case
        value = call(fn, text, planted if tone is None else tone, name="fair_reward",
                     hints={Exception: ". It receives a completion's text and its tone score (a float) and returns "
                                       "a float."})
        require(isinstance(value, (int, float)) or hasattr(value, "__float__"),
                f"fair_reward should return a number, not {type(value).__name__}.")
        value = float(value)
        require(math.isfinite(value), f"fair_reward({text!r}, ...) returned {value}: return a finite number.")
        return value

    score(("", -0.7))
    require(score(_STUFFED) <= score(_POLITE_THANKS) + 1e-9,
            f"Stuffing still pays: {_STUFFED[0]!r} scores {score(_STUFFED):.3f}, more than {_POLITE_THANKS[0]!r} "
            f"({score(_POLITE_THANKS):.3f}) with the same tone. Saying more friendly words - even different ones - "
            "must not earn more than saying one.")
    require(score(_HOSTILE_STUFFED) <= score(_HOSTILE_THANKS) + 1e-9,
            "A hostile reply still gains by piling up friendly words: cap the bonus so the second friendly word adds "
            "nothing.")
    require(score(_POLITE_THANKS) > score(_POLITE) + 1e-9,
            "Your reward no longer pays anything for warmth: two replies with the same tone, one of which thanks the "
            "customer, score the same. The brief keeps a small bonus for a friendly word - just not per word.")
    for hostile in (_HOSTILE_STUFFED, _HOSTILE_THANKS):
        require(score(hostile) < score(_POLITE),
                f"A hostile reply ({hostile[0]!r}, tone {hostile[1]}) scores {score(hostile):.3f}, not below a polite "
                f"one without friendly words ({score(_POLITE):.3f}, tone {_POLITE[1]}). The bonus must be too small to "
                "outweigh the tone.")
    for case in (_POLITE, _POLITE_THANKS, _HOSTILE):
        require(score(case, 2.4) > score(case, -2.3),
                f"For the same text {case[0]!r}, a better tone must give a higher reward: the classifier's tone "
                "stays the main signal.")
    ok("fair_reward keeps the tone as the main signal, pays a little for warmth once, and gives nothing for "
       "stuffing. The next cell scores the loophole run's replies with it.")
