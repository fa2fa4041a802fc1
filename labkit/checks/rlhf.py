"""Checks for notebook 05_rlhf: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import call, exercise, ok, require


@exercise("05.1")
def check_not_hate_index(index, model) -> None:
    """the index of the reward model's "nothate" label, read from its config."""
    from labkit.rlhf import find_label

    id2label = {int(k): v for k, v in model.config.id2label.items()}
    expected = find_label(model.config)
    require(index is not None, "Set `not_hate_index` to an integer label index.")
    require(isinstance(index, int) or hasattr(index, "__index__"),
            f"`not_hate_index` should be an integer label index, not {type(index).__name__} {index!r}.")
    require(int(index) in id2label, f"There is no label {index}: the labels are {id2label}.")
    require(int(index) == expected,
            f"Label {index} is {id2label.get(int(index))!r}. Rewarding it would train the policy to be *more* "
            f"toxic. Look the labels up in model.config.id2label: {id2label}.")
    ok(f"Label {expected} is {id2label[expected]!r}: its logit is the reward.")


@exercise("05.2")
def check_repetition(fn) -> None:
    """the share of word bigrams in a text that repeat an earlier bigram (a quality signal)."""
    cases = [("the cat and the dog", 0.0), ("thank you thank you thank you", 0.6), ("the cat sat on the mat", 0.0),
             ("", 0.0), ("hello", 0.0), ("Thank you so much thank YOU", 0.2), ("will will will will", 2 / 3)]
    for text, expected in cases:
        try:
            got = fn(text)
        except Exception as error:  # noqa: BLE001
            require(False, f"repetition({text!r}) raised {type(error).__name__}: {error}. A text with fewer than two "
                           "words has no bigram: return 0.0.")
        require(isinstance(got, (int, float)) or hasattr(got, "__float__"),
                f"repetition({text!r}) should return a number, not {type(got).__name__}.")
        got = float(got)
        if abs(got - expected) < 1e-6:
            continue
        require(not (text == "the cat and the dog" and abs(got - 0.2) < 1e-6),
                "That counts repeated *words* ('the' twice); count repeated word *bigrams* (pairs of neighbours).")
        require(not (abs(got - (1 - expected)) < 1e-6 and text),
                f"repetition({text!r}) = {got:.3f} is the share of *distinct* bigrams; return the share that "
                "repeats an earlier one (1 - distinct / total).")
        require(not (text.startswith("Thank you so much") and abs(got) < 1e-6),
                "Lower-case the words first: 'Thank you' and 'thank YOU' are the same bigram.")
        require(False, f"repetition({text!r}) should be {expected:.3f}, got {got:.3f}. Split the lower-cased text "
                       "on whitespace, form the bigrams of neighbouring words, return 1 - distinct / total.")
    ok("repetition() matches on every test text; the reward-hacking section measures both runs with it.")


@exercise("05.3")
def check_kl_penalized_reward(fn) -> None:
    """per-token rewards of one response: a KL penalty on every token, the score added on the last."""
    import torch

    cases = [(3.0, [-1.0, -0.5, -2.0, -0.1], [-1.2, -0.5, -1.0, -0.4], 0.2),
             (-1.0, [-0.3, -2.5, -0.7], [-0.9, -1.5, -0.7], 0.5),
             (0.5, [-1.5], [-1.0], 1.0)]
    for score, lp, ref, coef in cases:
        logprobs, ref_logprobs = torch.tensor(lp), torch.tensor(ref)
        kl = logprobs - ref_logprobs
        expected = -coef * kl
        expected[-1] += score
        try:
            got = fn(score, logprobs.clone(), ref_logprobs.clone(), coef)
        except Exception as error:  # noqa: BLE001 - a learner's bug becomes a hint, not a traceback
            require(False, f"Your function raised {type(error).__name__}: {error}. It receives a float score, two 1-D "
                           "tensors of log-probabilities and a float kl_coef.")
        got = torch.as_tensor(got, dtype=torch.float32).flatten()
        require(got.shape == expected.shape,
                f"For a response of {len(lp)} token(s) return {len(lp)} reward(s), one per token; got shape "
                f"{tuple(got.shape)}.")
        if torch.allclose(got, expected, atol=1e-5):
            continue
        flipped = coef * kl
        flipped[-1] += score
        require(not torch.allclose(got, flipped, atol=1e-5),
                "The penalty has the wrong sign: a token the policy now likes MORE than the reference did "
                "(logprob > ref_logprob) must cost reward: -kl_coef * (logprob - ref_logprob).")
        require(not torch.allclose(got, -coef * kl + score, atol=1e-5),
                "The score is added to every token: add the reward model's score to the LAST token only (it judges "
                "the whole response, which exists only once the last token is written).")
        first = -coef * kl
        first[0] += score
        require(len(lp) == 1 or not torch.allclose(got, first, atol=1e-5),
                "The score sits on the first token: it belongs on the LAST one.")
        no_coef = -kl
        no_coef[-1] += score
        require(not torch.allclose(got, no_coef, atol=1e-5), "Scale the KL term by kl_coef.")
        require(False, f"With score={score}, kl_coef={coef}, logprobs={lp}, ref_logprobs={ref}: expected "
                       f"{[round(v, 4) for v in expected.tolist()]}, got {[round(v, 4) for v in got.tolist()]}. "
                       "Reward per token = -kl_coef * (logprob - ref_logprob); add the score to the last token.")
    ok("KL-penalised rewards match: a penalty on every token, the score on the last. The PPO runs below use your "
       "function.")


