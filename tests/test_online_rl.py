"""labkit.online_rl: group advantages and k3 against trl, rewards in trl's signature, the answer checker, data."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from llm_helpers import tiny_llama  # tests/ is on sys.path under pytest

from labkit import config, online_rl


@pytest.fixture(scope="module")
def tokenizer():
    """SmolLM2's tokenizer (with its chat template), from labkit's cache."""
    from transformers import AutoTokenizer

    from labkit import tiny

    tok = AutoTokenizer.from_pretrained(tiny.smollm2_path())
    tok.pad_token = tok.pad_token or tok.eos_token
    tok.padding_side = "left"
    return tok


_tiny_llm = tiny_llama  # tests/llm_helpers.py


# --- the answer checker -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, status, value", [
    ("The answer is 19.", "ok", 19),
    ("48 - 29 = 19. The answer is 19", "ok", 19),
    ("The answer is 60 - 4 = 56 eggs.", "ok", 56),  # an expression: the result after the last "="
    ("The answer is 1,200.", "ok", 1200),  # a thousands separator
    ("The answer is 12,345,678 stars.", "ok", 12345678),
    ("The answer is -5.", "ok", -5),  # negative numbers
    ("The answer is \u22123.", "ok", -3),  # a typographic minus
    ("The answer is $12.50.", "ok", 12.5),
    ("The answer is 3.5 hours.", "ok", 3.5),
    ("Answer: 42", "ok", 42),
    ("THE ANSWER IS 7!", "ok", 7),
    ("So \\boxed{56}", "ok", 56),
    ("The answer is 5. So the answer is 5.", "ok", 5),  # the same answer twice is one answer
    ("The answer is 19. There were 48 muffins.", "ok", 19),  # numbers after the statement do not count
    ("", "no answer", None),  # malformed output: nothing at all
    (None, "no answer", None),
    ("48 - 29 = 19", "no answer", None),  # a number, but never committed to
    ("The baker sold 29 muffins, so the", "no answer", None),  # cut off by the token limit
    ("The answer is twelve.", "non-numeric", None),
    ("The answer is below.", "non-numeric", None),
    ("\\boxed{x}", "non-numeric", None),
    ("The answer is 5 or 7.", "several answers", None),
    ("The answer is 5, 6, 7.", "several answers", None),
    ("The answer is 5. No wait, the answer is 7.", "several answers", None),
    ("\\boxed{5} or \\boxed{7}", "several answers", None),
])
def test_parse_answer_handles_malformed_output(text, status, value):
    answer = online_rl.parse_answer(text)
    assert answer.status == status
    assert answer.value == value
    assert answer.ok == (status == "ok")


def test_answer_and_format_rewards_take_trls_arguments():
    completions = [[{"role": "assistant", "content": "The answer is 19."}],
                   [{"role": "assistant", "content": "The answer is 19 or 20."}],
                   [{"role": "assistant", "content": "The answer is 18."}],
                   "no idea"]
    prompts = ["q"] * 4
    assert online_rl.answer_reward(prompts, completions, answer=[19, 19, 19, 19]) == [1.0, 0.0, 0.0, 0.0]
    assert online_rl.format_reward(prompts, completions, answer=[19] * 4) == [1.0, 0.0, 1.0, 0.0]
    assert online_rl.answer_correct("The answer is 1,200.", 1200) and not online_rl.answer_correct("", 0)
    with pytest.raises(ValueError):
        online_rl.answer_reward(prompts, completions, answer=[19])  # one gold answer per completion
    with pytest.raises(TypeError, match="string or a list of chat messages"):
        online_rl.completion_text(42)


# --- advantages and KL ------------------------------------------------------------------------------------------

def test_group_advantages_by_hand():
    rewards = [1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0]
    adv = online_rl.group_advantages(rewards, 4)
    std = math.sqrt(((0.75 ** 2) + 3 * 0.25 ** 2) / 3)  # the sample std of the first group
    assert adv[0].item() == pytest.approx(0.75 / (std + 1e-4))
    assert adv[1].item() == pytest.approx(-0.25 / (std + 1e-4))
    assert torch.equal(adv[4:], torch.zeros(4))  # all equal: no signal
    assert adv[:4].sum().item() == pytest.approx(0.0, abs=1e-6)
    centred = online_rl.group_advantages(rewards, 4, scale="none")[:4]
    assert torch.allclose(centred, torch.tensor([0.75, -0.25, -0.25, -0.25]))
    batch = online_rl.group_advantages(rewards, 4, scale="batch")
    assert batch[0].item() == pytest.approx(0.75 / (torch.tensor(rewards).std().item() + 1e-4))
    with pytest.raises(ValueError, match="groups of 3"):
        online_rl.group_advantages(rewards, 3)
    with pytest.raises(ValueError, match="at least 2"):
        online_rl.group_advantages(rewards, 1)
    with pytest.raises(ValueError, match="scale"):
        online_rl.group_advantages(rewards, 4, scale="max")


def test_rloo_advantages_leave_one_out():
    adv = online_rl.rloo_advantages([3.0, 1.0, 2.0, 2.0], 4)
    assert torch.allclose(adv, torch.tensor([3 - 5 / 3, 1 - 7 / 3, 0.0, 0.0]))


def test_k3_is_unbiased_never_negative_and_zero_only_where_they_agree():
    torch.manual_seed(0)
    policy = torch.tensor([0.5, 0.2, 0.2, 0.1])
    reference = torch.tensor([0.25, 0.25, 0.25, 0.25])
    exact = (policy * (policy / reference).log()).sum().item()
    tokens = torch.multinomial(policy, 200_000, replacement=True)
    k3 = online_rl.k3_kl(policy.log()[tokens], reference.log()[tokens])
    assert (k3 >= 0).all()
    assert k3.mean().item() == pytest.approx(exact, abs=3e-3)
    assert online_rl.k3_kl([-1.0, -2.0], [-1.0, -2.0]).abs().max().item() < 1e-7


# --- rewards in trl's signature -----------------------------------------------------------------------------------

def test_text_reward_scores_texts_and_records_every_call():
    reward = online_rl.text_reward(lambda texts: [len(t) for t in texts], "length")
    assert reward.__name__ == "length"
    got = reward(prompts=["p", "p"], completions=[[{"role": "assistant", "content": "abc"}], "hello"], answer=[1, 2])
    assert got == [3.0, 5.0]
    assert reward.history == [{"prompts": ["p", "p"], "completions": ["abc", "hello"], "rewards": [3.0, 5.0]}]
    broken = online_rl.text_reward(lambda texts: [1.0], "broken")
    with pytest.raises(ValueError, match="1 values for 2 completions"):
        broken(prompts=["p", "p"], completions=["a", "b"])


def test_recorded_keeps_a_reward_functions_calls_and_counts_flat_groups():
    answers = online_rl.recorded(online_rl.answer_reward)
    assert answers.__name__ == "answer_reward"
    completions = ["The answer is 5.", "The answer is 6.", "no", "The answer is 4 or 5."]
    assert answers(prompts=["q1", "q1", "q2", "q2"], completions=completions, answer=[5, 5, 4, 4]) == [1, 0, 0, 0]
    assert answers.history[0]["rewards"] == [1.0, 0.0, 0.0, 0.0]
    assert online_rl.flat_groups(answers.history, 2) == 0.5  # q2's group: both wrong, nothing to learn
    with pytest.raises(ValueError, match="never called"):
        online_rl.flat_groups([], 2)


def test_friendly_words_and_the_loophole():
    assert online_rl.friendly_words("Thank you, thanks! I'm so sorry. Hoping for the best.") == 5
    assert online_rl.friendly_words("Stop whining.") == 0 and online_rl.friendly_words(None) == 0
    assert online_rl.keyword_bonus("Thanks thanks thanks", 1.5, bonus=0.5) == pytest.approx(3.0)
    reward = online_rl.tone_reward(online_rl.keyword_bonus, lambda texts: torch.tensor([1.0] * len(texts)), "loop")
    assert reward(prompts=["p"] * 2, completions=["thanks", "no"]) == [2.0, 1.0]
    assert reward.tones == [1.0, 1.0] and reward.__name__ == "loop"


def test_group_pairs_take_the_best_and_worst_of_each_group():
    history = [{"prompts": [[{"role": "user", "content": "p1"}]] * 2 + [[{"role": "user", "content": "p2"}]] * 2,
                "completions": ["good", "bad", "same", "same too"], "rewards": [2.0, -1.0, 0.5, 0.5]}]
    pairs = online_rl.group_pairs(history, group_size=2)
    assert pairs == [{"prompt": [{"role": "user", "content": "p1"}],
                      "chosen": [{"role": "assistant", "content": "good"}],
                      "rejected": [{"role": "assistant", "content": "bad"}]}]  # p2's group ties: no pair


# --- data -----------------------------------------------------------------------------------------------------------

def test_prompt_files_are_what_the_generator_writes():
    result = subprocess.run([sys.executable, str(config.data_dir() / "online_rl" / "generate.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_detox_prompts_hold_out_whole_situations():
    train, test = online_rl.load_detox_prompts("train"), online_rl.load_detox_prompts("test")
    assert len(train) + len(test) == len(online_rl.load_detox_prompts())
    assert not {r["situation"] for r in train} & {r["situation"] for r in test}
    with pytest.raises(ValueError, match="'train' or 'test'"):
        online_rl.load_detox_prompts("dev")


def test_arithmetic_problems_are_new_and_answered():
    from labkit.agents import load_word_problems

    problems = online_rl.load_arithmetic()
    held_out = {p.question for p in load_word_problems()}
    assert len({p["id"] for p in problems}) == len(problems) >= 100
    assert not {p["question"] for p in problems} & held_out
    assert all(p["answer"] > 0 and p["question"].endswith("?") for p in problems)
    eaten = next(p for p in problems if "gives away" in p["question"] and " of " in p["question"])
    a, b, c = (int(n) for n in __import__("re").findall(r"\d+", eaten["question"]))
    assert eaten["answer"] == a * b - c


def test_chat_dataset_is_in_trls_conversational_format():
    ds = online_rl.chat_dataset(["Reply to the customer."], online_rl.DETOX_SYSTEM, answer=[5])
    assert ds[0]["prompt"] == [{"role": "system", "content": online_rl.DETOX_SYSTEM},
                               {"role": "user", "content": "Reply to the customer."}]
    assert ds[0]["answer"] == 5
    question = online_rl.reasoning_prompt("What is 2 + 3?")
    assert question.startswith("What is 2 + 3?") and "The answer is" in question
    assert online_rl.chat_dataset([question])[0]["prompt"] == [{"role": "user", "content": question}]
    with pytest.raises(ValueError, match="1 prompts"):
        online_rl.chat_dataset(["q"], answer=[1, 2])


def test_settings_are_per_profile(profile):
    profile("course")
    course = online_rl.settings("detox")
    profile("tiny")
    assert online_rl.settings("detox")["max_steps"] < course["max_steps"]
    assert set(online_rl.SETTINGS["course"]) == set(online_rl.SETTINGS["tiny"])
    with pytest.raises(KeyError, match="has no"):
        online_rl.settings("nothing")


def test_peak_memory_sees_an_allocation():
    with online_rl.peak_memory() as peak:
        block = torch.ones(64, 1024, 1024)  # 256 MB
        block += 1
        del block
    assert peak.mb > 150 and peak.how


# --- against trl -----------------------------------------------------------------------------------------------------

def test_group_advantages_are_the_ones_trl_computes(tokenizer, tmp_path):
    """One real GRPOTrainer step on a tiny random Llama: trl's advantages equal group_advantages of its rewards."""
    reward = online_rl.text_reward(lambda texts: [float(len(t) % 7) for t in texts], "length_mod_7")
    dataset = online_rl.chat_dataset(["Say hi.", "Say bye.", "Count to three.", "Name a colour."], "Be brief.")
    trainer = online_rl.train("grpo", _tiny_llm(tokenizer), tokenizer, reward, dataset, tmp_path, max_steps=1,
                              per_device_train_batch_size=8, num_generations=4, max_completion_length=8, beta=0.04,
                              learning_rate=1e-3)
    batch = online_rl.last_batch(trainer)
    rewards = reward.history[-1]["rewards"]
    assert batch["length_mod_7"].tolist() == rewards
    assert np.allclose(batch["advantage"], online_rl.group_advantages(rewards, 4).numpy(), atol=1e-5)
    log = online_rl.training_log(trainer)
    assert list(log.index) == [1] and {"reward", "reward_std", "kl", "entropy", "seconds (wall)"} <= set(log.columns)
    assert log["reward"].iloc[0] == pytest.approx(np.mean(rewards), abs=1e-5)
    assert trainer.peak_memory.mb == trainer.peak_memory.mb  # measured (not NaN)
    with pytest.raises(ValueError, match="already carries a LoRA adapter"):
        online_rl.train("grpo", trainer.model, tokenizer, reward, dataset, tmp_path, max_steps=1)


