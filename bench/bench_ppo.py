"""Time per PPO step on a fixed batch (notebook 05's settings for the active profile), side by side with
the old trl PPOTrainer the course's Lab 3 used, when a separate environment for it is available.

One step = sample responses, score them with the reward model, reference log-probs with the adapter
off, GAE, and the clipped policy/value updates. Prints the median over a few steps: the number a
learner budgets a PPO run with.

    LABKIT_PROFILE=tiny python bench/bench_ppo.py

The comparison needs trl 0.11 (the last release with PPOTrainer and value-head models), which needs
transformers 4.x, so it lives in its own virtual environment:

    python3.11 -m venv /tmp/legacy-trl
    /tmp/legacy-trl/bin/pip install -c .ci/constraints.txt torch
    /tmp/legacy-trl/bin/pip install trl==0.11.4 transformers==4.46.3 peft==0.13.2 "accelerate==1.1.1" \
        "numpy<2" "datasets<3" "pyarrow<18" rich
    LABKIT_LEGACY_TRL_PYTHON=/tmp/legacy-trl/bin/python python bench/bench_ppo.py

Both trainers load the same saved weights, the same 'batch_size' prompts and the same settings.
"""

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABKIT_PROFILE", "tiny")

from labkit import config, finetune, prompts, rlhf  # noqa: E402
from labkit.data import load_dialogsum  # noqa: E402
from labkit.models import load_reward_model, load_summarizer, role_source  # noqa: E402

HERE = Path(__file__).resolve().parent


def labkit_step_times(policy_dir, batch, settings, steps):
    model, tokenizer = load_summarizer(policy_dir)
    reward = rlhf.RewardModel(*load_reward_model())
    policy = finetune.add_lora(model, finetune.lora_config(**config.setting("ppo_lora_config")))
    trainer = rlhf.PPOTrainer(policy, tokenizer, reward, rlhf.PPOConfig(**settings))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.step(batch)
        times.append(time.perf_counter() - start)
    return times


def legacy_trl_step(python, policy_dir, batch, settings, steps):
    """Median s/step of trl 0.11's PPOTrainer, run by ``python`` in its own environment (or None)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(batch, f)
    payload = json.dumps([settings, config.setting("ppo_lora_config")])
    done = subprocess.run([python, str(HERE / "legacy_trl_ppo.py"), str(policy_dir), str(role_source("reward_model")),
                           payload, f.name], capture_output=True, text=True)
    os.unlink(f.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        print(f"  legacy trl run failed (exit {done.returncode}):\n{done.stderr[-1500:]}")
        return None
    return json.loads(lines[-1])


def main(steps: int = 4) -> None:
    config.get_profile()
    policy_dir = finetune.instruct_summarizer()
    settings = config.setting("ppo")
    batch = [prompts.zero_shot(d) for d in load_dialogsum()["train"]["dialogue"][:settings["batch_size"]]]
    times = labkit_step_times(policy_dir, batch, settings, steps)
    ours = statistics.median(times)
    print(f"PPO step on a fixed batch of {len(batch)} prompts ({settings['ppo_epochs']} epochs, mini-batch "
          f"{settings['mini_batch_size']}, {settings['min_new_tokens']}-{settings['max_new_tokens']} new tokens), "
          f"device {config.device()}:")
    print(f"  labkit.rlhf.PPOTrainer   median {ours:.2f} s/step over {steps} steps "
          f"(min {min(times):.2f}, max {max(times):.2f})")
    python = os.environ.get("LABKIT_LEGACY_TRL_PYTHON")
    if not python:
        print("  trl 0.11 PPOTrainer      not measured: set LABKIT_LEGACY_TRL_PYTHON (see this file's docstring)")
        return
    legacy = legacy_trl_step(python, policy_dir, batch, settings, steps)
    if legacy:
        print(f"  trl {legacy['versions']['trl']} PPOTrainer   median {legacy['median_s']:.2f} s/step over {legacy['steps']} "
              f"steps (transformers {legacy['versions']['transformers']})")
        print(f"  ratio labkit / trl 0.11: {ours / legacy['median_s']:.2f}x the time per step")


if __name__ == "__main__":
    main()
