"""The same PPO step with the pre-removal trl PPOTrainer (trl 0.11.x) that the course's Lab 3 used.

Runs in a *separate* environment (trl 0.11 needs transformers 4.x); `bench_ppo.py` calls it through
``LABKIT_LEGACY_TRL_PYTHON`` and prints the two step times side by side. It loads the policy and the
reward classifier that bench_ppo.py saved to disk, so both trainers see the same weights, prompts,
settings and response lengths (one per step, the lengths labkit's trainer drew). Prints one JSON line:
{"wall_s": [...], "cpu_s": [...], "versions": {...}}; the first (warm-up) step is not in the lists.

    python bench/legacy_trl_ppo.py POLICY_DIR REWARD_DIR SETTINGS_JSON PROMPTS_JSON
"""

import json
import sys
import time
from pathlib import Path

import torch
import transformers
import trl
from peft import LoraConfig, TaskType
from transformers import AutoModelForSequenceClassification, BertTokenizerFast, PreTrainedTokenizerFast
from trl import AutoModelForSeq2SeqLMWithValueHead, PPOConfig, PPOTrainer


def main(policy_dir: str, reward_dir: str, settings_json: str, prompts_json: str) -> None:
    settings, lora, lengths = json.loads(settings_json)
    batch = json.loads(Path(prompts_json).read_text(encoding="utf-8"))
    torch.manual_seed(0)
    # labkit saves tokenizers with transformers 5; transformers 4.x reads the same tokenizer.json files
    tok = PreTrainedTokenizerFast(tokenizer_file=str(Path(policy_dir) / "tokenizer.json"),
                                  eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    reward_tok = BertTokenizerFast(tokenizer_file=str(Path(reward_dir) / "tokenizer.json"))
    reward_model = AutoModelForSequenceClassification.from_pretrained(reward_dir).eval()
    peft_config = LoraConfig(r=lora["r"], lora_alpha=lora["lora_alpha"], target_modules=lora["target_modules"],
                             task_type=TaskType.SEQ_2_SEQ_LM)
    model = AutoModelForSeq2SeqLMWithValueHead.from_pretrained(policy_dir, peft_config=peft_config, is_trainable=True)
    config = PPOConfig(learning_rate=settings["learning_rate"], batch_size=settings["batch_size"],
                       mini_batch_size=settings["mini_batch_size"], ppo_epochs=settings["ppo_epochs"],
                       init_kl_coef=settings["init_kl_coef"], adap_kl_ctrl=False)
    trainer = PPOTrainer(config=config, model=model, ref_model=None, tokenizer=tok)
    queries = [tok(p, return_tensors="pt", truncation=True, max_length=512).input_ids[0] for p in batch]
    wall, cpu = [], []
    for length in lengths:
        generation = {"do_sample": True, "top_k": settings["top_k"], "top_p": settings["top_p"],
                      "min_new_tokens": min(settings["min_new_tokens"], length), "max_new_tokens": length}
        start, start_cpu = time.perf_counter(), time.process_time()
        responses = trainer.generate(queries, batch_size=len(queries), return_prompt=False, **generation)
        texts = tok.batch_decode(responses, skip_special_tokens=True)
        with torch.no_grad():
            enc = reward_tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
            scores = reward_model(**enc).logits[:, 0]
        trainer.step(queries, list(responses), list(scores))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(json.dumps({"wall_s": wall[1:], "cpu_s": cpu[1:],
                      "versions": {"trl": trl.__version__, "transformers": transformers.__version__}}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
