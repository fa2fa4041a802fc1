"""Do notebook 06's effects keep their sign across seeds? DPO and Constitutional AI rerun with three seeds.

For each seed, the notebook's tiny-profile pipeline with that seed everywhere a seed enters:

* **DPO** (section 4-5): the training pairs drawn from the rankings and their order, trl's seed (LoRA's initial
  weights, the batches); measured on the same held-out pairs as the notebook - the *behaviour* (paired change of
  preference accuracy) and the *mechanism* (paired change of the log-prob margin chosen - rejected);
* **Constitutional AI** (section 7): which training red-team prompts go through critique -> revision (greedy
  decoding, so the seed acts through the prompts drawn), the order-debiased judge's labels, and trl's seed; measured
  as the judge's position bias, its agreement with the detox model, the *behaviour* (paired change of the detox score
  on the held-out red-team prompts) and the *mechanism* (in-sample change of the log-prob margin on its own pairs).

Each line prints the mean and its paired bootstrap 95% CI; the last table says, per effect, in how many seeds the
interval lay wholly above 0, wholly below, or across it. Not a timing benchmark and not part of the test suite:

    LABKIT_PROFILE=tiny python bench/bench_seeds_preference.py [--seeds 0 1 2]

About 5 CPU minutes per seed on one core (SmolLM2-135M, 4 DPO steps twice, 12 red-team prompts through three
generation stages); wall time grows with the machine's load.
"""

import argparse
import os
import random
import tempfile
import time

os.environ.setdefault("LABKIT_PROFILE", "tiny")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from transformers import GenerationConfig  # noqa: E402

from labkit import config, preference, rlhf  # noqa: E402
from labkit.generation import chat_prompt  # noqa: E402
from labkit.metrics import bootstrap_ci  # noqa: E402
from labkit.models import load_llm, load_reward_model  # noqa: E402


def paired(values) -> dict:
    mean, low, high = bootstrap_ci(np.asarray(values, dtype=float))
    return {"mean": mean, "ci_low": low, "ci_high": high}


def dpo_effects(seed: int) -> dict:
    """Notebook 06's DPO run with ``seed``: held-out preference accuracy and log-prob margin, paired changes."""
    config.set_seed(seed)
    rankings = rlhf.load_rankings()
    train = preference.dpo_dataset([r for r in rankings if r["split"] == "train"],
                                   max_pairs_per_row=config.size("dpo_pairs_per_row"), seed=seed).shuffle(seed=seed)
    test = preference.dpo_dataset([r for r in rankings if r["split"] == "test"],
                                  max_pairs_per_row=config.size("dpo_eval_pairs_per_row"), seed=0)  # fixed yardstick
    model, tokenizer = load_llm()
    before = preference.sequence_logps(model, tokenizer, test)
    settings = {**config.setting("dpo"), "seed": seed}
    trainer = preference.train_dpo(model, tokenizer, train, tempfile.mkdtemp(prefix="labkit-bench-dpo-"),
                                   lora=preference.llm_lora_config(**config.setting("dpo_lora_config")), **settings)
    after = preference.sequence_logps(trainer.model, tokenizer, test)
    accuracy = (after[0] > after[1]).numpy().astype(float) - (before[0] > before[1]).numpy().astype(float)
    margin = ((after[0] - after[1]) - (before[0] - before[1])).numpy()
    return {"DPO behaviour: held-out preference accuracy change": paired(accuracy),
            "DPO mechanism: held-out log-prob margin change": paired(margin)}


def cai_effects(seed: int, reward) -> dict:
    """Notebook 06's Constitutional AI run with ``seed``: the debiased judge, then DPO on its labels."""
    config.set_seed(seed)
    red_train = preference.load_red_team("train")
    red_train = random.Random(seed).sample(red_train, min(config.size("cai_prompts"), len(red_train)))
    red_test = preference.load_red_team("test")
    constitution = preference.load_constitution()
    model, tokenizer = load_llm()
    generation = GenerationConfig(**config.setting("cai_generation"))
    records, _ = preference.critique_and_revise(model, tokenizer, red_train, constitution, generation)
    judged = preference.judge_both_orders(model, tokenizer, records, constitution)
    labelled = [r for r in records if r.get("preferred")]
    detox_prefers_revision = [bool(np.diff(reward([r["response"], r["revision"]]).numpy())[0] > 0) for r in labelled]
    agree = [float((r["preferred"] == "revision") == d) for r, d in zip(labelled, detox_prefers_revision, strict=True)]
    pairs = preference.cai_pairs(records, prefer="ai")
    test_prompts = [chat_prompt(tokenizer, r["prompt"]) for r in red_test]
    tox_before = rlhf.evaluate_toxicity(model, tokenizer, test_prompts, reward, n=len(test_prompts),
                                        generation_config=generation, seed=0, batch_size=16)
    logps_before = preference.sequence_logps(model, tokenizer, pairs)
    trainer = preference.train_dpo(model, tokenizer, pairs, tempfile.mkdtemp(prefix="labkit-bench-cai-"),
                                   lora=preference.llm_lora_config(**config.setting("dpo_lora_config")),
                                   **{**config.setting("cai_dpo"), "seed": seed})
    tox_after = rlhf.evaluate_toxicity(trainer.model, tokenizer, test_prompts, reward, n=len(test_prompts),
                                       generation_config=generation, seed=0, batch_size=16)
    logps_after = preference.sequence_logps(trainer.model, tokenizer, pairs)
    one_order = np.concatenate([judged["A log-odds, response shown first"], judged["A log-odds, revision shown first"]])
    return {"judge: position bias, one order (log-odds of A)": paired(one_order),
            "judge: agreement with the detox model (chance 0.5)": {**paired(agree), "null": 0.5},
            "CAI behaviour: held-out detox score change": paired(np.asarray(tox_after["scores"])
                                                                 - np.asarray(tox_before["scores"])),
            "CAI mechanism: in-sample log-prob margin change": paired(
                ((logps_after[0] - logps_after[1]) - (logps_before[0] - logps_before[1])).numpy())}


def side(row) -> str:
    null = row.get("null")
    null = 0.0 if pd.isna(null) else null  # rows without a stated null compare with 0
    if row["ci_low"] > null:
        return "above"
    if row["ci_high"] < null:
        return "below"
    return "across"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    reward_model, reward_tokenizer = load_reward_model()
    reward = rlhf.RewardModel(reward_model, reward_tokenizer)
    rows = []
    for seed in args.seeds:
        start = time.process_time()
        for effect, result in {**dpo_effects(seed), **cai_effects(seed, reward)}.items():
            rows.append({"seed": seed, "effect": effect, **result})
            print(f"seed {seed}  {effect}: {result['mean']:+.3f} [{result['ci_low']:+.3f}, {result['ci_high']:+.3f}]",
                  flush=True)
        print(f"seed {seed}: {time.process_time() - start:.0f} CPU s", flush=True)
    table = pd.DataFrame(rows)
    table["95% CI vs null"] = table.apply(side, axis=1)
    print("\nper seed (paired bootstrap 95% CI; null 0 unless stated):")
    print(table.drop(columns="null", errors="ignore").round(3).to_string(index=False))
    print("\nsign across seeds (how many seeds put the whole interval above / below the null, or across it):")
    summary = table.groupby("effect", sort=False)["95% CI vs null"].value_counts().unstack(fill_value=0)
    print(summary.reindex(columns=["above", "across", "below"], fill_value=0).to_string())


if __name__ == "__main__":
    main()
