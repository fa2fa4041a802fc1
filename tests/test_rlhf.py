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
    loss = rlhf.value_loss(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[2.0]]), torch.ones(1, 1),
                           clip=0.2)
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


def _tiny_policy(summarizer, seed=1):
    from labkit import finetune

    model, tokenizer = summarizer
    policy = finetune.add_lora(model, finetune.lora_config(r=4, target_modules=["q", "v"])).eval()
    torch.manual_seed(seed)
    for p in policy.parameters():  # a LoRA adapter that changes the outputs, so policy != reference
        if p.requires_grad:
            p.data.normal_(0, 0.05)
    return policy, tokenizer


def test_draw_tokens_follows_the_softmax():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    logits = probs.log().expand(20000, 4)
    tokens = rlhf.draw_tokens(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(tokens, minlength=4).float() / len(tokens)
    assert freq[1] == 0  # a token of probability 0 is never drawn
    assert torch.allclose(freq, probs, atol=0.015)


def test_sample_gives_the_same_logprobs_and_values_as_a_full_pass(summarizer):
    policy, tokenizer = _tiny_policy(summarizer)
    enc = tokenizer([f"Summarize: #Person1#: I need help with order {i}." for i in range(5)], return_tensors="pt",
                    padding=True)
    head = rlhf.ValueHead(policy.config.d_model)
    torch.nn.init.normal_(head.summary.weight, std=0.1)
    with torch.no_grad():
        encoded = policy.get_encoder()(**enc)
        sequences, logprobs, values = rlhf.sample(policy, encoded, enc["attention_mask"], max_new_tokens=12,
                                                  min_new_tokens=4, top_k=20,
                                                  generator=torch.Generator().manual_seed(0), value_head=head)
        out = policy(**enc, decoder_input_ids=sequences[:, :-1], output_hidden_states=True)
    targets = sequences[:, 1:]
    assert sequences.shape[0] == 5 and 4 <= targets.shape[1] <= 12
    assert (sequences[:, 0] == policy.config.decoder_start_token_id).all()
    assert not (targets[:, :4] == tokenizer.eos_token_id).any()  # min_new_tokens holds
    for row in targets:  # padding only after the end-of-sequence token
        eos = (row == tokenizer.eos_token_id).nonzero()
        if len(eos):
            assert (row[eos[0, 0] + 1:] == tokenizer.pad_token_id).all()
    assert torch.allclose(logprobs, rlhf.token_logprobs(out.logits, targets), atol=1e-4)
    assert torch.allclose(values, head(out.decoder_hidden_states[-1]), atol=1e-4)


def test_sample_works_when_the_decoder_has_more_layers_than_the_encoder():
    from transformers import T5Config, T5ForConditionalGeneration
    from transformers.modeling_outputs import BaseModelOutput

    torch.manual_seed(0)
    config = T5Config(vocab_size=40, d_model=16, d_kv=4, d_ff=32, num_heads=2, num_layers=1, num_decoder_layers=3,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(config).eval()
    ids, mask = torch.randint(2, 40, (3, 5)), torch.ones(3, 5, dtype=torch.long)
    encoded = BaseModelOutput(last_hidden_state=model.get_encoder()(input_ids=ids, attention_mask=mask)[0])
    sequences, logprobs, _ = rlhf.sample(model, encoded, mask, max_new_tokens=6, min_new_tokens=6,
                                         generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, decoder_input_ids=sequences[:, :-1]).logits
    assert sequences.shape == (3, 7)
    assert torch.allclose(logprobs, rlhf.token_logprobs(logits, sequences[:, 1:]), atol=1e-5)


def _trainer(summarizer, **overrides):
    policy, tokenizer = _tiny_policy(summarizer)
    settings = {"learning_rate": 1e-3, "batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 1, "min_new_tokens": 3,
                "max_new_tokens": 6, "top_k": 20, **overrides}
    return rlhf.PPOTrainer(policy, tokenizer, lambda texts: torch.arange(len(texts), dtype=torch.float32),
                           rlhf.PPOConfig(**settings))


def test_first_ppo_update_starts_at_ratio_one(summarizer):
    """The old log-probs come from the sampling pass, the new ones from a full pass with dropout off: before the
    first update they agree, so nothing is clipped."""
    trainer = _trainer(summarizer, mini_batch_size=4)
    stats = trainer.step([f"#Person1#: hi {i}" for i in range(4)])
    assert stats["clip fraction"] == 0.0
    assert abs(stats["policy loss"]) < 1e-4  # whitened advantages average 0 when every ratio is 1


def test_a_reward_shaping_function_drives_the_rewards(summarizer):
    calls = []

    def shaping(score, logprobs, ref_logprobs, kl_coef):
        calls.append((score, len(logprobs), kl_coef))
        rewards = -kl_coef * (logprobs - ref_logprobs)
        rewards[-1] += score
        return rewards

    trainer = _trainer(summarizer)
    default = _trainer(summarizer)
    trainer.reward_shaping = shaping
    batch = [f"#Person1#: hi {i}" for i in range(4)]
    trainer.step(batch)
    default.step(batch)
    rollout, expected = trainer.last_rollout, default.last_rollout
    assert [c[0] for c in calls] == [0.0, 1.0, 2.0, 3.0] and all(c[2] == 0.2 for c in calls)
    assert [c[1] for c in calls] == rollout["mask"].sum(-1).int().tolist()  # the response's tokens only
    assert torch.allclose(rollout["rewards"], expected["rewards"], atol=1e-6)  # same as the built-in penalty
    trainer.reward_shaping = lambda score, logprobs, ref, coef: torch.zeros(1)
    with pytest.raises(ValueError, match="one reward per response token"):
        trainer.step(batch)


def test_an_empty_batch_is_a_clear_error(summarizer):
    with pytest.raises(ValueError, match="empty batch of prompts.*prompt_batches"):
        _trainer(summarizer).step([])


def test_prompt_batches_cycle_and_say_so(capsys):
    prompts = [f"p{i}" for i in range(10)]
    batches = rlhf.prompt_batches(prompts, batch_size=4, steps=3)
    assert batches == [["p0", "p1", "p2", "p3"], ["p4", "p5", "p6", "p7"], ["p8", "p9", "p0", "p1"]]
    assert "12 prompts but there are 10" in capsys.readouterr().out
    assert rlhf.prompt_batches(prompts, 5, 2) == [prompts[:5], prompts[5:]]
    assert capsys.readouterr().out == ""  # enough prompts: no message
    with pytest.raises(ValueError, match="no training prompts"):
        rlhf.prompt_batches([], 4, 3)
    with pytest.raises(ValueError, match="batch_size"):
        rlhf.prompt_batches(prompts, 0, 3)


def test_course_sizes_on_a_400_row_train_split(tmp_path, capsys):
    """Issue: a DialogSum mirror with 400 training rows and the course's 100 steps x 16 prompts ran past the data
    and called PPOTrainer.step([]). The notebook builds its batches with prompt_batches, which cycles."""
    import json

    from labkit import config, prompts
    from labkit.data import load_dialogsum

    source = config.data_dir() / "dialogsum"
    for name, rows in [("dialogsum.train.jsonl", 400), ("dialogsum.dev.jsonl", 20), ("dialogsum.test.jsonl", 20)]:
        lines = (source / name).read_text(encoding="utf-8").splitlines()[:rows]
        assert all(json.loads(line) for line in lines)
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    train = load_dialogsum(tmp_path)["train"]
    assert len(train) == 400
    steps, batch_size = config.SIZES["course"]["ppo_steps"], config.SETTINGS["course"]["ppo"]["batch_size"]
    batches = rlhf.prompt_batches([prompts.zero_shot(d) for d in train["dialogue"]], batch_size, steps)
    assert len(batches) == steps and all(len(b) == batch_size for b in batches)
    message = capsys.readouterr().out
    assert "1,600 prompts but there are 400" in message and "4.0 times" in message
    notebook = (config.REPO_ROOT / "solutions" / "05_rlhf.ipynb").read_text(encoding="utf-8")
    assert "rlhf.prompt_batches(" in notebook  # the notebook's PPO runs take their prompts this way
