"""Notebook 08's comparison as ratios to the fp32 teacher, measured side by side in one run.

Teacher: all-MiniLM-L6-v2 + a linear topic head (trained on 800 project dialogues, tested on 200).
Variants: fp16, bf16, dynamic int8, 50% magnitude-pruned. Ratios below 1 are savings.

    python bench/bench_optimization.py
"""

import os

os.environ.setdefault("LABKIT_PROFILE", "tiny")

import torch  # noqa: E402

from labkit import optimization  # noqa: E402
from labkit.data import load_dialogsum  # noqa: E402
from labkit.models import load_embedder  # noqa: E402


def main() -> None:
    dialogues = load_dialogsum()["train"]
    topics = sorted(set(dialogues["topic"]))
    label_of = {t: i for i, t in enumerate(topics)}
    train, test = dialogues.select(range(800)), dialogues.select(range(800, 1000))
    teacher = optimization.TopicClassifier(load_embedder(), n_labels=len(topics))
    optimization.train_head(teacher, teacher.embed(list(train["dialogue"])),
                        torch.tensor([label_of[t] for t in train["topic"]]))
    variants = {"fp32": teacher, "fp16": optimization.cast(teacher, torch.float16),
                "bf16": optimization.cast(teacher, torch.bfloat16),
                "int8 dynamic": optimization.quantize_dynamic_int8(teacher),
                "pruned 50%": optimization.magnitude_prune(teacher, 0.5)}
    table = optimization.measure(variants, list(test["dialogue"]), torch.tensor([label_of[t] for t in test["topic"]]))
    print(f"threads: {torch.get_num_threads()}; latency: the median batch of 32 dialogues in the accuracy pass\n")
    print(table.round(3).to_string())
    print("\nratios to fp32:")
    print(optimization.as_ratios(table, "fp32").round(3).to_string())


if __name__ == "__main__":
    main()