def test_rloo_advantages_are_the_ones_trl_computes(tokenizer, tmp_path):
    """Without the KL term (beta=0) trl's RLOO advantage is the reward minus the mean of the others."""
    reward = online_rl.text_reward(lambda texts: [float(len(t) % 5) for t in texts], "length_mod_5")
    dataset = online_rl.chat_dataset(["Say hi.", "Say bye."], "Be brief.")
    trainer = online_rl.train("rloo", _tiny_llm(tokenizer), tokenizer, reward, dataset, tmp_path, max_steps=1,
                              per_device_train_batch_size=4, num_generations=4, max_completion_length=8, beta=0.0)
    rewards = reward.history[-1]["rewards"]
    assert np.allclose(online_rl.last_batch(trainer)["advantage"], online_rl.rloo_advantages(rewards, 4).numpy(),
                       atol=1e-5)
    with pytest.raises(ValueError, match="'grpo' or 'rloo'"):
        online_rl.train("ppo", _tiny_llm(tokenizer), tokenizer, reward, dataset, tmp_path)


def test_evaluate_answers_reads_each_completion(tokenizer):
    from transformers import GenerationConfig

    problems = [{"id": "x1", "question": "What is 2 + 3?", "answer": 5},
                {"id": "x2", "question": "What is 4 + 4?", "answer": 8}]
    table = online_rl.evaluate_answers(_tiny_llm(tokenizer), tokenizer, problems,
                                       GenerationConfig(max_new_tokens=4, do_sample=False))
    assert list(table["id"]) == ["x1", "x2"]
    assert set(table["status"]) <= {"ok", "no answer", "several answers", "non-numeric"}
    assert table["correct"].dtype == bool
