"""RLHF building blocks (notebook 03): rankings to pairs, and the arithmetic of PPO with a KL penalty.

trl 1.x no longer ships ``PPOTrainer`` or value-head models, and its online RL trainers take causal
LMs only, so labkit keeps PPO's pieces small and readable here, each tested against values worked out
by hand:

* :func:`rankings_to_pairs` - human rankings of completions become (chosen, rejected) pairs, the
  training data of a reward model;
* :func:`kl_penalized_rewards` - the reward model's score on the last token, minus a per-token KL
  penalty that keeps the policy near the frozen reference model;
* :func:`gae` - generalized advantage estimation;
* :func:`policy_loss` / :func:`value_loss` - PPO's clipped objectives;
* :class:`AdaptiveKLController` - the adaptive KL coefficient of Ziegler et al. (2019).
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import torch


def rankings_to_pairs(completions: Sequence[str], ranking: Sequence[int]) -> list[tuple[str, str]]:
    """All (preferred, less preferred) pairs from one ranking; ``ranking[i]`` is completion i's rank (1 = best).

    Three ranked completions give three pairs, always with the preferred completion first. Tied ranks
    give no pair (neither is preferred).
    """
    if len(completions) != len(ranking):
        raise ValueError(f"{len(completions)} completions but {len(ranking)} ranks: give one rank per completion.")
    if any(int(r) < 1 for r in ranking):
        raise ValueError("Ranks start at 1 (the best completion).")
    pairs = []
    for i, j in combinations(range(len(completions)), 2):
        if ranking[i] < ranking[j]:
            pairs.append((completions[i], completions[j]))
        elif ranking[j] < ranking[i]:
            pairs.append((completions[j], completions[i]))
    return pairs


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def kl_penalized_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                         mask: torch.Tensor, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: −kl_coef · (log π(token) − log π_ref(token)) on every response token, plus the
    reward model's score on the last one. Returns (rewards, per-token KL estimate), both [batch, tokens].
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = mask.long().cumsum(-1).argmax(-1)  # index of each row's last response token
    rewards[torch.arange(len(scores)), last] += scores
    return rewards * mask, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation, right to left: δ_t = r_t + γ·V_{t+1} − V_t, A_t = δ_t + γλ·A_{t+1}.

    Positions outside ``mask`` (padding after the response) contribute nothing. Returns
    (advantages, returns = advantages + values).
    """
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    next_advantage = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[1])):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        advantages[:, t] = advantage * m
        next_value = torch.where(m.bool(), values[:, t], next_value)
        next_advantage = torch.where(m.bool(), advantage, next_advantage)
    return advantages, (advantages + values) * mask


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate: mean of max(−A·r, −A·clip(r, 1−ε, 1+ε)) with r = π/π_old. Returns (loss, clip fraction)."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
    loss = _masked_mean(torch.maximum(unclipped, clipped), mask)
    clipfrac = _masked_mean((clipped > unclipped).float(), mask)
    return loss, clipfrac


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float = 0.2) -> torch.Tensor:
    """The value head's clipped loss: ½·mean(max((V − R)², (V_clipped − R)²)), V_clipped within ±ε of the old V."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * _masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


class AdaptiveKLController:
    """Adapt the KL coefficient so the policy's KL from the reference tracks ``target`` (Ziegler et al.)."""

    def __init__(self, init_kl_coef: float = 0.2, target: float = 6.0, horizon: int = 10000):
        self.value, self.target, self.horizon = init_kl_coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> float:
        error = max(-0.2, min(0.2, current_kl / self.target - 1))
        self.value *= 1 + error * n_steps / self.horizon
        return self.value
