"""Checks for notebook 05_rlhf_detoxify: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import exercise, ok, require


@exercise("05.1")
def check_not_hate_index(index, model) -> None:
    """the index of the reward model's "nothate" label, read from its config."""
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    from labkit.rlhf import find_label

    expected = find_label(model.config)
    require(index is not None, "Set `not_hate_index` to an integer label index.")
    require(int(index) == expected,
             f"Label {index} is {id2label.get(int(index))!r}. Rewarding it would train the policy to be *more* "
             f"toxic. Look the labels up in model.config.id2label: {id2label}.")
    ok(f"Label {expected} is {id2label[expected]!r}: its logit is the reward.")


@exercise("05.2")
def check_kl_penalized_reward(fn) -> None:
    """per-token rewards with a KL penalty, the score added on the last token."""
    import torch

    from labkit.rlhf import kl_penalized_rewards

    logprobs = torch.tensor([-1.0, -0.5, -2.0, -0.1])
    ref_logprobs = torch.tensor([-1.2, -0.5, -1.0, -0.4])
    for score, coef in [(3.0, 0.2), (-1.0, 0.0), (0.5, 1.0)]:
        expected, _ = kl_penalized_rewards(torch.tensor([score]), logprobs[None], ref_logprobs[None],
                                           torch.ones(1, 4), coef)
        got = fn(score, logprobs, ref_logprobs, coef)
        got = torch.as_tensor(got, dtype=torch.float32).flatten()
        require(got.shape == (4,), "Return one reward per response token (a tensor of the same length as logprobs).")
        if not torch.allclose(got, expected[0], atol=1e-6):
            require(not torch.allclose(got, -expected[0] + 2 * torch.tensor([0, 0, 0, score]), atol=1e-6),
                     "The penalty has the wrong sign: tokens the policy likes MORE than the reference cost reward.")
            require(False, f"With score={score}, kl_coef={coef} expected {expected[0].tolist()}, got {got.tolist()}. "
                            "Reward per token = -kl_coef * (logprob - ref_logprob); add the score to the LAST token only.")
    ok("KL-penalised rewards match: the score on the last token, a penalty on every token.")


@exercise("05.3")
def check_pairs(pairs, completions, ranking) -> None:
    """every (preferred, less preferred) pair from one ranking."""
    from labkit.rlhf import rankings_to_pairs

    expected = rankings_to_pairs(completions, ranking)
    got = [tuple(p) for p in (pairs or [])]
    require(len(got) == len(expected), f"{len(completions)} ranked completions give {len(expected)} pairs; you have "
                                        f"{len(got)}. Pair every two completions with different ranks.")
    flipped = [p for p in got if (p[1], p[0]) in expected]
    require(not flipped, f"{len(flipped)} pair(s) have the worse completion first: put the preferred one (lower rank) first.")
    require(sorted(got) == sorted(expected), "Some pairs are not pairs of these completions with different ranks.")
    ok(f"{len(expected)} pairs, preferred completion first.")
