"""Time per PPO step on a fixed batch (notebook 03's settings for the active profile).

One step = sample responses, score them with the reward model, reference log-probs with the adapter
off, GAE, and the clipped policy/value updates. Prints the median over a few steps: the number a
learner budgets a PPO run with.

    LABKIT_PROFILE=tiny python bench/bench_ppo.py
"""

import os
import statistics
import time

os.environ.setdefault("LABKIT_PROFILE", "tiny")

from labkit import config, finetune, prompts, rlhf  # noqa: E402
from labkit.data import load_dialogsum  # noqa: E402
from labkit.models import load_reward_model, load_summarizer  # noqa: E402


def main(steps: int = 4) -> None:
    config.get_profile()
    model, tokenizer = load_summarizer(finetune.instruct_summarizer())
    reward = rlhf.RewardModel(*load_reward_model())
    settings = config.setting("ppo")
    batch = [prompts.zero_shot(d) for d in load_dialogsum()["train"]["dialogue"][:settings["batch_size"]]]
    policy = finetune.add_lora(model, finetune.lora_config(**config.setting("ppo_lora_config")))
    trainer = rlhf.PPOTrainer(policy, tokenizer, reward, rlhf.PPOConfig(**settings))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.step(batch)
        times.append(time.perf_counter() - start)
    print(f"PPO step on a fixed batch of {len(batch)} prompts ({settings['ppo_epochs']} epochs, mini-batch "
          f"{settings['mini_batch_size']}, {settings['min_new_tokens']}-{settings['max_new_tokens']} new tokens), "
          f"device {config.device()}:")
    print(f"  median {statistics.median(times):.2f} s/step over {steps} steps (min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()
