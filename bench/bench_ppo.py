"""Time per PPO step, labkit's PPOTrainer side by side with trl 0.11's PPOTrainer (the one the course's Lab 3
used), on the same weights, prompts, settings and response lengths.

One step = sample responses, score them with the reward model, old and reference log-probs, GAE, and the
clipped policy/value updates. Two shapes:

* ``tiny`` - notebook 05's tiny profile: the 1.6 M-parameter instruct summarizer, 32 prompts, 2 epochs of
  mini-batches of 8, 8-32 new tokens;
* ``course`` - a t5-small-sized model (60 M parameters, random weights, seeded) with the course's PPO
  settings: 16 prompts, 1 epoch of mini-batches of 4, 100-400 new tokens, LoRA r=32 on q and v. Its
  tokenizer is the tiny one padded to T5's 32,128 ids, so every sampled id decodes to some text.

Both shapes use the tiny detox classifier as the reward model and the project's dialogues as prompts.
Each side runs in rounds, alternating (labkit, trl, labkit, trl, ...), each round a fresh trainer with one
warm-up step that is not timed; the figure is the ratio of median times per step, in CPU seconds (one
thread each, which a shared machine inflates less) and in wall seconds.

    LABKIT_PROFILE=tiny python bench/bench_ppo.py [tiny|course|both]

The course shape takes a few minutes per side on 2 CPU cores (one timed step is ~40 CPU seconds).

The comparison needs trl 0.11 (the last release with PPOTrainer and value-head models), which needs
transformers 4.x, so it lives in its own virtual environment (outside the repository):

    python3.11 -m venv /work/legacy-trl-venv
    /work/legacy-trl-venv/bin/pip install torch==2.13.0     # the pinned CPU wheel, never an unpinned torch
    /work/legacy-trl-venv/bin/pip install trl==0.11.4 transformers==4.46.3 peft==0.13.2 "accelerate==1.1.1" \
        "numpy<2" "datasets<3" "pyarrow<18" rich
    LABKIT_LEGACY_TRL_PYTHON=/work/legacy-trl-venv/bin/python python bench/bench_ppo.py

Without that variable only labkit's times are printed.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABKIT_PROFILE", "tiny")

import torch  # noqa: E402

from labkit import config, finetune, prompts, rlhf  # noqa: E402
from labkit.data import load_dialogsum  # noqa: E402
from labkit.models import load_reward_model, load_summarizer, role_source  # noqa: E402

HERE = Path(__file__).resolve().parent
T5_VOCAB = 32128


def course_shaped_policy(folder: Path) -> Path:
    """A t5-small-sized T5 (transformers' T5Config defaults) with seeded random weights, saved to ``folder``."""
    from transformers import T5Config, T5ForConditionalGeneration

    _, tokenizer = load_summarizer(finetune.instruct_summarizer())
    tokenizer.add_tokens([f"<w{i}>" for i in range(len(tokenizer), T5_VOCAB)])
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=T5_VOCAB, decoder_start_token_id=0, pad_token_id=0,
                                                eos_token_id=1))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def labkit_steps(policy_dir, batch, settings, lora, steps):
    """(wall seconds, CPU seconds, response length drawn) of each timed step; one warm-up step first."""
    model, tokenizer = load_summarizer(policy_dir)
    reward = rlhf.RewardModel(*load_reward_model())
    policy = finetune.add_lora(model, finetune.lora_config(**lora))
    trainer = rlhf.PPOTrainer(policy, tokenizer, reward, rlhf.PPOConfig(**settings))
    rows = []
    for _ in range(steps + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        trainer.step(batch)
        rows.append((time.perf_counter() - start, time.process_time() - start_cpu,
                     trainer.last_rollout["max_new_tokens"]))
    return rows[1:], rows[0][2]


def legacy_trl_steps(python, policy_dir, batch, settings, lora, lengths):
    """trl 0.11's step times for the same response lengths, run by ``python`` in its own environment (or None)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(batch, f)
    payload = json.dumps([settings, lora, lengths])
    done = subprocess.run([python, str(HERE / "legacy_trl_ppo.py"), str(policy_dir), str(role_source("reward_model")),
                           payload, f.name], capture_output=True, text=True)
    os.unlink(f.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        print(f"  legacy trl run failed (exit {done.returncode}):\n{done.stderr[-1500:]}")
        return None
    return json.loads(lines[-1])


def compare(name, policy_dir, settings, lora, steps, rounds):
    batch = [prompts.zero_shot(d) for d in load_dialogsum()["train"]["dialogue"][:settings["batch_size"]]]
    python = os.environ.get("LABKIT_LEGACY_TRL_PYTHON")
    ours, theirs, versions = [], [], None
    for _ in range(rounds):
        rows, warmup_length = labkit_steps(policy_dir, batch, settings, lora, steps)
        ours += rows
        if python:
            legacy = legacy_trl_steps(python, policy_dir, batch, settings, lora, [warmup_length] + [r[2] for r in rows])
            if legacy is None:
                python = None
                continue
            theirs += list(zip(legacy["wall_s"], legacy["cpu_s"], strict=True))
            versions = legacy["versions"]
    print(f"{name}: PPO step on a fixed batch of {len(batch)} prompts ({settings['ppo_epochs']} epoch(s), mini-batch "
          f"{settings['mini_batch_size']}, {settings['min_new_tokens']}-{settings['max_new_tokens']} new tokens, "
          f"LoRA r={lora['r']} on {'/'.join(lora['target_modules'])}), device {config.device()}, "
          f"{len(ours)} timed steps per side:")
    wall, cpu = statistics.median(r[0] for r in ours), statistics.median(r[1] for r in ours)
    print(f"  labkit.rlhf.PPOTrainer      median {cpu:6.2f} CPU s/step, {wall:6.2f} wall s/step")
    if not theirs:
        print("  trl 0.11 PPOTrainer         not measured: set LABKIT_LEGACY_TRL_PYTHON (see this file's docstring)")
        return
    legacy_wall, legacy_cpu = statistics.median(r[0] for r in theirs), statistics.median(r[1] for r in theirs)
    print(f"  trl {versions['trl']} PPOTrainer      median {legacy_cpu:6.2f} CPU s/step, "
          f"{legacy_wall:6.2f} wall s/step (transformers {versions['transformers']})")
    print(f"  ratio labkit / trl 0.11: {cpu / legacy_cpu:.2f}x the CPU time per step, "
          f"{wall / legacy_wall:.2f}x the wall time")


def main(which: str = "both") -> None:
    config.get_profile()
    if which in ("tiny", "both"):
        compare("tiny", finetune.instruct_summarizer(), config.SETTINGS["tiny"]["ppo"],
                config.SETTINGS["tiny"]["ppo_lora_config"], steps=3, rounds=2)
    if which in ("course", "both"):
        with tempfile.TemporaryDirectory() as folder:
            compare("course shape (t5-small size, random weights)", course_shaped_policy(Path(folder)),
                    config.SETTINGS["course"]["ppo"], config.SETTINGS["course"]["ppo_lora_config"], steps=2, rounds=1)


if __name__ == "__main__":
    # run_all.py passes its own arguments (benchmark names) through: only these three choose a shape
    main(next((arg for arg in sys.argv[1:] if arg in ("tiny", "course", "both")), "both"))
