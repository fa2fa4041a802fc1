"""Does notebook 05's claim hold on other seeds? PPO with the KL penalty makes the summaries less toxic, beyond noise.

Notebook 05 runs PPO once (the tiny profile's settings: the instruct summarizer with LoRA, the tiny detox classifier
as the reward model, adaptive KL control) and reports the paired change of the mean reward on 64 held-out dialogues
x 8 sampled summaries, with a bootstrap 95% CI. Here the same run and the same measurement are repeated with three
seeds (the seed drives sampling during PPO and during the measurement), and the KL to the reference is reported
beside it: the penalty should keep it bounded (the run without the penalty in the notebook drifts several times
further). This used to be a test in the suite (`test_tiny_ppo_lowers_toxicity_beyond_sampling_noise`, ~105 s);
it moved here because the notebook itself runs the same PPO in every `make test` and prints the verdict, and the
suite's time goal had no room for running it twice. Not a timing benchmark:

    LABKIT_PROFILE=tiny python bench/bench_seeds_ppo.py [--seeds 0 1 2]

About 2 CPU minutes per seed on one core.
"""

import argparse
import os

os.environ.setdefault("LABKIT_PROFILE", "tiny")

import pandas as pd  # noqa: E402
from transformers import GenerationConfig  # noqa: E402

from labkit import config, finetune, prompts, rlhf  # noqa: E402
from labkit.data import load_dialogsum  # noqa: E402
from labkit.models import load_reward_model, load_summarizer  # noqa: E402


def one_seed(seed: int) -> dict:
    config.set_seed(seed)
    reward = rlhf.RewardModel(*load_reward_model())
    model, tokenizer = load_summarizer(finetune.instruct_summarizer())
    dataset = load_dialogsum()
    n, samples = config.size("n_toxicity"), config.size("toxicity_samples")
    held_out = [prompts.zero_shot(d) for d in dataset["test"]["dialogue"][:n]]
    sampling = GenerationConfig(**config.setting("toxicity_generation"))
    before = rlhf.evaluate_toxicity(model, tokenizer, held_out, reward, n=n, generation_config=sampling, seed=seed,
                                    samples_per_prompt=samples, batch_size=64)
    settings = config.setting("ppo")
    policy = finetune.add_lora(model, finetune.lora_config(**config.setting("ppo_lora_config")))
    trainer = rlhf.PPOTrainer(policy, tokenizer, reward, rlhf.PPOConfig(**{**settings, "seed": seed}))
    train = [prompts.zero_shot(d) for d in dataset["train"]["dialogue"]]
    for batch in rlhf.prompt_batches(train, settings["batch_size"], config.size("ppo_steps")):
        trainer.step(batch)
    after = rlhf.evaluate_toxicity(policy, tokenizer, held_out, reward, n=n, generation_config=sampling, seed=seed,
                                   samples_per_prompt=samples, batch_size=64)
    change = rlhf.compare_rewards(before, after)
    return {"seed": seed, "reward before": before["mean"], "reward after": after["mean"],
            "change": change["mean change"], "CI low": change["ci_low"], "CI high": change["ci_high"],
            "max KL (nats)": max(h["kl"] for h in trainer.history)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        rows.append(one_seed(seed))
        r = rows[-1]
        print(f"seed {seed}: reward {r['reward before']:.3f} -> {r['reward after']:.3f}, change {r['change']:+.3f} "
              f"(95% CI {r['CI low']:+.3f} to {r['CI high']:+.3f}), max KL {r['max KL (nats)']:.1f}", flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.round(3).to_string(index=False))
    print(f"\nseeds whose interval lies wholly above 0: {(table['CI low'] > 0).sum()} of {len(table)}")


if __name__ == "__main__":
    main()
