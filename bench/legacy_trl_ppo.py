"""The same PPO step with the pre-removal trl PPOTrainer (trl 0.11.x) that the course's Lab 3 used.

Runs in a *separate* environment (trl 0.11 needs transformers 4.x); `bench_ppo.py` calls it through
``LABKIT_LEGACY_TRL_PYTHON`` and prints the two step times side by side. It loads labkit's saved tiny
instruct summarizer and detox classifier from disk, so both trainers see the same weights, prompts and
settings. Prints one JSON line: {"median_s": ..., "steps": ..., "versions": {...}}.

    python bench/legacy_trl_ppo.py POLICY_DIR REWARD_DIR SETTINGS_JSON PROMPTS_JSON
"""

import json
import statistics
import sys
import time
from pathlib import Path

import torch
import transformers
import trl
from peft import LoraConfig, TaskType
from transformers import AutoModelForSequenceClassification, BertTokenizerFast, PreTrainedTokenizerFast
from trl import AutoModelForSeq2SeqLMWithValueHead, PPOConfig, PPOTrainer


def main(policy_dir: str, reward_dir: str, settings_json: str, prompts_json: str, steps: int = 4) -> None:
    settings, lora = json.loads(settings_json)
    batch = json.loads(Path(prompts_json).read_text())
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
    queries = [tok(p, return_tensors="pt", truncation=True).input_ids[0] for p in batch]
    generation = {"do_sample": True, "top_k": settings["top_k"], "top_p": settings["top_p"],
                  "min_new_tokens": settings["min_new_tokens"], "max_new_tokens": settings["max_new_tokens"]}
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        responses = trainer.generate(queries, batch_size=len(queries), return_prompt=False, **generation)
        texts = tok.batch_decode(responses, skip_special_tokens=True)
        with torch.no_grad():
            enc = reward_tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
            scores = reward_model(**enc).logits[:, 0]
        trainer.step(queries, list(responses), list(scores))
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_s": statistics.median(times), "steps": steps,
                      "versions": {"trl": trl.__version__, "transformers": transformers.__version__}}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
