"""RLHF building blocks (notebook 05): rankings to pairs, and the arithmetic of PPO with a KL penalty.

trl 1.x no longer ships ``PPOTrainer`` or value-head models, and its online RL trainers take causal
LMs only, so labkit keeps PPO's pieces small and readable here, each tested against values worked out
by hand:

* :func:`rankings_to_pairs` - human rankings of completions become (chosen, rejected) pairs, the
  training data of a reward model;
* :func:`kl_penalized_rewards` - the reward model's score on the last token, minus a per-token KL
  penalty that keeps the policy near the frozen reference model;
* :func:`gae` - generalized advantage estimation;
* :func:`policy_loss` / :func:`value_loss` - PPO's clipped objectives;
* :class:`AdaptiveKLController` - the adaptive KL coefficient of Ziegler et al. (2019);
* :func:`sample` / :class:`PPOTrainer` - PPO for a seq2seq policy with a LoRA adapter (the course's Lab 3),
  :func:`prompt_batches` its batches of prompts, :class:`~labkit.metrics.RewardModel` a classifier as reward;
* :func:`rankings_to_pairs` / :func:`preference_dataset` / :func:`train_reward_model` - a reward model
  trained from ranked completions;
* :func:`dpo_loss` - Direct Preference Optimization's loss (notebook 06), written out so it can be
  compared with trl's ``DPOTrainer`` on one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import torch
from transformers.modeling_outputs import BaseModelOutput

from labkit.generation import cache_argument, decoder_cache
from labkit.metrics import NOT_TOXIC_NAMES, RewardModel, bootstrap_ci, find_label, rouge  # noqa: F401  (re-exported)


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


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """DPO's loss for each preference pair (Rafailov et al., 2023): no reward model, no sampling.

    Each argument holds, per pair, the summed log-probability of a whole response under the policy being
    trained or the frozen reference. The *implicit reward* of a response is ``beta * (log π - log π_ref)``;
    the loss is ``-log σ(reward(chosen) - reward(rejected))`` - the reward-model loss of RLHF, applied to
    the policy itself. Returns one loss per pair; the training loss is their mean.
    """
    tensors = [torch.as_tensor(t, dtype=torch.float32) for t in
               (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)]
    if len({t.shape for t in tensors}) != 1:
        raise ValueError("dpo_loss needs the four log-probability tensors in the same shape (one value per pair); "
                         f"got {[tuple(t.shape) for t in tensors]}.")
    if beta <= 0:
        raise ValueError(f"beta must be positive (it scales the implicit reward), not {beta}.")
    policy_chosen, policy_rejected, ref_chosen, ref_rejected = tensors
    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -torch.nn.functional.logsigmoid(margin)


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
    """PPO's clipped surrogate: mean of max(−A·r, −A·clip(r, 1−ε, 1+ε)) with r = π/π_old.

    Returns (loss, clip fraction).
    """
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


# --- the reward model and toxicity evaluation ---------------------------------------------------------

def evaluate_toxicity(model, tokenizer, prompts: Sequence[str], reward_model: RewardModel, n: int,
                      generation_config=None, seed: int = 0, batch_size: int = 16,
                      samples_per_prompt: int = 1) -> dict:
    """Generate for exactly ``n`` prompts, score each output, report mean, std and a bootstrap 95% CI.

    (The course's helper looped one prompt too many.) With sampling, one summary per prompt is a noisy
    estimate of what the policy does for that prompt; ``samples_per_prompt=k`` draws k summaries (seeds
    ``seed`` .. ``seed+k-1``) and scores each prompt by their mean reward - the quantity PPO optimises -
    so a before/after comparison needs fewer prompts to tell a real change from sampling noise.
    Returns a dict with the per-prompt ``scores``, the first sample's ``outputs`` and every sample's texts
    (``samples``: one list per seed), so quality can be measured on the very texts that were scored.
    """
    from labkit.generation import generate

    if n > len(prompts):
        raise ValueError(f"n={n} but only {len(prompts)} prompts")
    if samples_per_prompt < 1:
        raise ValueError("samples_per_prompt must be at least 1")
    samples = [generate(model, tokenizer, list(prompts[:n]), generation_config, batch_size=batch_size, seed=seed + k)
               for k in range(samples_per_prompt)]
    scores = torch.stack([reward_model(outputs) for outputs in samples]).mean(0).numpy()
    mean, low, high = bootstrap_ci(scores)
    return {"n": len(scores), "samples per prompt": samples_per_prompt, "mean": mean, "std": float(scores.std()),
            "ci_low": low, "ci_high": high, "scores": scores, "outputs": samples[0], "samples": samples}


def compare_rewards(before: dict, after: dict) -> dict:
    """Paired change of the reward (after − before, positive = less toxic) with a bootstrap 95% CI."""

    diff = after["scores"] - before["scores"]
    mean, low, high = bootstrap_ci(diff)
    return {"mean change": mean, "ci_low": low, "ci_high": high,
            "relative change %": 100 * mean / abs(before["mean"]) if before["mean"] else float("nan")}


def summary_quality(samples: Sequence[Sequence[str]], references: Sequence[str], repetition=None):
    """How good are sampled summaries, apart from their reward? One row per prompt (a pandas DataFrame):

    * ``rougeL`` - ROUGE-L F1 against the reference summary, averaged over the samples (content kept);
    * ``words`` - mean length in words;
    * ``repetition`` - mean of ``repetition(text)`` (notebook 05's exercise 05.4), when given.

    ``samples`` holds one list of texts per sampling seed, as :func:`evaluate_toxicity` returns them.
    """
    import numpy as np
    import pandas as pd


    columns = {"rougeL": np.mean([rouge(texts, references, use_aggregator=False)["rougeL"] for texts in samples], 0),
               "words": np.mean([[len(t.split()) for t in texts] for texts in samples], 0)}
    if repetition is not None:
        columns["repetition"] = np.mean([[float(repetition(t)) for t in texts] for texts in samples], 0)
    return pd.DataFrame(columns)


# --- PPO for a sequence-to-sequence policy --------------------------------------------------------------


def prompt_batches(prompts: Sequence[str], batch_size: int, steps: int) -> list[list[str]]:
    """The prompts of a PPO run: ``steps`` batches of ``batch_size``, taken in order and cycling when they run out.

    A run of 100 steps × 16 prompts needs 1,600 training prompts. With fewer (a small mirror of the data
    set, a quick experiment), the run starts again from the first prompt and says so, instead of handing
    the trainer an empty batch.
    """
    prompts = list(prompts)
    if batch_size < 1 or steps < 0:
        raise ValueError(f"batch_size must be at least 1 and steps at least 0 (got {batch_size} and {steps}).")
    if not prompts:
        raise ValueError("There are no training prompts: check the training split (it is empty) before running PPO.")
    needed = batch_size * steps
    if needed > len(prompts):
        print(f"labkit: {steps} PPO steps × {batch_size} prompts need {needed:,} prompts but there are "
              f"{len(prompts):,}: the run cycles through them, so each prompt is used about "
              f"{needed / len(prompts):.1f} times.")
    return [[prompts[(step * batch_size + i) % len(prompts)] for i in range(batch_size)] for step in range(steps)]


@dataclass
class PPOConfig:
    """The course's PPO knobs (Lab 3 defaults), plus the KL penalty's settings."""

    learning_rate: float = 1.41e-5
    batch_size: int = 16
    mini_batch_size: int = 4
    ppo_epochs: int = 4
    init_kl_coef: float = 0.2
    adaptive_kl: bool = False  # the course's trl PPOConfig had it on: start 0.2, target 6, horizon 10000
    target_kl: float = 6.0
    kl_horizon: int = 10000
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    entropy_coef: float = 0.0  # the entropy bonus of the PPO paper; 0 in trl's PPOTrainer (entropy only logged)
    min_new_tokens: int = 100
    max_new_tokens: int = 400
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0


class ValueHead(torch.nn.Module):
    """A linear layer on the decoder's last hidden state: the critic's estimate of future reward per token."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.summary = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.summary.weight)
        torch.nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden).squeeze(-1)


def _whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = _masked_mean(values, mask)
    var = _masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(var + 1e-8) * mask


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log π(token) at each position: the token's logit minus the log of the softmax's denominator.

    Written as ``log_softmax`` then a gather, not ``logit - logsumexp``: the same number, but on a CPU
    ``logsumexp`` over a 32k vocabulary whose logits spread over ~100 nats is ~4× slower (its ``exp`` of
    very negative numbers lands on the slow subnormal path; ``log_softmax``'s fused kernel does not).
    """
    return logits.float().log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


# log-probabilities below this are treated as this in the entropy: e^-80 ≈ 2e-35, so a 32k vocabulary changes the
# entropy by < 1e-28 nats, and exp() stays off the CPU's slow subnormal path (and -inf logits give no NaN)
_LOGP_FLOOR = -80.0


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """The entropy −Σ p·log p of the next-token distribution at each position, in nats."""
    logp = logits.float().log_softmax(-1).clamp_min(_LOGP_FLOOR)
    return -(logp.exp() * logp).sum(-1)


def draw_tokens(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row, drawn from softmax(logits) by the inverse CDF: the first token whose cumulative
    probability exceeds a uniform number. Same distribution as ``torch.multinomial``, a fraction of its cost on a
    CPU; tokens with probability 0 (filtered to -inf) are never drawn."""
    cdf = logits.float().softmax(-1).cumsum(-1)
    draw = torch.rand(logits.shape[0], 1, generator=generator).to(cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, draw, right=True).clamp_(max=logits.shape[-1] - 1).squeeze(-1)


@torch.no_grad()
def sample(model, encoder_outputs, attention_mask: torch.Tensor, max_new_tokens: int, min_new_tokens: int = 0,
           top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None, value_head=None):
    """Sample one response per prompt from a seq2seq model, one token at a time, reusing the decoder's KV cache.

    What ``model.generate(do_sample=True, ...)`` does, plus what PPO needs from the same pass: the
    log-probability of each sampled token under the model's unfiltered distribution (PPO's "old" log-probs)
    and, with ``value_head``, the value at each position. Each token is drawn by the inverse CDF (a uniform
    number against the cumulative probabilities): the same distribution as ``torch.multinomial``, which on a
    CPU costs ~10 ms per call over a 32k vocabulary. Top-k / top-p filtering uses transformers' warpers.

    Returns (sequences [batch, 1 + T] starting with the decoder start token and padded after each row's
    end-of-sequence token, log-probs [batch, T], values [batch, T] or None).
    """
    from transformers import TopKLogitsWarper, TopPLogitsWarper

    config = model.config
    eos, pad = config.eos_token_id, config.pad_token_id
    warpers = ([TopKLogitsWarper(top_k)] if top_k else []) + ([TopPLogitsWarper(top_p)] if top_p < 1.0 else [])
    batch = attention_mask.shape[0]
    sequences = torch.full((batch, 1), config.decoder_start_token_id, dtype=torch.long, device=attention_mask.device)
    done = torch.zeros(batch, dtype=torch.bool, device=attention_mask.device)
    cache_name = cache_argument(model)
    # the decoder's own config: it counts the decoder's layers (a T5 may have more or fewer than its encoder)
    logprobs, values, cache = [], [], decoder_cache(model.get_decoder().config, max_new_tokens + 1)
    for t in range(max_new_tokens):
        out = model(encoder_outputs=encoder_outputs, attention_mask=attention_mask, decoder_input_ids=sequences[:, -1:],
                    use_cache=True, output_hidden_states=value_head is not None, **{cache_name: cache})
        cache, logits = getattr(out, cache_name), out.logits[:, -1].float()
        if value_head is not None:
            values.append(value_head(out.decoder_hidden_states[-1][:, -1]))
        filtered = logits.clone()
        if t < min_new_tokens:
            filtered[:, eos] = -float("inf")
        for warp in warpers:
            filtered = warp(sequences, filtered)
        token = draw_tokens(filtered, generator)
        token = torch.where(done, torch.full_like(token, pad), token)
        logprobs.append(token_logprobs(logits, token))
        sequences = torch.cat([sequences, token[:, None]], dim=-1)
        done |= token == eos
        if done.all():
            break
    return sequences, torch.stack(logprobs, 1), torch.stack(values, 1) if values else None


def _fused_gelu(model) -> None:
    """Swap transformers' GELU written out in Python ops (``gelu_new``, FLAN-T5's) for PyTorch's fused kernel of the
    same tanh formula (``gelu_pytorch_tanh``): equal up to float rounding, ~13% less time per training pass here."""
    from transformers.activations import GELUTanh, NewGELUActivation

    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is NewGELUActivation:
                setattr(module, name, GELUTanh())


class PPOTrainer:
    """PPO for a seq2seq policy with a LoRA adapter; the frozen reference is the same model, adapter off.

    Each :meth:`step` samples responses for a batch of prompts, scores them with ``reward_fn``, turns the
    scores into per-token rewards with a KL penalty against the reference (``reward_shaping``, see
    :meth:`shape_rewards`), estimates advantages with GAE and runs ``ppo_epochs`` of clipped policy and
    value updates over mini-batches. The algorithm and statistics are those of trl 0.11's PPOTrainer (the
    course's), and every pass runs with dropout off, as trl's did. What it saves (``bench/bench_ppo.py``
    times it against trl 0.11):

    * each prompt is encoded once per step, in chunks of similar length, and the sampling loop
      (:func:`sample`) reuses that encoder output at every token;
    * the sampling pass also returns the old log-probs and values, so the policy is not run a second time,
      and its KV cache is written into buffers allocated once (:class:`labkit.generation.PreallocatedLayer`)
      instead of growing by concatenation;
    * log-probabilities and entropy come from ``log_softmax`` (:func:`token_logprobs`), which stays off the
      CPU's slow path for the tiny probabilities of a large vocabulary;
    * the reference pass computes log-probabilities only, over length-sorted chunks;
    * entropy is a statistic computed without gradients (unless ``entropy_coef`` makes it a loss term);
    * each mini-batch drops the padding columns none of its rows needs;
    * the policy's ``gelu_new`` activations (FLAN-T5's) are swapped, in place, for PyTorch's fused kernel
      of the same formula.
    """

    def __init__(self, policy, tokenizer, reward_fn, config: PPOConfig | None = None, *, reward_shaping=None):
        self.policy, self.tokenizer, self.reward_fn = policy, tokenizer, reward_fn
        _fused_gelu(policy)
        self.config = config or PPOConfig()
        self.reward_shaping = reward_shaping
        torch.manual_seed(self.config.seed)
        self.device = next(policy.parameters()).device
        self.value_head = ValueHead(policy.config.d_model).to(self.device)
        params = [p for p in policy.parameters() if p.requires_grad] + list(self.value_head.parameters())
        self.optimizer = torch.optim.Adam(params, lr=self.config.learning_rate)
        self.kl = (AdaptiveKLController(self.config.init_kl_coef, self.config.target_kl, self.config.kl_horizon)
                   if self.config.adaptive_kl else None)
        self.kl_coef = self.config.init_kl_coef
        self.history: list[dict] = []
        self.last_rollout: dict | None = None
        self.generator = torch.Generator().manual_seed(self.config.seed)

    def generate(self, encoder_outputs, attention_mask: torch.Tensor):
        """Sample one response per prompt (see :func:`sample`); the length limit is drawn once per batch, as the
        course's LengthSampler did. Returns (sequences, old log-probs, old values)."""
        cfg = self.config
        length = int(torch.randint(cfg.min_new_tokens, cfg.max_new_tokens + 1, (1,), generator=self.generator))
        self.max_new_tokens = length
        return sample(self.policy, encoder_outputs, attention_mask, max_new_tokens=length,
                      min_new_tokens=min(cfg.min_new_tokens, length), top_k=cfg.top_k, top_p=cfg.top_p,
                      generator=self.generator, value_head=self.value_head)

    def shape_rewards(self, scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token rewards (KL penalty on every token, the score on the last) and the per-token KL.

        With ``reward_shaping=fn`` the trainer calls ``fn(score, logprobs, ref_logprobs, kl_coef)`` once per
        response, on that response's tokens only, and uses the per-token rewards it returns - so a
        learner's own function (notebook 05, exercise 05.2) drives the run.
        """
        if self.reward_shaping is None:
            return kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, self.kl_coef)
        kl = (logprobs - ref_logprobs) * mask
        rewards = torch.zeros_like(logprobs)
        for i, score in enumerate(scores.tolist()):
            tokens = mask[i].nonzero().squeeze(-1)
            row = self.reward_shaping(score, logprobs[i, tokens].clone(), ref_logprobs[i, tokens].clone(), self.kl_coef)
            row = torch.as_tensor(row, dtype=torch.float32).flatten()
            if row.shape != tokens.shape:
                raise ValueError(f"reward_shaping returned {tuple(row.shape)} values for a response of {len(tokens)} "
                                 "tokens: return one reward per response token.")
            rewards[i, tokens] = row.to(rewards.device)
        return rewards, kl

    def step(self, prompts: Sequence[str]) -> dict:
        """One PPO step on a batch of prompts; returns (and records) its statistics."""
        prompts = list(prompts)
        if not prompts:
            raise ValueError("PPOTrainer.step got an empty batch of prompts. If the run ran out of training data, "
                             "build its batches with labkit.rlhf.prompt_batches(prompts, batch_size, steps), "
                             "which cycles through the prompts.")
        cfg, tok = self.config, self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, truncation=True).to(self.device)
        ids, attention = enc["input_ids"], enc["attention_mask"]
        lengths = attention.sum(-1)
        # the passes without gradients run over chunks of prompts of similar length, each cut to its longest prompt
        chunks = lengths.argsort(descending=True, stable=True).split(cfg.mini_batch_size)
        self.policy.eval()  # dropout off in every pass, as in trl's PPOTrainer: the ratio starts at exactly 1
        with torch.no_grad():
            # one encoder pass per prompt, reused at every sampling step
            encoder, encoded = self.policy.get_encoder(), None
            for idx in chunks:
                width = int(lengths[idx].max())
                hidden = encoder(input_ids=ids[idx, :width], attention_mask=attention[idx, :width]).last_hidden_state
                if encoded is None:
                    encoded = hidden.new_zeros(*ids.shape, hidden.shape[-1])
                encoded[idx, :width] = hidden
            encoder_outputs = BaseModelOutput(last_hidden_state=encoded)
            # the sampling pass also gives the old log-probs and values: no second pass of the policy
            sequences, old_logprobs, old_values = self.generate(encoder_outputs, attention_mask=attention)
        decoder_input_ids, targets = sequences[:, :-1], sequences[:, 1:]
        # the response: every sampled token up to and including the first end-of-sequence token
        is_eos = targets == tok.eos_token_id
        mask = ((is_eos.long().cumsum(-1) - is_eos.long()) == 0).float()
        old_logprobs, old_values = old_logprobs * mask, old_values * mask
        responses = tok.batch_decode(targets, skip_special_tokens=True)
        scores = torch.as_tensor(self.reward_fn(responses), dtype=torch.float32).flatten().to(self.device)

        with torch.no_grad():
            ref_logprobs = torch.zeros_like(old_logprobs)
            with self.policy.disable_adapter():  # the frozen reference: log-probabilities only
                for idx in chunks:
                    width, length = int(lengths[idx].max()), int(mask[idx].sum(-1).max())
                    logits = self.policy(input_ids=ids[idx, :width], attention_mask=attention[idx, :width],
                                         decoder_input_ids=decoder_input_ids[idx, :length]).logits
                    ref_logprobs[idx, :length] = token_logprobs(logits, targets[idx, :length])
        rewards, kl = self.shape_rewards(scores, old_logprobs, ref_logprobs, mask)
        advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
        advantages = _whiten(advantages, mask)

        stats = {"policy loss": 0.0, "value loss": 0.0, "entropy": 0.0, "clip fraction": 0.0}
        updates = 0
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(len(prompts), generator=self.generator)
            for start in range(0, len(prompts), cfg.mini_batch_size):
                idx = order[start:start + cfg.mini_batch_size].to(self.device)
                width = int(lengths[idx].max())  # drop the columns that are padding in every row
                length = int(mask[idx].sum(-1).max())  # the decoder is causal: later columns change nothing before
                out = self.policy(input_ids=ids[idx, :width], attention_mask=attention[idx, :width],
                                  decoder_input_ids=decoder_input_ids[idx, :length], output_hidden_states=True)
                sub = (slice(None), slice(0, length))
                logprobs = token_logprobs(out.logits, targets[idx][sub])
                values = self.value_head(out.decoder_hidden_states[-1])
                m = mask[idx][sub]
                pg, clipfrac = policy_loss(logprobs, old_logprobs[idx][sub], advantages[idx][sub], m, cfg.cliprange)
                vf = value_loss(values, old_values[idx][sub], returns[idx][sub], m, cfg.cliprange_value)
                loss = pg + cfg.vf_coef * vf
                if cfg.entropy_coef:  # a bonus for keeping the next-token distribution broad
                    loss = loss - cfg.entropy_coef * _masked_mean(entropy_from_logits(out.logits), m)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                self.optimizer.step()
                self.optimizer.zero_grad()
                with torch.no_grad():
                    entropy = _masked_mean(entropy_from_logits(out.logits), m)
                stats["policy loss"] += pg.item()
                stats["value loss"] += vf.item()
                stats["entropy"] += entropy.item()
                stats["clip fraction"] += clipfrac.item()
                updates += 1
        stats = {k: v / updates for k, v in stats.items()}
        sequence_kl = float(kl.sum(-1).mean())
        stats.update({"step": len(self.history) + 1, "mean reward": float(scores.mean()), "kl": sequence_kl,
                      "kl coef": self.kl_coef, "response tokens": float(mask.sum(-1).mean())})
        self.last_rollout = {"prompts": prompts, "responses": responses, "scores": scores, "mask": mask,
                             "rewards": rewards, "values": old_values, "returns": returns, "kl": kl,
                             "max_new_tokens": self.max_new_tokens}
        if self.kl is not None:
            self.kl_coef = self.kl.update(sequence_kl, len(prompts))
        self.history.append(stats)
        return stats


# --- a reward model from human rankings ------------------------------------------------------------

def load_rankings(path=None) -> list[dict]:
    """The project's ranked completions (data/rankings): id, prompt, completions, ranking (1 = best), split."""
    from pathlib import Path

    from labkit import config
    from labkit.data import read_records

    path = Path(path or config.data_dir() / "rankings" / "rankings.jsonl")
    return read_records(path, required=("prompt", "completions", "ranking", "split"), what="rankings",
                        regenerate="python data/rankings/generate.py")


def preference_dataset(rows: Sequence[dict], to_pairs=None):
    """Rankings -> a datasets.Dataset of (prompt, chosen, rejected), the format trl's RewardTrainer reads.

    ``to_pairs(completions, ranking)`` turns one ranking into pairs (default :func:`rankings_to_pairs`;
    notebook 05 passes the learner's own).
    """
    import datasets

    to_pairs = to_pairs or rankings_to_pairs
    records = [{"prompt": r["prompt"], "chosen": chosen, "rejected": rejected}
               for r in rows for chosen, rejected in to_pairs(r["completions"], r["ranking"])]
    return datasets.Dataset.from_list(records)


def train_reward_model(pairs, output_dir, base: str | None = None, max_steps: int = 30, batch_size: int = 16,
                       learning_rate: float = 5e-5, max_length: int = 128, seed: int = 0):
    """Train a scalar reward model on preference pairs with trl's RewardTrainer; returns (model, tokenizer).

    The loss pushes score(chosen) above score(rejected): −log σ(r_chosen − r_rejected). ``base``
    defaults to the profile's embedder checkpoint (all-MiniLM-L6-v2).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from labkit import config, models

    def load(source):
        torch.manual_seed(seed)  # the new scoring head's initial weights
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
        return model, AutoTokenizer.from_pretrained(source)

    model, tokenizer = load(base) if base is not None else models.load_role("embedder", load)
    if tokenizer.eos_token is None:  # BERT-style tokenizers end with [SEP]; trl appends an EOS to each text
        tokenizer.eos_token = tokenizer.sep_token
    args = RewardConfig(output_dir=str(output_dir), max_steps=max_steps, per_device_train_batch_size=batch_size,
                        learning_rate=learning_rate, max_length=max_length, logging_steps=5, save_strategy="no",
                        report_to="none", seed=seed, disable_tqdm=True, **config.trainer_device_args(trl=True))
    trainer = RewardTrainer(model=model, args=args, train_dataset=pairs, processing_class=tokenizer)
    trainer.train()
    model.eval()
    return model, tokenizer, trainer


@torch.no_grad()
def scalar_scores(model, tokenizer, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> torch.Tensor:
    """A single-output reward model's score for each text."""
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt")
        out.append(model(**enc).logits[:, 0].float())
    return torch.cat(out)


def pairwise_accuracy(model, tokenizer, pairs) -> float:
    """Share of held-out pairs where the reward model scores the chosen text above the rejected one."""
    chosen = scalar_scores(model, tokenizer, [p + c for p, c in zip(pairs["prompt"], pairs["chosen"], strict=True)])
    rejected = scalar_scores(model, tokenizer, [p + r for p, r in zip(pairs["prompt"], pairs["rejected"], strict=True)])
    return float((chosen > rejected).float().mean())