@exercise("05.4")
def check_clip_binds(binds, ratios, advantages, clip: float = 0.2) -> None:
    """which tokens PPO's clipped objective gives no gradient, worked out from (ratio, advantage)."""
    import torch

    from labkit.rlhf import policy_loss

    ratio = torch.tensor([float(r) for r in ratios], requires_grad=True)
    advantage = torch.tensor([float(a) for a in advantages])
    require(binds is not None and len(binds) == len(ratio),
            f"Give one True/False per token: {len(ratio)} values in the order of the table.")
    # the truth, by differentiation: the clip binds where the loss does not depend on the ratio
    loss, _ = policy_loss(ratio.log(), torch.zeros_like(ratio), advantage[None], torch.ones(1, len(ratio)), clip)
    loss.backward()
    expected = [bool(g == 0) for g in ratio.grad]
    got = [bool(b) for b in binds]
    outside = [bool(r < 1 - clip or r > 1 + clip) for r in ratio.tolist()]
    require(got != outside or outside == expected,
            "You marked every ratio outside [1-ε, 1+ε]. The clip only removes the gradient on the side where moving "
            "further would *help* the objective: ratio > 1+ε with a positive advantage, ratio < 1-ε with a negative "
            "one. A token the policy made more likely despite a negative advantage still gets pushed back.")
    require(got != [not x for x in expected],
            "Inverted: True means 'no gradient flows through this token' (the clipped term wins).")
    wrong = [i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
    require(not wrong, f"Token(s) {wrong} are wrong. For each, compare A·r with A·clip(r, 1-ε, 1+ε): PPO keeps the "
                       "smaller of the two (the loss is the larger of their negatives); where the clipped one is "
                       "smaller, the ratio no longer matters and its gradient is 0.")
    ok(f"Right: the clip binds on tokens {[i for i, e in enumerate(expected) if e]} - only where the update already "
       "went far in the direction the advantage asks for.")


@exercise("05.6")
def check_to_pairs(fn) -> None:
    """every (preferred, less preferred) pair from one ranking, as a function."""
    from labkit.rlhf import rankings_to_pairs

    cases = [(["a", "b", "c"], [2, 1, 3]), (["p", "q", "r", "s"], [4, 3, 2, 1]), (["x", "y", "z"], [1, 1, 2]),
             (["only"], [1])]
    for completions, ranking in cases:
        expected = rankings_to_pairs(completions, ranking)
        got = [tuple(p) for p in (call(fn, list(completions), list(ranking), name="to_pairs") or [])]
        where = f"for completions {completions} ranked {ranking}"
        flipped = [p for p in got if (p[1], p[0]) in expected]
        require(not flipped, f"{where}: {len(flipped)} pair(s) have the worse completion first; the preferred one "
                             "(the LOWER rank number) goes first - the reward model expects (chosen, rejected).")
        rank = dict(zip(completions, ranking, strict=True))
        require(all(len(p) == 2 and p[0] in rank and p[1] in rank for p in got),
                f"{where}: every pair should hold two of these completions, (preferred, less preferred).")
        tied = [p for p in got if rank[p[0]] == rank[p[1]]]
        require(not tied, f"{where}: {tied} pairs completions with the same rank. A tie prefers neither: no pair.")
        require(len(got) == len(set(got)), f"{where}: some pairs appear twice.")
        require(len(got) == len(expected), f"{where}: expected {len(expected)} pairs, got {len(got)}. Pair every two "
                                           "completions whose ranks differ.")
        require(sorted(got) == sorted(expected), f"{where}: expected {sorted(expected)}, got {sorted(got)}.")
    ok("to_pairs() gives every pair, preferred first, and skips ties; the reward model below is trained on its pairs.")


def hacking_rule(run_changes) -> bool:
    """The reference verdict: the held-out reward rose beyond noise while a quality signal got worse beyond noise
    (ROUGE-L fell: its whole interval below 0; repetition rose: its whole interval above 0)."""
    reward_up = run_changes.loc["reward", "CI low"] > 0
    rouge_down = run_changes.loc["ROUGE-L", "CI high"] < 0
    repeats_more = run_changes.loc["repetition", "CI low"] > 0
    return bool(reward_up and (rouge_down or repeats_more))


@exercise("05.5")
def check_reward_hacking(fn, changes) -> None:
    """a reward-hacking verdict read from paired intervals: planted tables, then this run's own table."""
    import pandas as pd

    def table(reward, rouge, repetition):
        rows = {"reward": reward, "ROUGE-L": rouge, "repetition": repetition}
        return pd.DataFrame({name: dict(zip(["change", "CI low", "CI high"], v, strict=True))
                             for name, v in rows.items()}).T

    planted = [
        ("reward up, repetition up beyond noise", table((0.5, 0.3, 0.7), (0.0, -0.01, 0.01), (0.03, 0.02, 0.04)),
         "the reward rose and the text repeats itself more, both beyond noise: that is hacking."),
        ("reward up, ROUGE-L down beyond noise", table((0.5, 0.3, 0.7), (-0.02, -0.03, -0.01), (0.0, -0.01, 0.01)),
         "the reward rose while the content (ROUGE-L) fell beyond noise: that is hacking."),
        ("reward up, quality changes within noise", table((0.5, 0.3, 0.7), (-0.01, -0.03, 0.01), (0.01, -0.01, 0.03)),
         "no quality signal moved beyond noise (both intervals include 0): that is drift at most, not hacking."),
        ("reward within noise, repetition up", table((0.1, -0.1, 0.3), (0.0, -0.01, 0.01), (0.03, 0.02, 0.04)),
         "the reward did not rise beyond noise, so nothing was gained by gaming it: not hacking (just worse)."),
        ("reward up, quality better", table((0.5, 0.3, 0.7), (0.02, 0.01, 0.03), (-0.02, -0.03, -0.01)),
         "ROUGE-L rose and repetition fell: the quality improved, the opposite of hacking. Mind the directions: "
         "for repetition, *up* is worse."),
        ("reward down, quality worse", table((-0.5, -0.7, -0.3), (-0.02, -0.03, -0.01), (0.03, 0.02, 0.04)),
         "the reward fell: whatever happened, the policy did not game the reward."),
    ]
    for name, planted_table, why in planted:
        got = call(fn, planted_table.copy(), name="reward_hacking")
        require(isinstance(got, (bool,)) or type(got).__name__ == "bool_",
                f"Return True or False (a bool), not {type(got).__name__}.")
        require(bool(got) == hacking_rule(planted_table), f"Planted case '{name}': you said {bool(got)}; {why}")
    verdicts = {}
    for run in changes.index.get_level_values(0).unique():
        got = bool(call(fn, changes.loc[run].copy(), name="reward_hacking"))
        require(got == hacking_rule(changes.loc[run]), f"On this run's own table, '{run}': you said {got}, but the "
                                                       "intervals say otherwise. Read each CI against 0.")
        verdicts[run] = got
    ok("Your rule agrees with the planted cases and reads this run's intervals the same way: "
       + "; ".join(f"{run}: {'hacking' if v else 'not hacking'}" for run, v in verdicts.items()) + ".")
