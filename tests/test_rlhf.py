"""PPO's arithmetic checked against values worked out by hand, and rankings to pairs."""

import math

import pytest
import torch

from labkit import rlhf


def test_rankings_to_pairs_put_the_preferred_first():
    pairs = rlhf.rankings_to_pairs(["a", "b", "c"], [2, 1, 3])
    assert sorted(pairs) == sorted([("b", "a"), ("a", "c"), ("b", "c")])
    assert rlhf.rankings_to_pairs(["a", "b"], [1, 1]) == []  # a tie prefers neither
    with pytest.raises(ValueError, match="one rank per completion"):
        rlhf.rankings_to_pairs(["a", "b"], [1])
    with pytest.raises(ValueError, match="start at 1"):
        rlhf.rankings_to_pairs(["a", "b"], [0, 1])


def test_kl_penalty_and_score_on_the_last_token():
    logp = torch.tensor([[-1.0, -2.0, -0.5, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    rewards, kl = rlhf.kl_penalized_rewards(torch.tensor([2.0]), logp, ref, mask, kl_coef=0.1)
    # kl per token = logp - ref = [0.5, -1.0, 0.0, (masked)]
    assert kl.tolist() == [[0.5, -1.0, 0.0, 0.0]]
    # rewards = -0.1 * kl, plus the score 2.0 on the last response token (index 2)
    assert rewards.tolist()[0] == pytest.approx([-0.05, 0.1, 2.0, 0.0])


def test_gae_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    mask = torch.ones(1, 3)
    adv, ret = rlhf.gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # t=2: δ = 1 - 0.7 = 0.3;            A2 = 0.3
    # t=1: δ = 0 + 0.7 - 0.6 = 0.1;      A1 = 0.1 + 0.5 * 0.3 = 0.25
    # t=0: δ = 0 + 0.6 - 0.5 = 0.1;      A0 = 0.1 + 0.5 * 0.25 = 0.225
    assert adv.tolist()[0] == pytest.approx([0.225, 0.25, 0.3])
    assert ret.tolist()[0] == pytest.approx([0.725, 0.85, 1.0])


def test_gae_ignores_padding_after_the_response():
    rewards = torch.tensor([[0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.7, 9.0]])  # the padded value must not leak in
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    adv, _ = rlhf.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    assert adv.tolist()[0] == pytest.approx([0.5, 0.3, 0.0])


def test_clipped_policy_loss_by_hand():
    old = torch.log(torch.tensor([[0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.8, 0.3]]))  # ratios 1.6 and 0.6
    adv = torch.tensor([[1.0, -1.0]])
    loss, clipfrac = rlhf.policy_loss(new, old, adv, torch.ones(1, 2), clip=0.2)
    # token 1: max(-1.6, -1.2) = -1.2 (clipped); token 2: max(0.6, 0.8) = 0.8 (clipped)
    assert loss.item() == pytest.approx((-1.2 + 0.8) / 2)
    assert clipfrac.item() == pytest.approx(1.0)
    same, frac = rlhf.policy_loss(old, old, adv, torch.ones(1, 2))
    assert same.item() == pytest.approx(0.0) and frac.item() == 0


def test_clipped_value_loss_by_hand():
    loss = rlhf.value_loss(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[2.0]]), torch.ones(1, 1), clip=0.2)
    # unclipped (1-2)^2 = 1; clipped V = 0.2 -> (0.2-2)^2 = 3.24; 0.5 * max = 1.62
    assert loss.item() == pytest.approx(1.62)


def test_adaptive_kl_controller_moves_toward_the_target():
    ctl = rlhf.AdaptiveKLController(init_kl_coef=0.2, target=1.0, horizon=100)
    assert ctl.update(current_kl=3.0, n_steps=10) == pytest.approx(0.2 * (1 + 0.2 * 0.1))  # error clipped at +0.2
    low = rlhf.AdaptiveKLController(0.2, 1.0, 100).update(current_kl=0.9, n_steps=10)
    assert low == pytest.approx(0.2 * (1 - 0.1 * 0.1))


def test_find_label_by_name_and_loudly_when_missing():
    class Cfg:
        id2label = {0: "nothate", 1: "hate"}

    class Other:
        id2label = {0: "LABEL_0", 1: "LABEL_1"}

    assert rlhf.find_label(Cfg) == 0
    with pytest.raises(ValueError, match="not toxic"):
        rlhf.find_label(Other)


def test_reward_model_and_exact_n_toxicity_evaluation(summarizer):
    from transformers import GenerationConfig

    from labkit.models import load_reward_model

    model, tokenizer = load_reward_model()
    reward = rlhf.RewardModel(model, tokenizer)
    assert reward.label_index == 0
    polite, hostile = reward(["Thank you so much for your help, I really appreciate it.",
                              "Nobody cares about your stupid order, figure it out yourself."])
    assert polite > hostile
    probs = reward(["Thanks a lot!"], kind="probability")
    assert 0 <= float(probs[0]) <= 1
    policy, policy_tokenizer = summarizer
    prompts = [f"Summarize: #Person1#: hello number {i}" for i in range(7)]
    result = rlhf.evaluate_toxicity(policy, policy_tokenizer, prompts, reward, n=5,
                                    generation_config=GenerationConfig(max_new_tokens=8, do_sample=True, top_k=50))
    assert result["n"] == 5 and len(result["outputs"]) == 5  # exactly n, not n + 1
    assert result["ci_low"] <= result["mean"] <= result["ci_high"]
    with pytest.raises(ValueError, match="only 7 prompts"):
        rlhf.evaluate_toxicity(policy, policy_tokenizer, prompts, reward, n=8)
    change = rlhf.compare_rewards(result, {**result, "scores": result["scores"] + 1.0})
    assert change["mean change"] == pytest.approx(1.0)  # after - before: positive = better


def test_several_samples_per_prompt_average_the_single_sample_scores(summarizer):
    from transformers import GenerationConfig

    from labkit.models import load_reward_model

    reward = rlhf.RewardModel(*load_reward_model())
    policy, tokenizer = summarizer
    prompts = [f"Summarize: #Person1#: I need help with order {i}." for i in range(6)]
    sampling = GenerationConfig(max_new_tokens=8, do_sample=True, top_k=50)
    singles = [rlhf.evaluate_toxicity(policy, tokenizer, prompts, reward, n=6, generation_config=sampling, seed=s)
               for s in (3, 4, 5)]
    averaged = rlhf.evaluate_toxicity(policy, tokenizer, prompts, reward, n=6, generation_config=sampling, seed=3,
                                      samples_per_prompt=3)
    assert averaged["n"] == 6 and averaged["samples per prompt"] == 3
    assert averaged["scores"] == pytest.approx(sum(r["scores"] for r in singles) / 3, abs=1e-5)
    assert averaged["outputs"] == singles[0]["outputs"]
    with pytest.raises(ValueError, match="at least 1"):
        rlhf.evaluate_toxicity(policy, tokenizer, prompts, reward, n=6, samples_per_prompt=0)


def test_ppo_step_runs_and_records_statistics(summarizer):
    from labkit import finetune

    model, tokenizer = summarizer
    policy = finetune.add_lora(model, finetune.lora_config(r=4, target_modules=["q", "v"]))
    trainer = rlhf.PPOTrainer(policy, tokenizer, lambda texts: torch.ones(len(texts)),
                              rlhf.PPOConfig(learning_rate=1e-3, batch_size=4, mini_batch_size=2, ppo_epochs=1,
                                             min_new_tokens=2, max_new_tokens=6, top_k=20))
    before = {n: p.clone() for n, p in policy.named_parameters() if p.requires_grad}
    stats = trainer.step([f"#Person1#: hi {i}" for i in range(4)])
    for key in ("mean reward", "kl", "policy loss", "value loss", "entropy", "clip fraction"):
        assert key in stats and stats[key] == stats[key]
    assert stats["mean reward"] == 1.0 and trainer.history[-1] is stats
    assert any(not torch.equal(before[n], p) for n, p in policy.named_parameters() if p.requires_grad)
    base_trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(torch.isfinite(p).all() for p in base_trainable)


def test_notebook_03_checks(summarizer):
    from labkit import checks
    from labkit.models import load_reward_model

    model, _ = load_reward_model()
    checks.check_not_hate_index(0, model)
    with pytest.raises(checks.CheckFailed, match="more"):
        checks.check_not_hate_index(1, model)

    def right(score, logprobs, ref, coef):
        rewards = -coef * (logprobs - ref)
        rewards[-1] += score
        return rewards

    def wrong_sign(score, logprobs, ref, coef):
        rewards = coef * (logprobs - ref)
        rewards[-1] += score
        return rewards

    def everywhere(score, logprobs, ref, coef):
        return -coef * (logprobs - ref) + score

    checks.check_kl_penalized_reward(right)
    with pytest.raises(checks.CheckFailed, match="LAST|sign"):
        checks.check_kl_penalized_reward(wrong_sign)
    with pytest.raises(checks.CheckFailed, match="LAST"):
        checks.check_kl_penalized_reward(everywhere)

    comps, ranks = ["a", "b", "c"], [3, 1, 2]
    checks.check_pairs(rlhf.rankings_to_pairs(comps, ranks), comps, ranks)
    with pytest.raises(checks.CheckFailed, match="worse completion first"):
        checks.check_pairs([(b, a) for a, b in rlhf.rankings_to_pairs(comps, ranks)], comps, ranks)
    with pytest.raises(checks.CheckFailed, match="give 3 pairs"):
        checks.check_pairs([("b", "c")], comps, ranks)


def test_tiny_ppo_lowers_toxicity_beyond_sampling_noise():
    """The notebook's claim, checked: after PPO (KL penalty on) the mean reward on 64 held-out dialogues is
    higher and the bootstrap 95% CI of the paired change excludes 0, while the KL stays bounded."""
    from transformers import GenerationConfig

    from labkit import config, finetune, prompts
    from labkit.data import load_dialogsum
    from labkit.models import load_reward_model, load_summarizer

    config.set_seed(42)
    reward = rlhf.RewardModel(*load_reward_model())
    model, tokenizer = load_summarizer(finetune.instruct_summarizer())
    dataset = load_dialogsum()
    n, samples = config.size("n_toxicity"), config.size("toxicity_samples")
    assert n >= 64
    held_out = [prompts.zero_shot(d) for d in dataset["test"]["dialogue"][:n]]
    sampling = GenerationConfig(**config.setting("toxicity_generation"))
    before = rlhf.evaluate_toxicity(model, tokenizer, held_out, reward, n=n, generation_config=sampling,
                                    samples_per_prompt=samples)
    settings = config.setting("ppo")
    policy = finetune.add_lora(model, finetune.lora_config(**config.setting("ppo_lora_config")))
    trainer = rlhf.PPOTrainer(policy, tokenizer, reward, rlhf.PPOConfig(**settings))
    train = [prompts.zero_shot(d) for d in dataset["train"]["dialogue"]]
    batch = settings["batch_size"]
    for step in range(config.size("ppo_steps")):
        trainer.step(train[step * batch:(step + 1) * batch])
    after = rlhf.evaluate_toxicity(policy, tokenizer, held_out, reward, n=n, generation_config=sampling,
                                   samples_per_prompt=samples)
    change = rlhf.compare_rewards(before, after)
    assert after["mean"] > before["mean"]
    assert change["ci_low"] > 0, change
    assert max(h["kl"] for h in trainer.history) < 30  # ~12 nats at the end; ~60 without the penalty


def test_dpo_loss_matches_hand_worked_values():
    # one pair: the policy raised the chosen response's log-prob by 2 and lowered the rejected one's by 1
    loss = rlhf.dpo_loss(torch.tensor([-10.0]), torch.tensor([-13.0]), torch.tensor([-12.0]), torch.tensor([-12.0]),
                         beta=0.1)
    margin = 0.1 * ((-10 + 12) - (-13 + 12))  # 0.3
    assert loss.shape == (1,)
    assert abs(loss.item() - math.log1p(math.exp(-margin))) < 1e-6  # -log sigmoid(0.3) = 0.5544
    assert abs(loss.item() - 0.554355) < 1e-5
    # policy == reference: every pair costs log 2, whatever beta
    same = rlhf.dpo_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3), beta=0.5)
    assert torch.allclose(same, torch.full((3,), math.log(2)))
    with pytest.raises(ValueError, match="same shape"):
        rlhf.dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="beta"):
        rlhf.dpo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), beta=0)
